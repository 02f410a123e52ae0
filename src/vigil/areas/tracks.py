"""The tracks area: follow objects through sources, then list, search, match, count, draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vigil.catalog.events_store import EventStore
from vigil.catalog.tracks_store import TrackRecord, get_track, list_tracks
from vigil.context import Context
from vigil.errors import InvalidInputError
from vigil.runtime.alerts import AlertDispatcher
from vigil.sources.readers import ReconnectPolicy
from vigil.sources.types import SourceKind
from vigil.tracks import TrackBuildReport, build_tracks
from vigil.tracks.live import LiveZoneEvents, LiveZoneReport
from vigil.tracks.plots import background_frame, plot_tracks
from vigil.tracks.search import TrackHit, match_track, search_tracks
from vigil.tracks.zones import ZoneReport, ZoneSet, analyse_tracks, store_zone_events


class Tracks:
    """``workspace.tracks``: one record per tracked object, and what is built on them."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def build(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_seconds: float | None = None,
        restart: bool = False,
        lock_wait_s: float = 0.0,
        on_progress: Callable[[TrackBuildReport], None] | None = None,
    ) -> list[TrackBuildReport]:
        """Track the given sources (all files and folders when None), resuming each."""
        context = self.context
        context.require_writable("track sources")
        targets = (
            [context.catalog.get_source(s) for s in sources]
            if sources
            else [s for s in context.catalog.list_sources() if s.kind != SourceKind.STREAM]
        )
        runtime = context.settings.runtime
        policy = ReconnectPolicy(
            base_delay_s=runtime.reconnect_base_s,
            max_delay_s=runtime.reconnect_max_s,
            first_attempts=1,
        )
        return [
            build_tracks(
                source,
                catalog=context.catalog,
                detector=context.detector,
                embedder=context.embedder,
                settings=context.settings.tracks,
                home=context.home,
                max_seconds=max_seconds,
                restart=restart,
                reconnect_policy=policy,
                lock_wait_s=lock_wait_s,
                on_progress=on_progress,
            )
            for source in targets
        ]

    def watch(
        self,
        source: int | str,
        zone_set: ZoneSet,
        *,
        max_seconds: float | None = None,
        lock_wait_s: float = 0.0,
        on_progress: Callable[[TrackBuildReport], None] | None = None,
    ) -> tuple[TrackBuildReport, LiveZoneReport]:
        """Track a source and raise zone events the moment they happen (live cameras).

        The same tracking pass as ``build`` (tracks are stored as they finish), with
        the zone rules checked on every tracked frame; alerts are delivered while it
        runs, by the runtime's dispatcher.
        """
        context = self.context
        context.require_writable("watch a source's zones")
        found = context.catalog.get_source(source)
        runtime = context.settings.runtime
        store = EventStore(context.catalog.engine)
        dispatcher = AlertDispatcher(store, runtime, context.home)
        watcher = LiveZoneEvents(
            zone_set,
            found,
            store,
            AlertDispatcher.targets(runtime),
            context.home,
            on_stored=dispatcher.wake,
        )
        policy = ReconnectPolicy(
            base_delay_s=runtime.reconnect_base_s, max_delay_s=runtime.reconnect_max_s
        )
        dispatcher.start()
        try:
            report = build_tracks(
                found,
                catalog=context.catalog,
                detector=context.detector,
                embedder=context.embedder,
                settings=context.settings.tracks,
                home=context.home,
                max_seconds=max_seconds,
                reconnect_policy=policy,
                lock_wait_s=lock_wait_s,
                on_progress=on_progress,
                watcher=watcher,
            )
        finally:
            dispatcher.stop(drain_s=2.0)  # as `vigil run` does on stop
        return report, watcher.report

    def of(
        self, source: int | str, *, label: str | None = None, limit: int | None = None
    ) -> list[TrackRecord]:
        """Tracks of one source in time order, optionally of one class."""
        found = self.context.catalog.get_source(source)
        return list_tracks(self.context.catalog, source_ids=[found.id], label=label, limit=limit)

    def get(self, track_id: int) -> TrackRecord:
        return get_track(self.context.catalog, track_id)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        sources: Sequence[int | str] | None = None,
        label: str | None = None,
    ) -> list[TrackHit]:
        catalog = self.context.catalog
        ids = [catalog.get_source(s).id for s in sources] if sources else None
        return search_tracks(
            query,
            catalog=catalog,
            embedder=self.context.embedder,
            limit=limit,
            source_ids=ids,
            label=label,
        )

    def match(
        self, track_id: int, *, limit: int = 10, other_sources: bool = True
    ) -> list[TrackHit]:
        return match_track(
            track_id,
            catalog=self.context.catalog,
            model_id=self.context.embedder.model_id,
            limit=limit,
            other_sources=other_sources,
        )

    def zones(self, source: int | str, zone_set: ZoneSet) -> ZoneReport:
        """Counts and events of a source's tracks; events stored, their alerts delivered."""
        context = self.context
        context.require_writable("store zone events")
        found = context.catalog.get_source(source)
        tracks = list_tracks(context.catalog, source_ids=[found.id])
        if not tracks:
            raise InvalidInputError(f"no tracks on {found.name} ('vigil tracks build' first)")
        report = analyse_tracks(tracks, zone_set)
        store = EventStore(context.catalog.engine)
        store_zone_events(report, found, store, AlertDispatcher.targets(context.settings.runtime))
        dispatcher = AlertDispatcher(store, context.settings.runtime, context.home)
        try:
            while dispatcher.run_once():
                pass
        finally:
            dispatcher.stop(drain_s=0.0)
        return report

    def plot(self, source: int | str, path: Path, *, zones: ZoneSet | None = None) -> Path:
        """Heatmap, trajectories and counts over time of a source's tracks, as a PNG."""
        found = self.context.catalog.get_source(source)
        tracks = list_tracks(self.context.catalog, source_ids=[found.id])
        background = background_frame(found, self.context.home)
        return plot_tracks(tracks, path, background=background, title=found.name, zones=zones)

"""The tracks area: follow objects through sources, then list, search, match, count, draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from vigil.catalog.events_store import EventStore
from vigil.catalog.site_store import (
    SitePlan,
    delete_zone_set,
    get_site_plan,
    get_zone_set,
    list_site_plans,
    place_source,
    remove_placement,
    save_site_plan,
    save_zone_set,
)
from vigil.catalog.tracks_store import TrackRecord, get_track, list_tracks
from vigil.context import Context
from vigil.errors import InvalidInputError, NotFoundError
from vigil.runtime.alerts import AlertDispatcher
from vigil.sources.readers import ReconnectPolicy
from vigil.sources.types import Source, SourceKind
from vigil.tracks import TrackBuildReport, build_tracks
from vigil.tracks.build import FrameWatcher
from vigil.tracks.live import LiveZoneEvents, LiveZoneReport
from vigil.tracks.plots import background_frame, plot_tracks
from vigil.tracks.search import TrackHit, match_track, search_tracks
from vigil.tracks.site import (
    DEFAULT_MIN_SCORE,
    DEFAULT_WINDOW_S,
    SiteView,
    check_placement,
    check_plan_name,
    draw_site,
    site_view,
    store_plan_image,
)
from vigil.tracks.zones import (
    ZoneReport,
    ZoneSet,
    analyse_tracks,
    check_geometry,
    store_zone_events,
)


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
        return [
            self._track(
                source,
                max_seconds=max_seconds,
                restart=restart,
                lock_wait_s=lock_wait_s,
                on_progress=on_progress,
                first_attempts=1,
            )
            for source in targets
        ]

    def _track(
        self,
        source: Source,
        *,
        max_seconds: float | None,
        lock_wait_s: float,
        on_progress: Callable[[TrackBuildReport], None] | None,
        first_attempts: int | None = None,
        restart: bool = False,
        watcher: FrameWatcher | None = None,
    ) -> TrackBuildReport:
        """One tracking pass with the workspace's models, settings and reconnect policy.

        ``first_attempts`` None keeps the policy's own (a live watch retries a camera
        that is not up yet); 1 fails a batch build fast on a dead source.
        """
        context = self.context
        runtime = context.settings.runtime
        policy = ReconnectPolicy(
            base_delay_s=runtime.reconnect_base_s, max_delay_s=runtime.reconnect_max_s
        )
        if first_attempts is not None:
            policy = replace(policy, first_attempts=first_attempts)
        return build_tracks(
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
            watcher=watcher,
        )

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
        dispatcher.start()
        try:
            report = self._track(
                found,
                max_seconds=max_seconds,
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

    def zones(self, source: int | str, zone_set: ZoneSet | None = None) -> ZoneReport:
        """Counts and events of a source's tracks; events stored, their alerts delivered.

        ``zone_set`` None: the zones stored for the source (drawn in the console).
        """
        context = self.context
        context.require_writable("store zone events")
        found = context.catalog.get_source(source)
        zone_set = zone_set or self.stored_zones(found.id)
        if zone_set is None:
            raise InvalidInputError(
                f"{found.name} has no zones: pass a zone file or draw them in the console"
            )
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
        """Heatmap, trajectories and counts over time of a source's tracks, as a PNG.

        The source's stored zones are drawn when ``zones`` is not given.
        """
        found = self.context.catalog.get_source(source)
        tracks = list_tracks(self.context.catalog, source_ids=[found.id])
        background = background_frame(found, self.context.home)
        zones = zones or self.stored_zones(found.id)
        return plot_tracks(tracks, path, background=background, title=found.name, zones=zones)

    def background(self, source: int | str) -> np.ndarray:
        """A frame of the source to draw zones on (its first, or a stored thumbnail)."""
        found = self.context.catalog.get_source(source)
        last = (
            self.context.catalog.last_indexed_frame(found.id, self.context.embedder.model_id)
            if found.kind == SourceKind.STREAM
            else None
        )
        image = background_frame(found, self.context.home, last.thumbnail_path if last else None)
        if image is None:
            raise NotFoundError(f"no frame of {found.name} to draw on (index it first)")
        return image

    # -- zones drawn on a source, kept in the catalog ----------------------------------

    def save_zones(self, source: int | str, zone_set: ZoneSet) -> ZoneSet:
        """Check the zones against the source's frame size and keep them as its zones."""
        context = self.context
        context.require_writable("store zones")
        found = context.catalog.get_source(source)
        if zone_set.frame_wh is None:
            height, width = self.background(found.id).shape[:2]
            zone_set = zone_set.model_copy(update={"frame_wh": (width, height)})
        assert zone_set.frame_wh is not None
        check_geometry(zone_set, *zone_set.frame_wh)
        save_zone_set(context.catalog, found.id, zone_set.model_dump(mode="json"))
        return zone_set

    def stored_zones(self, source: int | str) -> ZoneSet | None:
        found = self.context.catalog.get_source(source)
        stored = get_zone_set(self.context.catalog, found.id)
        return None if stored is None else ZoneSet.model_validate(stored.spec)

    def delete_zones(self, source: int | str) -> bool:
        self.context.require_writable("delete zones")
        return delete_zone_set(self.context.catalog, self.context.catalog.get_source(source).id)

    # -- the site plan ---------------------------------------------------------------------

    def set_plan(self, name: str, image: bytes | Path) -> SitePlan:
        """Store (or replace) a site's plan image; cameras already placed stay."""
        context = self.context
        context.require_writable("store a site plan")
        check_plan_name(name)
        relpath, width, height = store_plan_image(context.home, name, image)
        return save_site_plan(context.catalog, name, relpath, width, height)

    def plan(self, name: str) -> SitePlan:
        return get_site_plan(self.context.catalog, name)

    def plans(self) -> list[str]:
        return list_site_plans(self.context.catalog)

    def place(
        self, plan: str, source: int | str, x: float, y: float, direction_deg: float = 0.0
    ) -> SitePlan:
        """Put a source's camera on the plan at (x, y) plan pixels, looking along a direction."""
        context = self.context
        context.require_writable("place a camera")
        found_plan = get_site_plan(context.catalog, plan)
        check_placement(found_plan, x, y)
        found = context.catalog.get_source(source)
        place_source(context.catalog, found_plan.id, found.id, x, y, direction_deg)
        return get_site_plan(context.catalog, found_plan.id)

    def unplace(self, plan: str, source: int | str) -> SitePlan:
        context = self.context
        context.require_writable("remove a camera")
        found_plan = get_site_plan(context.catalog, plan)
        found = context.catalog.get_source(source)
        if not remove_placement(context.catalog, found_plan.id, found.id):
            raise NotFoundError(f"{found.name} is not placed on {found_plan.name!r}")
        return get_site_plan(context.catalog, found_plan.id)

    def site(
        self,
        plan: str,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        window_s: float = DEFAULT_WINDOW_S,
    ) -> SiteView:
        """Cameras on the plan with their track counts and the handovers between them."""
        context = self.context
        return site_view(
            context.catalog,
            get_site_plan(context.catalog, plan),
            context.embedder.model_id,
            min_score=min_score,
            window_s=window_s,
        )

    def plot_site(self, view: SiteView, path: Path) -> Path:
        image = draw_site(view, self.context.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise InvalidInputError(f"cannot write {path} (use a .png or .jpg name)")
        return path

"""Events from scores: the tracks of one source, their evidence frames, and what is stored.

The ``Runner`` reads and scores frames; an ``EventRecorder`` turns each scored frame
into track steps (``vigil.runtime.events.step``) and stores what changed: an event
with its pending alerts when it starts, its best frame at each new peak, its frame
strip and end when it ends. Kept apart from the threads so the bookkeeping reads in
one place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from vigil.catalog.events_store import EventStore, NewEvent
from vigil.runtime.events import Change, ChangeKind, EventRule, Phase, Track, finish, step
from vigil.runtime.scorers import Scorer
from vigil.structure.thumbnails import write_thumbnail

STRIP_TILE_HEIGHT = 120  # height of each frame in an event's frame strip
PROGRESS_EVERY_S = 5.0  # an open event's last_seen_at is saved at least this often
OVERLAY_NAME = "heatmap"  # a model's overlay evidence: events/ID/heatmap.jpg


@dataclass
class _Evidence:
    """Frames kept for one track: its best frame and a strip around it."""

    peak_image: np.ndarray | None = None
    strip: list[np.ndarray] = field(default_factory=list)
    peak_overlay: np.ndarray | None = None  # the model's explanation of the peak (a heatmap)


@dataclass
class _OpenEvent:
    event_id: int
    thumbnail: str
    saved_at: float  # frame time of the last progress write
    announced_at: float  # frame time of the last alert (started or updated)
    overlay_saved: bool = False  # the overlay's path is in the event's details


@dataclass
class SourceEvents:
    """The event tracks of one source, by (model index, class index)."""

    source_id: int
    ring: deque[np.ndarray]  # the last few small frames: the start of an evidence strip
    tracks: dict[tuple[int, int], Track] = field(default_factory=dict)
    evidence: dict[tuple[int, int], _Evidence] = field(default_factory=dict)
    open_events: dict[tuple[int, int], _OpenEvent] = field(default_factory=dict)
    media_offset: float = 0.0  # frame time - media time of the latest frame

    def media(self, t: float) -> float:
        """Seconds into the source's media of frame time ``t`` (exact for files)."""
        return round(max(0.0, t - self.media_offset), 3)


@dataclass(frozen=True)
class ModelPolicy:
    """When one model's scores become events: its thresholds and the classes that count.

    One per model slot, so two scenarios run side by side each keep their own
    ``alert_threshold`` and ``alert_classes``.
    """

    rule: EventRule
    classes: frozenset[str] | None = None  # None: every class of the model


DRIFT_CLASS = "drift"  # the class name of drift warning events


class EventRecorder:
    """Steps the tracks of every source and stores their events, evidence and alerts."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        store: EventStore,
        rule: EventRule,
        targets: Sequence[str],
        home: Path,
        *,
        strip_frames: int,
        thumbnail_size: int,
        classes: Sequence[str] | None,
        wake: Callable[[], None],
        policies: Sequence[ModelPolicy] | None = None,
    ) -> None:
        self.scorers = list(scorers)
        self.store = store
        self.rule = rule
        self.targets = list(targets)
        self.home = home
        self.strip_frames = strip_frames
        self.thumbnail_size = thumbnail_size
        default = ModelPolicy(rule, frozenset(classes) if classes else None)
        self.policies = list(policies) if policies is not None else [default] * len(self.scorers)
        if len(self.policies) != len(self.scorers):
            raise ValueError(f"{len(self.policies)} policies for {len(self.scorers)} models")
        self._wake = wake  # tells the alert dispatcher that deliveries are queued

    def new_source(self, source_id: int) -> SourceEvents:
        return SourceEvents(source_id, ring=deque(maxlen=max(1, self.strip_frames // 2 + 1)))

    def finish(self, events: SourceEvents) -> None:
        """The source ended: close every open event at its last frame above threshold."""
        for key, track in list(events.tracks.items()):
            change = finish(track)
            if change is not None:
                self._on_change(events, key, change, None, None, self.scorers)

    def end_model(self, events: SourceEvents, slot: int) -> None:
        """A model slot was swapped: close its open events at their last frame above
        threshold, so each event is raised and ended by one model version."""
        for key, track in list(events.tracks.items()):
            if key[0] != slot:
                continue
            change = finish(track)
            if change is not None:
                self._on_change(events, key, change, None, None, self.scorers)
            events.tracks.pop(key, None)
            events.evidence.pop(key, None)

    def advance(
        self,
        events: SourceEvents,
        t: float,
        image: np.ndarray,
        scores: list[np.ndarray],
        *,
        media_time: float | None = None,
        models: Sequence[Scorer] | None = None,
    ) -> None:
        """Step every (model, class) track by one frame scored at time ``t``; store changes.

        ``media_time`` (seconds into the source's media) lets alerts say where in the
        video an event is, which a wall-clock time cannot for an archive. ``models``
        are the scorers that made ``scores`` (after a hot swap, the new ones): an
        event names the version that raised it.
        """
        active = list(models) if models is not None else self.scorers
        if media_time is not None:
            events.media_offset = t - media_time
        small = _shrink(image, self.thumbnail_size)
        events.ring.append(small)
        for model_index, (scorer, row) in enumerate(zip(active, scores, strict=True)):
            policy = self.policies[model_index]
            for class_index, name in enumerate(scorer.class_names):
                if policy.classes is not None and name not in policy.classes:
                    continue
                key = (model_index, class_index)
                track, change = step(
                    events.tracks.get(key, Track()), t, float(row[class_index]), policy.rule
                )
                events.tracks[key] = track
                self._keep_evidence(events, key, track, t, small, scorer)
                if change is not None:
                    self._on_change(events, key, change, t, row, active)
                elif key in events.open_events and track.last_above == t:
                    opened = events.open_events[key]
                    if t - opened.saved_at >= PROGRESS_EVERY_S:
                        self._save_progress(events, key, track, t)

    def _keep_evidence(
        self,
        events: SourceEvents,
        key: tuple[int, int],
        track: Track,
        t: float,
        small: np.ndarray,
        scorer: Scorer,  # the one that scored this frame (after a hot swap, the new one)
    ) -> None:
        if track.phase is Phase.IDLE:
            events.evidence.pop(key, None)
            return
        evidence = events.evidence.setdefault(key, _Evidence())
        half = max(1, self.strip_frames // 2)
        if track.peak_at == t:
            evidence.peak_image = small
            evidence.peak_overlay = scorer.overlay(small)
            evidence.strip = list(events.ring)[-half:]  # the frames just before, and the peak
        elif len(evidence.strip) < self.strip_frames:
            evidence.strip.append(small)

    def _on_change(
        self,
        events: SourceEvents,
        key: tuple[int, int],
        change: Change,
        t: float | None,
        row: np.ndarray | None,
        models: Sequence[Scorer],
    ) -> None:
        """Store what ``change`` says happened to the event of ``key`` (model, class)."""
        assert change.track.started_at is not None and change.track.peak_at is not None
        if change.kind == ChangeKind.STARTED:
            assert t is not None and row is not None
            self._event_started(events, key, change.track, t, row, models[key[0]])
        elif change.kind == ChangeKind.PEAK and key in events.open_events:
            assert t is not None
            self._event_peaked(events, key, change.track, t)
        elif change.kind == ChangeKind.ENDED and key in events.open_events:
            assert change.ended_at is not None
            self._event_ended(events, key, change.track, change.ended_at)

    def _event_started(
        self,
        events: SourceEvents,
        key: tuple[int, int],
        track: Track,
        t: float,
        row: np.ndarray,
        scorer: Scorer,
    ) -> None:
        """Store the event with its pending alerts, then its best frame so far."""
        assert track.started_at is not None and track.peak_at is not None
        rule = self.policies[key[0]].rule
        details = {
            "trigger_frame_time": _iso(t),
            "media_time_s": {
                "start": events.media(track.started_at),
                "peak": events.media(track.peak_at),
            },
            "thresholds": {
                "on": rule.on_threshold,
                "off": rule.off_threshold,
                "min_duration_s": rule.min_duration_s,
                "quiet_period_s": rule.quiet_period_s,
            },
            "scores": {
                name: round(float(value), 4)
                for name, value in zip(scorer.class_names, row, strict=True)
            },
        }
        record = self.store.open_event(
            NewEvent(
                source_id=events.source_id,
                model_id=scorer.model_id,
                model_version=scorer.model_version,
                registry_model_id=scorer.registry_model_id,
                scenario=scorer.scenario,
                class_name=scorer.class_names[key[1]],
                started_at=_utc(track.started_at),
                last_seen_at=_utc(t),
                peak_score=track.peak_score,
                peak_at=_utc(track.peak_at),
                frames=track.frames,
                details=details,
            ),
            self.targets,
        )
        thumbnail = f"events/{record.id}/best.jpg"
        events.open_events[key] = _OpenEvent(record.id, thumbnail, t, t)
        self._write_best(events, key, thumbnail)
        self._save_progress(events, key, track, t)
        self._wake()

    def _event_peaked(
        self, events: SourceEvents, key: tuple[int, int], track: Track, t: float
    ) -> None:
        """A new best frame: rewrite the evidence and the stored peak; tell consumers
        ('event.updated') at most once per PROGRESS_EVERY_S."""
        opened = events.open_events[key]
        self._write_best(events, key, opened.thumbnail)
        announce = t - opened.announced_at >= PROGRESS_EVERY_S
        self._save_progress(events, key, track, t, announce=announce)
        if announce:
            opened.announced_at = t
            self._wake()

    def _event_ended(
        self, events: SourceEvents, key: tuple[int, int], track: Track, ended_at: float
    ) -> None:
        """Write the evidence strip and best frame, then close the event with its alerts."""
        assert track.peak_at is not None
        opened = events.open_events.pop(key)
        evidence = events.evidence.pop(key, _Evidence())
        strip = None
        if evidence.strip:
            strip = f"events/{opened.event_id}/strip.jpg"
            write_thumbnail(self.home, strip, _strip(evidence.strip), 10_000)
        if evidence.peak_image is not None:
            write_thumbnail(self.home, opened.thumbnail, evidence.peak_image, 10_000)
        self._write_overlay(opened, evidence)
        self.store.close_event(
            opened.event_id,
            ended_at=_utc(ended_at),
            peak_score=track.peak_score,
            peak_at=_utc(track.peak_at),
            frames=track.frames,
            thumbnail_path=opened.thumbnail,
            strip_path=strip,
            targets=self.targets,
            media={"peak": events.media(track.peak_at), "end": events.media(ended_at)},
        )
        events.tracks.pop(key, None)
        self._wake()

    def record_drift(
        self,
        events: SourceEvents,
        t: float,
        image: np.ndarray,
        scorer: Scorer,
        *,
        psi: float,
        bound: float,
        frames: int,
    ) -> int:
        """Store a 'drift' warning event (opened and closed at once) with the frame that
        tipped it; it goes out through the alert outbox like any event. Returns its id."""
        now = _utc(t)
        record = self.store.open_event(
            NewEvent(
                source_id=events.source_id,
                model_id=scorer.model_id,
                model_version=scorer.model_version,
                registry_model_id=scorer.registry_model_id,
                scenario=scorer.scenario,
                class_name=DRIFT_CLASS,
                started_at=now,
                last_seen_at=now,
                peak_score=psi,
                peak_at=now,
                frames=frames,
                details={
                    "drift": {"psi": round(psi, 4), "bound": bound, "frames": frames},
                    "media_time_s": {"start": events.media(t), "peak": events.media(t)},
                },
            ),
            self.targets,
        )
        thumbnail = f"events/{record.id}/best.jpg"
        write_thumbnail(self.home, thumbnail, _shrink(image, self.thumbnail_size), 10_000)
        self.store.close_event(
            record.id,
            ended_at=now,
            peak_score=psi,
            peak_at=now,
            frames=frames,
            thumbnail_path=thumbnail,
            strip_path=None,
            targets=self.targets,
            media={"end": events.media(t)},
        )
        self._wake()
        return record.id

    def _write_best(self, events: SourceEvents, key: tuple[int, int], relpath: str) -> None:
        evidence = events.evidence.get(key)
        if evidence is not None and evidence.peak_image is not None:
            write_thumbnail(self.home, relpath, evidence.peak_image, 10_000)
        self._write_overlay(events.open_events[key], evidence)

    def _write_overlay(self, opened: _OpenEvent, evidence: _Evidence | None) -> None:
        """The peak's overlay (an anomaly heatmap) as ``events/ID/heatmap.jpg``, named in the
        event's details under ``evidence.heatmap`` when first written."""
        if evidence is None or evidence.peak_overlay is None:
            return
        relpath = f"events/{opened.event_id}/{OVERLAY_NAME}.jpg"
        write_thumbnail(self.home, relpath, evidence.peak_overlay, 10_000)
        if not opened.overlay_saved:
            self.store.set_evidence(opened.event_id, OVERLAY_NAME, relpath)
            opened.overlay_saved = True

    def _save_progress(
        self,
        events: SourceEvents,
        key: tuple[int, int],
        track: Track,
        t: float,
        *,
        announce: bool = False,
    ) -> None:
        opened = events.open_events[key]
        assert track.peak_at is not None and track.last_above is not None
        self.store.update_event(
            opened.event_id,
            last_seen_at=_utc(track.last_above),
            peak_score=track.peak_score,
            peak_at=_utc(track.peak_at),
            frames=track.frames,
            thumbnail_path=opened.thumbnail,
            media={
                "peak": events.media(track.peak_at),
                "last_seen": events.media(track.last_above),
            },
            targets=self.targets if announce else (),
        )
        opened.saved_at = t


def _shrink(image: np.ndarray, longest_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = min(1.0, longest_side / max(height, width))
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _strip(images: list[np.ndarray]) -> np.ndarray:
    """Frames side by side at one height, in time order."""
    tiles = []
    for image in images:
        height, width = image.shape[:2]
        size = (max(1, round(width * STRIP_TILE_HEIGHT / height)), STRIP_TILE_HEIGHT)
        tiles.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return np.concatenate(tiles, axis=1)  # (120, sum of widths, 3)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _iso(t: float) -> str:
    return _utc(t).isoformat()


__all__ = ["DRIFT_CLASS", "EventRecorder", "ModelPolicy", "SourceEvents"]

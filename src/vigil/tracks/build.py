"""The tracking pass: follow objects through a source and store one record per track.

Frames are decoded at the tracking rate (several per second, independent of the
frame-embedding interval), detected, and handed to the tracker in time order.
A frame the object pass already ran the same detector on reuses those boxes
instead of running the SSD again. A track is finished when it has been unseen
for ``lost_after_s``; only then are its crops embedded (up to N per track, one
pooled vector) and the record written, together with the resume mark (see
``vigil.catalog.tracks_store``), so a killed run resumes without duplicates.

Cuts the tracker must not bridge end every open track and reset it: a stream
reconnect, media time going backwards or jumping further than ``lost_after_s``,
and a change of frame resolution (boxes of two sizes are not comparable).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil.catalog.objects import ObjectRecord
from vigil.catalog.store import Catalog
from vigil.catalog.tracks_store import (
    NewTrack,
    TrajectoryPoint,
    discard_tracks_from,
    save_tracks,
    scanned_detections,
    track_progress,
)
from vigil.catalog.types import FrameRecord
from vigil.embedders.base import Embedder, l2_normalize
from vigil.embedders.detection import Detection
from vigil.embedders.detector import CocoDetector
from vigil.settings import TrackSettings
from vigil.sources.readers import ReconnectPolicy, open_frames
from vigil.sources.types import Frame, Source, SourceKind
from vigil.structure.locks import source_writer_lock
from vigil.structure.objects import crop_box
from vigil.structure.thumbnails import write_thumbnail
from vigil.tracks.attributes import colour_attributes, downsample, motion
from vigil.tracks.live import Sighting
from vigil.tracks.tracker import Tracker, TrackerConfig, create_tracker, detections_from_coco

TRACK_THUMBNAIL_SIZE = 200
_CROP_MARGIN = 0.05


@dataclass
class TrackBuildReport:
    """What one tracking pass over a source did."""

    source: Source
    resumed_from: float = 0.0  # media time the pass started at
    frames_tracked: int = 0
    frames_detected: int = 0  # frames the SSD ran on
    frames_reused: int = 0  # frames whose boxes came from the object pass
    tracks_stored: int = 0
    tracks_dropped: int = 0  # seen on fewer than min_observations frames
    resets: int = 0  # reconnects, time jumps, resolution changes
    media_seconds: float = 0.0
    seconds: float = 0.0
    finished: bool = False  # the whole source was read
    by_label: dict[str, int] = field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        """Media seconds tracked per wall-clock second (> 1: faster than real time)."""
        return self.media_seconds / self.seconds if self.seconds > 0 else 0.0


class FrameWatcher(Protocol):
    """Sees every tracked frame as it is tracked (live zone rules, for one)."""

    def frame(self, frame: Frame, sightings: list[Sighting]) -> None: ...

    def reset(self) -> None: ...


@dataclass
class _Observation:
    media_time: float
    captured_at: datetime | None
    box: tuple[float, float, float, float]
    score: float
    class_id: int
    label: str


@dataclass
class _OpenTrack:
    serial: int
    frame_wh: tuple[int, int]
    observations: list[_Observation] = field(default_factory=list)
    crops: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, crop)
    best: tuple[float, float, np.ndarray] | None = None  # quality, media time, crop
    last_seen: float = 0.0


class TrackPass:
    """Feeds one source's frames to a tracker and turns finished tracks into ``NewTrack``s.

    Pure of storage and decoding: ``feed`` takes a frame and its detections and
    returns the tracks that just finished; ``finish`` ends the rest. Tests drive it
    directly with real frames.
    """

    def __init__(
        self,
        source: Source,
        settings: TrackSettings,
        detector_id: str,
        home: Path,
        tracker: Tracker | None = None,
        watcher: FrameWatcher | None = None,
    ) -> None:
        self.source = source
        self.watcher = watcher
        self.settings = settings
        self.detector_id = detector_id
        self.home = home
        self.tracker = tracker or create_tracker(
            settings.tracker,
            TrackerConfig(settings.rate_fps, settings.lost_after_s, settings.activation_score),
        )
        self.open: dict[int, _OpenTrack] = {}
        self.resets = 0
        self.dropped = 0
        self._serial = 0
        # Tracks lost before this media time were stored by an earlier run (resume).
        self.stored_until = -1.0
        self._held: list[tuple[NewTrack, list[np.ndarray]]] = []  # ended by a reconnect
        self._last_time: float | None = None
        self._frame_wh: tuple[int, int] | None = None

    def keep(self, found: Detection) -> bool:
        x1, y1, x2, y2 = found.xyxy
        if min(x2 - x1, y2 - y1) < self.settings.min_box_px:
            return False
        if found.score < self.settings.min_score:
            return False
        return not self.settings.classes or found.label in self.settings.classes

    def feed(self, frame: Frame, found: list[Detection]) -> list[tuple[NewTrack, list[np.ndarray]]]:
        """Track one frame; returns finished tracks with the crops to embed for each."""
        height, width = frame.image.shape[:2]
        finished, self._held = self._held, []
        cut = self._last_time is not None and (
            frame.media_time < self._last_time
            or frame.media_time - self._last_time > self.settings.lost_after_s
        )
        if cut or (self._frame_wh is not None and self._frame_wh != (width, height)):
            finished.extend(self.cut())
        self._frame_wh = (width, height)
        self._last_time = frame.media_time
        detections = detections_from_coco([d for d in found if self.keep(d)])
        tracked = self.tracker.update(detections, frame.media_time)
        labels = tracked.data.get("label", np.asarray([], dtype=object))
        sightings: list[Sighting] = []
        for number in range(len(tracked)):
            track_id = int(tracked.tracker_id[number])  # type: ignore[index]
            xyxy = tracked.xyxy[number]
            box = (float(xyxy[0]), float(xyxy[1]), float(xyxy[2]), float(xyxy[3]))
            score = float(tracked.confidence[number]) if tracked.confidence is not None else 1.0
            class_id = int(tracked.class_id[number]) if tracked.class_id is not None else -1
            item = self.open.get(track_id)
            if item is None:
                self._serial += 1
                item = _OpenTrack(self._serial, (width, height))
                self.open[track_id] = item
            item.observations.append(
                _Observation(
                    frame.media_time, frame.captured_at, box, score, class_id, str(labels[number])
                )
            )
            item.last_seen = frame.media_time
            self._keep_crop(item, frame, box, score)
            sightings.append(Sighting(item.serial, str(labels[number]), box))
        if self.watcher is not None:
            self.watcher.frame(frame, sightings)
        for track_id in [
            key
            for key, item in self.open.items()
            if frame.media_time - item.last_seen > self.settings.lost_after_s
        ]:
            result = self._close(self.open.pop(track_id))
            if result is not None:
                finished.append(result)
        return finished

    def cut(self) -> list[tuple[NewTrack, list[np.ndarray]]]:
        """End every open track and reset the tracker (reconnect, time jump, new resolution)."""
        if self._last_time is not None:
            self.resets += 1
        if self.watcher is not None:
            self.watcher.reset()
        finished = self.finish()
        self.tracker.reset()
        self._last_time = None
        return finished

    def reconnected(self) -> None:
        """A stream dropped and is being reopened: end its tracks (returned by the next feed)."""
        self._held.extend(self.cut())

    def finish(self) -> list[tuple[NewTrack, list[np.ndarray]]]:
        """End every open track (end of the source)."""
        finished = [self._close(item) for item in self.open.values()]
        self.open.clear()
        held, self._held = self._held, []
        return held + [item for item in finished if item is not None]

    def resume_point(self, next_time: float) -> float:
        """Media time a resumed run must track again from (``vigil.catalog.tracks_store``)."""
        starts = [item.observations[0].media_time for item in self.open.values()]
        return min([*starts, next_time])

    def _keep_crop(
        self, item: _OpenTrack, frame: Frame, box: tuple[float, float, float, float], score: float
    ) -> None:
        # Quality: big, confident, and not touching the frame edge (a cut-off person).
        height, width = frame.image.shape[:2]
        area = (box[2] - box[0]) * (box[3] - box[1])
        touches = box[0] <= 2 or box[1] <= 2 or box[2] >= width - 2 or box[3] >= height - 2
        quality = area * score * (0.5 if touches else 1.0)
        crop = crop_box(frame.image, box, _CROP_MARGIN)
        if crop.size == 0:
            return
        if item.best is None or quality > item.best[0]:
            item.best = (quality, frame.media_time, crop)
        item.crops.append((quality, crop))
        # Bounded memory: keep every other crop once there are many (spread over time).
        if len(item.crops) > 4 * self.settings.crops_per_track:
            item.crops = item.crops[::2]

    def _close(self, item: _OpenTrack) -> tuple[NewTrack, list[np.ndarray]] | None:
        observations = item.observations
        if item.last_seen + self.settings.lost_after_s < self.stored_until:
            return None  # an earlier run finished this track before its checkpoint
        if len(observations) < self.settings.min_observations or item.best is None:
            self.dropped += 1
            return None
        votes = Counter((o.class_id, o.label) for o in observations)
        (class_id, label), _ = votes.most_common(1)[0]
        points: list[TrajectoryPoint] = [(o.media_time, *o.box) for o in observations]
        speed, direction = motion(points)
        # Crops to embed: the best ones, spread over the track's life.
        ranked = sorted(item.crops, key=lambda pair: -pair[0])[: self.settings.crops_per_track]
        crops = [crop for _, crop in ranked]
        _, best_time, best_crop = item.best
        best_box = next(o.box for o in observations if o.media_time == best_time)
        relpath = (
            f"tracks/{self.source.id}/{round(observations[0].media_time * 1000):012d}"
            f"_{item.serial:05d}.jpg"
        )
        write_thumbnail(self.home, relpath, best_crop, TRACK_THUMBNAIL_SIZE)
        track = NewTrack(
            source_id=self.source.id,
            detector_id=self.detector_id,
            label=label,
            class_id=class_id,
            mean_score=float(np.mean([o.score for o in observations])),
            observations=len(observations),
            first_media_time=observations[0].media_time,
            last_media_time=observations[-1].media_time,
            first_captured_at=observations[0].captured_at,
            last_captured_at=observations[-1].captured_at,
            frame_width=item.frame_wh[0],
            frame_height=item.frame_wh[1],
            trajectory=downsample(points, self.settings.max_points),
            best_media_time=best_time,
            best_box=best_box,
            thumbnail_path=relpath,
            colours=colour_attributes(crops),
            speed_px_s=speed,
            direction_deg=direction,
        )
        return track, crops


def build_tracks(
    source: Source,
    *,
    catalog: Catalog,
    detector: CocoDetector,
    embedder: Embedder | None,
    settings: TrackSettings,
    home: Path,
    max_seconds: float | None = None,
    restart: bool = False,
    reconnect_policy: ReconnectPolicy | None = None,
    lock_wait_s: float = 0.0,
    on_progress: Callable[[TrackBuildReport], None] | None = None,
    watcher: FrameWatcher | None = None,
) -> TrackBuildReport:
    """Track a source from where the last run stopped; store each finished track.

    ``max_seconds`` limits the media time tracked in this run (a later run resumes); on
    a live stream, the seconds watched (a stream never finishes).
    ``restart`` deletes the source's tracks and tracks from the start. ``embedder``
    None stores tracks without vectors (they are then not searchable). A dropped
    stream is reopened under ``reconnect_policy``. One process tracks a source at a
    time: another waits ``lock_wait_s`` seconds, then fails with ``SourceBusyError``.
    """
    # A lock of its own (not indexing's): tracking and indexing a source may overlap.
    with source_writer_lock(home / "tracks", source.id, wait_s=lock_wait_s):
        return _build(
            source,
            catalog=catalog,
            detector=detector,
            embedder=embedder,
            settings=settings,
            home=home,
            max_seconds=max_seconds,
            restart=restart,
            policy=reconnect_policy or ReconnectPolicy(first_attempts=1),
            on_progress=on_progress,
            watcher=watcher,
        )


def _build(
    source: Source,
    *,
    catalog: Catalog,
    detector: CocoDetector,
    embedder: Embedder | None,
    settings: TrackSettings,
    home: Path,
    max_seconds: float | None,
    restart: bool,
    policy: ReconnectPolicy,
    on_progress: Callable[[TrackBuildReport], None] | None,
    watcher: FrameWatcher | None = None,
) -> TrackBuildReport:
    report = TrackBuildReport(source)
    started = time.perf_counter()
    live = source.kind == SourceKind.STREAM
    start = 0.0
    passer = TrackPass(source, settings, detector.detector_id, home, watcher=watcher)
    progress = track_progress(catalog, source.id, detector.detector_id)
    if restart:
        discard_tracks_from(catalog, source.id, detector.detector_id, 0.0)
    elif progress is not None and not live:
        if progress.finished:
            report.finished = True
            report.resumed_from = progress.checkpoint_media_time
            return report
        start = progress.resume_media_time
        passer.stored_until = progress.checkpoint_media_time
    report.resumed_from = start
    reuse = {} if live else scanned_detections(catalog, source.id, detector.detector_id)
    model_id = embedder.model_id if embedder is not None else ""
    settings_json = settings.model_dump(mode="json")
    pending: list[tuple[Frame, list[Detection] | None]] = []
    last_slot = -1
    last_time = start

    def store(
        finished: list[tuple[NewTrack, list[np.ndarray]]], resume: float, until: float, done: bool
    ) -> None:
        tracks = _embed(finished, embedder)
        save_tracks(
            catalog,
            source.id,
            detector.detector_id,
            model_id,
            tracks,
            resume_media_time=resume,
            checkpoint_media_time=max(until, passer.stored_until),
            finished=done,
            settings=settings_json,
        )
        report.tracks_stored += len(tracks)
        for track in tracks:
            report.by_label[track.label] = report.by_label.get(track.label, 0) + 1

    def flush() -> None:
        need = [frame.image for frame, found in pending if found is None]
        detected = iter(detector.detect_batch(need, settings.min_score) if need else [])
        finished: list[tuple[NewTrack, list[np.ndarray]]] = []
        for frame, found in pending:
            boxes = found if found is not None else next(detected)
            finished.extend(passer.feed(frame, boxes))
        report.frames_tracked += len(pending)
        report.frames_detected += len(need)
        report.frames_reused += len(pending) - len(need)
        next_time = pending[-1][0].media_time + 1e-3
        pending.clear()
        if finished or not live:
            store(finished, passer.resume_point(next_time), next_time, False)
        if on_progress is not None:
            on_progress(report)

    # Files stop at a media time; a stream at a wall-clock time (its clock restarts on
    # every reconnect, and a server replaying a file would otherwise never end).
    limit = None if max_seconds is None or live else start + max_seconds
    deadline = None if max_seconds is None or not live else time.monotonic() + max_seconds
    stopped_early = False
    for frame in _frames(source, start, passer, policy, deadline):
        if (limit is not None and frame.media_time >= limit) or (
            deadline is not None and time.monotonic() >= deadline
        ):
            stopped_early = True
            break
        slot = int(np.floor(frame.media_time * settings.rate_fps + 1e-6))
        if slot <= last_slot and frame.media_time >= last_time:
            continue
        last_slot, last_time = slot, frame.media_time
        pending.append((frame, _reused(reuse.get(frame.index), frame)))
        if len(pending) >= settings.batch_size:
            flush()
    if pending:
        flush()
    report.resets = passer.resets
    if stopped_early or live:
        report.finished = False
        # Open tracks are not stored: the resumed run tracks them again from their start.
        store([], passer.resume_point(last_time + 1e-3), last_time + 1e-3, False)
    else:
        store(passer.finish(), last_time + 1e-3, last_time + 1e-3, True)
        report.finished = True
    report.tracks_dropped = passer.dropped
    report.media_seconds = max(0.0, last_time - start)
    report.seconds = time.perf_counter() - started
    return report


def _frames(
    source: Source,
    start: float,
    passer: TrackPass,
    policy: ReconnectPolicy,
    deadline: float | None,
) -> Iterator[Frame]:
    """Decoded frames; a live stream that drops is reopened, its open tracks ended first."""
    if source.kind != SourceKind.STREAM:
        with open_frames(source, start_time=start) as reader:
            yield from reader
        return

    def wait(seconds: float) -> bool:
        if deadline is None:
            time.sleep(seconds)
            return False
        time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))
        return time.monotonic() >= deadline

    with open_frames(source, reconnect_policy=policy, wait=wait) as reader:
        reconnects = 0
        for frame in reader:
            now = getattr(reader, "reconnects", 0)
            if now != reconnects:
                reconnects = now
                passer.reconnected()  # no track crosses a reconnect: the gap hides who came
            yield frame


def _reused(
    stored: tuple[FrameRecord, list[ObjectRecord]] | None, frame: Frame
) -> list[Detection] | None:
    """The object pass's boxes for this frame, in decoded pixels; None when not scanned."""
    if stored is None:
        return None
    record, objects = stored
    height, width = frame.image.shape[:2]
    return [o.scaled(width / record.width, height / record.height) for o in objects]


def _embed(
    finished: list[tuple[NewTrack, list[np.ndarray]]], embedder: Embedder | None
) -> list[NewTrack]:
    """One vector per track: the normalised mean of its crops' vectors, one embedder call."""
    if embedder is None or not finished:
        return [track for track, _ in finished]
    crops = [crop for _, track_crops in finished for crop in track_crops]
    labels = [track.label for track, track_crops in finished for _ in track_crops]
    vectors = embedder.embed_crops(crops, labels) if crops else np.zeros((0, embedder.dim))
    result: list[NewTrack] = []
    position = 0
    for track, track_crops in finished:
        count = len(track_crops)
        pooled = vectors[position : position + count].mean(axis=0, keepdims=True)  # (1, D)
        position += count
        vector = l2_normalize(pooled.astype(np.float32))[0]
        result.append(replace(track, crops=count, vector=vector))
    return result

"""Zones and lines while a source is being tracked: events the moment they happen.

``vigil tracks zones`` analyses finished tracks, which is right for archives but
late for a live camera: a track only finishes once its object has been gone for
``lost_after_s``, so an intruder would be reported after leaving. Here every
tracked frame is checked as it arrives, with the same geometry and rules as the
archive analysis (``vigil.tracks.zones``): the foot point of each box, an
intrusion when a listed class *enters* a zone, loitering the moment a visit
passes ``loiter_s`` (while the object is still there), and a line crossing on
the observation that crosses. Events go through the same event store, alert
outbox and webhooks; each carries the frame with the zone and the box drawn as
evidence. Occurrences carry the same key fields as the archive analysis
(area, kind, class, start), so ``vigil tracks zones`` run later over the same
tracks adds none twice (see ``same_occurrence``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from shapely.geometry import LineString, Point, Polygon
from shapely.prepared import prep

from vigil.catalog.events_store import EventStore, NewEvent
from vigil.sources.types import Frame, Source
from vigil.structure.thumbnails import write_thumbnail
from vigil.tracks.attributes import foot_point
from vigil.tracks.zones import (
    ZONES_MODEL_ID,
    ZoneSet,
    ZoneSpec,
    check_geometry,
    crossing_direction,
    known_zone_events,
    zone_event_key,
)

Box = tuple[float, float, float, float]
EVIDENCE_LONGEST_SIDE = 960


@dataclass(frozen=True)
class Sighting:
    """One tracked box on one frame: the tracker's object number, class and box."""

    serial: int
    label: str
    box: Box


@dataclass(frozen=True)
class LiveOccurrence:
    """Something that just happened on a zone or line."""

    kind: str  # intrusion | loitering | line_crossing
    area: str  # "zone:NAME" | "line:NAME"
    serial: int
    label: str
    box: Box
    start_media_time: float
    media_time: float  # when it was recognised (entry, loiter bound passed, crossing)
    captured_at: datetime | None
    details: dict[str, Any]


@dataclass
class _Visit:
    entered: float
    loitering_raised: bool = False


@dataclass
class _Object:
    last_foot: tuple[float, float] | None = None
    last_time: float = 0.0
    visits: dict[str, _Visit] = field(default_factory=dict)  # zone name -> current visit


class LiveZones:
    """Per-frame zone and line rules for one source at one frame size."""

    def __init__(self, zone_set: ZoneSet, width: int, height: int) -> None:
        check_geometry(zone_set, width, height)
        self.zone_set = zone_set
        self.frame_wh = (width, height)
        self._zones = [(zone, prep(Polygon(zone.polygon))) for zone in zone_set.zones]
        self._lines = [(line, LineString(line.points)) for line in zone_set.lines]
        self._objects: dict[int, _Object] = {}
        self._captured: datetime | None = None
        self.counts: dict[str, dict[str, int]] = {
            **{f"zone:{z.name}": {"entries": 0, "exits": 0} for z in zone_set.zones},
            **{
                f"line:{line.name}": {"left_to_right": 0, "right_to_left": 0}
                for line in zone_set.lines
            },
        }

    def reset(self) -> None:
        """Forget every object (a stream reconnect or a cut: the tracker starts over)."""
        self._objects.clear()

    def observe(
        self, media_time: float, captured_at: datetime | None, sightings: list[Sighting]
    ) -> list[LiveOccurrence]:
        """Update with one tracked frame; returns what happened on it."""
        self._captured = captured_at
        found: list[LiveOccurrence] = []
        seen = set()
        for sighting in sightings:
            seen.add(sighting.serial)
            state = self._objects.setdefault(sighting.serial, _Object())
            foot = foot_point(sighting.box)
            for zone, shape in self._zones:
                found.extend(
                    self._zone_step(zone, shape.contains(Point(foot)), state, sighting, media_time)
                )
            if state.last_foot is not None:
                for line, segment in self._lines:
                    crossing = crossing_direction(line, segment, state.last_foot, foot)
                    if crossing is None or (line.classes and sighting.label not in line.classes):
                        continue
                    self.counts[f"line:{line.name}"][crossing] += 1
                    found.append(
                        self._occurrence(
                            "line_crossing",
                            f"line:{line.name}",
                            sighting,
                            state.last_time,
                            media_time,
                            {"line": line.name, "direction": crossing},
                        )
                    )
            state.last_foot, state.last_time = foot, media_time
        # Objects the tracker no longer reports leave every zone they were in.
        for serial in [s for s in self._objects if s not in seen]:
            for name in self._objects.pop(serial).visits:
                self.counts[f"zone:{name}"]["exits"] += 1
        return found

    def _zone_step(
        self,
        zone: ZoneSpec,
        inside: bool,
        state: _Object,
        sighting: Sighting,
        media_time: float,
    ) -> list[LiveOccurrence]:
        counted = not zone.classes or sighting.label in zone.classes
        intrusion = sighting.label in zone.intrusion
        if not counted and not intrusion:
            return []
        area = f"zone:{zone.name}"
        visit = state.visits.get(zone.name)
        if not inside:
            if visit is not None:
                del state.visits[zone.name]
                self.counts[area]["exits"] += 1
            return []
        found: list[LiveOccurrence] = []
        if visit is None:
            visit = state.visits[zone.name] = _Visit(entered=media_time)
            self.counts[area]["entries"] += 1
            if intrusion:
                found.append(
                    self._occurrence(
                        "intrusion", area, sighting, media_time, media_time, {"zone": zone.name}
                    )
                )
        dwell = media_time - visit.entered
        if zone.loiter_s is not None and dwell > zone.loiter_s and not visit.loitering_raised:
            visit.loitering_raised = True
            found.append(
                self._occurrence(
                    "loitering",
                    area,
                    sighting,
                    visit.entered,
                    media_time,
                    {"zone": zone.name, "dwell_s": round(dwell, 2), "loiter_s": zone.loiter_s},
                )
            )
        return found

    def _occurrence(
        self,
        kind: str,
        area: str,
        sighting: Sighting,
        start: float,
        now: float,
        details: dict[str, Any],
    ) -> LiveOccurrence:
        return LiveOccurrence(
            kind=kind,
            area=area,
            serial=sighting.serial,
            label=sighting.label,
            box=sighting.box,
            start_media_time=start,
            media_time=now,
            captured_at=self._captured,
            details=details,
        )


def evidence_image(image: np.ndarray, occurrence: LiveOccurrence, zone_set: ZoneSet) -> np.ndarray:
    """The frame with the zone or line and the object's box drawn (RGB in, RGB out)."""
    # supervision draws in OpenCV's BGR order.
    canvas = np.ascontiguousarray(image[:, :, ::-1])
    kind, name = occurrence.area.split(":", 1)
    colour = sv.Color.RED
    if kind == "zone":
        zone = next(z for z in zone_set.zones if z.name == name)
        canvas = sv.draw_polygon(
            canvas, np.asarray(zone.polygon, dtype=np.int32), colour, thickness=2
        )
    else:
        line = next(item for item in zone_set.lines if item.name == name)
        (ax, ay), (bx, by) = line.points
        canvas = sv.draw_line(canvas, sv.Point(ax, ay), sv.Point(bx, by), colour, thickness=2)
    detections = sv.Detections(xyxy=np.asarray([occurrence.box], dtype=np.float32))
    labels = [f"{occurrence.label} {occurrence.kind.replace('_', ' ')}"]
    index = sv.ColorLookup.INDEX
    canvas = sv.BoxAnnotator(color=colour, thickness=2, color_lookup=index).annotate(
        canvas, detections
    )
    canvas = sv.LabelAnnotator(color=colour, text_scale=0.5, color_lookup=index).annotate(
        canvas, detections, labels
    )
    return np.ascontiguousarray(canvas[:, :, ::-1])


def wall_time(captured_at: datetime | None, anchor: datetime, media_time: float) -> datetime:
    """Capture time when the source has one, else its registration time plus media time."""
    if captured_at is not None:
        return captured_at
    return anchor + timedelta(seconds=media_time)


@dataclass
class LiveZoneReport:
    """What the live rules raised while a source was tracked."""

    events_stored: int = 0
    events_known: int = 0  # raised before (a resumed or repeated run)
    frames_checked: int = 0
    frames_skipped: int = 0  # another frame size than the zones were drawn on
    by_kind: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events_stored": self.events_stored,
            "events_known": self.events_known,
            "frames_checked": self.frames_checked,
            "frames_skipped": self.frames_skipped,
            "by_kind": dict(self.by_kind),
            "counts": {area: dict(values) for area, values in self.counts.items()},
        }


class LiveZoneEvents:
    """A ``FrameWatcher`` that stores each live occurrence as an event with evidence.

    The zones' frame size is ``zone_set.frame_wh``, else the first tracked frame's;
    frames of another size (the camera changed resolution) are skipped, as the
    archive analysis skips tracks of another size.
    """

    def __init__(
        self,
        zone_set: ZoneSet,
        source: Source,
        store: EventStore,
        targets: list[str],
        home: Path,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.zone_set = zone_set
        self.source = source
        self.store = store
        self.targets = targets
        self.home = home
        self.on_stored = on_stored
        self.report = LiveZoneReport()
        self._monitor: LiveZones | None = None
        if zone_set.frame_wh is not None:
            self._monitor = LiveZones(zone_set, *zone_set.frame_wh)
        self._known = known_zone_events(store, source.id)
        anchor = source.created_at
        assert anchor is not None, "a registered source has a creation time"
        self._anchor = anchor

    def frame(self, frame: Frame, sightings: list[Sighting]) -> None:
        height, width = frame.image.shape[:2]
        if self._monitor is None:
            self._monitor = LiveZones(self.zone_set, width, height)
        if self._monitor.frame_wh != (width, height):
            self.report.frames_skipped += 1
            return
        self.report.frames_checked += 1
        for occurrence in self._monitor.observe(frame.media_time, frame.captured_at, sightings):
            self._store(occurrence, frame)
        self.report.counts = self._monitor.counts

    def reset(self) -> None:
        if self._monitor is not None:
            self._monitor.reset()

    def _store(self, occurrence: LiveOccurrence, frame: Frame) -> None:
        details: dict[str, Any] = {
            **occurrence.details,
            "label": occurrence.label,
            "media_start": round(occurrence.start_media_time, 3),
            "media_end": round(occurrence.media_time, 3),
            "live": True,
            "object": occurrence.serial,
            "box": [round(v, 1) for v in occurrence.box],
            "clock": "captured" if occurrence.captured_at is not None else "registered+media",
        }
        key = zone_event_key(occurrence.area, occurrence.kind, details)
        if key in self._known:
            self.report.events_known += 1
            return
        self._known.add(key)
        relpath = (
            f"events/zones/{self.source.id}/{round(occurrence.media_time * 1000):012d}"
            f"_{occurrence.serial:05d}_{occurrence.kind}.jpg"
        )
        write_thumbnail(
            self.home,
            relpath,
            evidence_image(frame.image, occurrence, self.zone_set),
            EVIDENCE_LONGEST_SIDE,
        )
        details["thumbnail_path"] = relpath
        start = wall_time(
            None
            if occurrence.captured_at is None
            else occurrence.captured_at
            - timedelta(seconds=occurrence.media_time - occurrence.start_media_time),
            self._anchor,
            occurrence.start_media_time,
        )
        now = wall_time(occurrence.captured_at, self._anchor, occurrence.media_time)
        event = self.store.open_event(
            NewEvent(
                source_id=self.source.id,
                model_id=ZONES_MODEL_ID,
                scenario=occurrence.area,
                class_name=occurrence.kind,
                started_at=start,
                last_seen_at=now,
                peak_score=1.0,
                peak_at=now,
                frames=1,
                details=details,
            ),
            self.targets,
        )
        self.store.close_event(
            event.id,
            ended_at=now,
            peak_score=1.0,
            peak_at=now,
            frames=1,
            thumbnail_path=relpath,
            strip_path=None,
            targets=self.targets,
            media={"start": occurrence.start_media_time, "end": occurrence.media_time},
        )
        self.report.events_stored += 1
        self.report.by_kind[occurrence.kind] = self.report.by_kind.get(occurrence.kind, 0) + 1
        if self.on_stored is not None:
            self.on_stored()

"""Zones and lines on a source: counts in and out, dwell, loitering, intrusion, crossings.

A zone is a polygon and a line a two-point segment, in the pixels of the source's
frames, written in YAML::

    zones:
      - name: lawn
        polygon: [[0, 300], [420, 300], [420, 576], [0, 576]]
        loiter_s: 4          # a visit longer than this is a loitering event
        intrusion: [person]  # any visit by these classes is an intrusion event
    lines:
      - name: path
        points: [[380, 150], [380, 450]]
        classes: [person]    # which classes count (empty: every class)

Analytics run over stored tracks, at each track's foot point (bottom centre of
its box: where a person stands). A line crossing's direction is named from the
line's first point to its second: ``left_to_right`` means the object crossed
from the left-hand side of that direction to the right-hand side, as seen in
the image (y grows downwards). Events go through the runtime's event store and
alert outbox, like the events of ``vigil run``, so webhooks and evidence work
the same; running the analytics again adds no event twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import LineString, Point, Polygon, box
from shapely.prepared import prep
from shapely.validation import explain_validity

from vigil.catalog.events_store import EventStore, NewEvent
from vigil.catalog.tracks_store import TrackRecord
from vigil.catalog.types import EventQuery, EventRecord
from vigil.errors import InvalidInputError
from vigil.sources.types import Source
from vigil.tracks.attributes import foot_point

MAX_ZONE_FILE_BYTES = 256 * 1024
ZONES_MODEL_ID = "zones"
EDGE_TOLERANCE_PX = 1.0

XY = tuple[float, float]


class ZoneSpec(BaseModel):
    """A polygon on the frame, with what counts as loitering and intrusion there."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Unique name on the source.")
    polygon: list[XY] = Field(min_length=3, max_length=256, description="Vertices in pixels.")
    loiter_s: float | None = Field(
        None, gt=0, description="A visit longer than this many seconds is loitering."
    )
    intrusion: list[str] = Field(
        default_factory=list, description="Classes whose every visit is an intrusion event."
    )
    classes: list[str] = Field(
        default_factory=list, description="Classes counted in and out (empty: every class)."
    )


class LineSpec(BaseModel):
    """A counting line: crossings of its segment, with direction."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    points: list[XY] = Field(min_length=2, max_length=2, description="Two endpoints in pixels.")
    classes: list[str] = Field(default_factory=list, description="Classes counted (empty: all).")


class ZoneSet(BaseModel):
    """Every zone and line of one source."""

    model_config = ConfigDict(extra="forbid")

    frame_wh: tuple[int, int] | None = Field(
        None,
        description="Frame size the coordinates are in; default: the size most tracks have. "
        "Tracks recorded at another size (the source changed resolution) are skipped.",
    )
    zones: list[ZoneSpec] = Field(default_factory=list)
    lines: list[LineSpec] = Field(default_factory=list)


def zones_from_yaml(text: str) -> ZoneSet:
    """Parse and check the structure (not the geometry: see ``check_geometry``)."""
    if len(text.encode()) > MAX_ZONE_FILE_BYTES:
        raise InvalidInputError(f"zone file is larger than {MAX_ZONE_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInputError(f"zone file is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInputError("zone file must be a mapping with 'zones' and/or 'lines'")
    try:
        zone_set = ZoneSet.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'file'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise InvalidInputError(f"invalid zone file: {problems}") from None
    names = [z.name for z in zone_set.zones] + [line.name for line in zone_set.lines]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"zone and line names must be unique, repeated: {duplicates}")
    if not names:
        raise InvalidInputError("zone file defines no zones and no lines")
    return zone_set


def load_zones(path: Path) -> ZoneSet:
    if not path.is_file():
        raise InvalidInputError(f"zone file not found: {path}")
    return zones_from_yaml(path.read_text(errors="replace"))


def check_geometry(zone_set: ZoneSet, width: int, height: int) -> None:
    """Reject zones that cannot mean anything on a ``width`` x ``height`` frame."""
    frame = box(
        -EDGE_TOLERANCE_PX,
        -EDGE_TOLERANCE_PX,
        width + EDGE_TOLERANCE_PX,
        height + EDGE_TOLERANCE_PX,
    )
    for zone in zone_set.zones:
        polygon = Polygon(zone.polygon)
        if not polygon.is_valid:
            raise InvalidInputError(
                f"zone {zone.name!r} is not a simple polygon ({explain_validity(polygon)}); "
                "list its vertices in order around the edge, without crossing edges"
            )
        if polygon.area <= 0:
            raise InvalidInputError(f"zone {zone.name!r} has no area")
        if not frame.contains(polygon):
            raise InvalidInputError(
                f"zone {zone.name!r} reaches outside the {width}x{height} frame "
                f"(bounds {tuple(round(v) for v in polygon.bounds)})"
            )
    for line in zone_set.lines:
        segment = LineString(line.points)
        if segment.length <= 0:
            raise InvalidInputError(f"line {line.name!r} has zero length: both points are equal")
        if not frame.contains(segment):
            raise InvalidInputError(
                f"line {line.name!r} reaches outside the {width}x{height} frame"
            )


@dataclass(frozen=True)
class ZoneOccurrence:
    """One thing that happened on a zone or line, for one track."""

    kind: str  # loitering | intrusion | line_crossing
    area: str  # "zone:NAME" or "line:NAME"
    track: TrackRecord
    start_media_time: float
    end_media_time: float
    details: dict[str, Any]


@dataclass
class AreaStats:
    """Counts of one zone or line over the analysed tracks."""

    name: str
    kind: str  # zone | line
    entries: int = 0
    exits: int = 0
    visits: int = 0
    dwell_s: list[float] = field(default_factory=list)
    crossings: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "zone":
            dwell = sorted(self.dwell_s)
            out.update(
                entries=self.entries,
                exits=self.exits,
                visits=self.visits,
                mean_dwell_s=round(sum(dwell) / len(dwell), 2) if dwell else 0.0,
                max_dwell_s=round(dwell[-1], 2) if dwell else 0.0,
            )
        else:
            out["crossings"] = dict(self.crossings)
        return out


@dataclass
class ZoneReport:
    """What the analytics found: per-area counts and the occurrences that become events."""

    areas: dict[str, AreaStats]
    occurrences: list[ZoneOccurrence]
    frame_wh: tuple[int, int] | None = None
    tracks: int = 0
    skipped_tracks: int = 0  # recorded at another frame size than the zones'
    events_stored: int = 0
    events_known: int = 0  # found again by a re-run, already stored

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame_wh": list(self.frame_wh) if self.frame_wh else None,
            "tracks": self.tracks,
            "skipped_tracks": self.skipped_tracks,
            "areas": [stats.to_dict() for stats in self.areas.values()],
            "occurrences": {
                kind: sum(1 for o in self.occurrences if o.kind == kind)
                for kind in ("intrusion", "loitering", "line_crossing")
            },
            "events_stored": self.events_stored,
            "events_known": self.events_known,
        }


def analyse_tracks(tracks: list[TrackRecord], zone_set: ZoneSet) -> ZoneReport:
    """Zone visits and line crossings of every track (pure: no storage, no clock).

    The geometry is checked against the zones' frame size (``frame_wh``, else the
    size most tracks were recorded at); tracks of another size are skipped.
    """
    sizes = [(t.frame_width, t.frame_height) for t in tracks]
    frame_wh = zone_set.frame_wh or (max(set(sizes), key=sizes.count) if sizes else None)
    if frame_wh is not None:
        check_geometry(zone_set, *frame_wh)
    kept = [t for t in tracks if (t.frame_width, t.frame_height) == frame_wh]
    report = _analyse(kept, zone_set)
    report.frame_wh = frame_wh
    report.tracks = len(kept)
    report.skipped_tracks = len(tracks) - len(kept)
    return report


def _analyse(tracks: list[TrackRecord], zone_set: ZoneSet) -> ZoneReport:
    areas: dict[str, AreaStats] = {}
    occurrences: list[ZoneOccurrence] = []
    for zone in zone_set.zones:
        stats = areas.setdefault(f"zone:{zone.name}", AreaStats(zone.name, "zone"))
        shape = prep(Polygon(zone.polygon))
        for track in tracks:
            counted = not zone.classes or track.label in zone.classes
            intrusion = track.label in zone.intrusion
            if not counted and not intrusion:
                continue
            inside = [shape.contains(Point(foot_point(p[1:]))) for p in track.trajectory]
            for first, last in _runs(inside):
                enter = track.trajectory[first][0]
                leave = track.trajectory[last][0]
                dwell = leave - enter
                if counted:
                    stats.visits += 1
                    stats.dwell_s.append(dwell)
                    stats.entries += first > 0
                    stats.exits += last < len(inside) - 1
                base = {"track_id": track.id, "zone": zone.name, "dwell_s": round(dwell, 2)}
                if intrusion:
                    occurrences.append(
                        ZoneOccurrence("intrusion", f"zone:{zone.name}", track, enter, leave, base)
                    )
                if zone.loiter_s is not None and dwell > zone.loiter_s:
                    occurrences.append(
                        ZoneOccurrence(
                            "loitering",
                            f"zone:{zone.name}",
                            track,
                            enter,
                            leave,
                            {**base, "loiter_s": zone.loiter_s},
                        )
                    )
    for line in zone_set.lines:
        stats = areas.setdefault(f"line:{line.name}", AreaStats(line.name, "line"))
        stats.crossings = {"left_to_right": 0, "right_to_left": 0}
        segment = LineString(line.points)
        for track in tracks:
            if line.classes and track.label not in line.classes:
                continue
            for before, after in pairwise(track.trajectory):
                p, q = foot_point(before[1:]), foot_point(after[1:])
                direction = crossing_direction(line, segment, p, q)
                if direction is None:
                    continue
                stats.crossings[direction] += 1
                occurrences.append(
                    ZoneOccurrence(
                        "line_crossing",
                        f"line:{line.name}",
                        track,
                        before[0],
                        after[0],
                        {"track_id": track.id, "line": line.name, "direction": direction},
                    )
                )
    return ZoneReport(areas=areas, occurrences=occurrences)


def store_zone_events(
    report: ZoneReport,
    source: Source,
    store: EventStore,
    targets: list[str],
) -> list[EventRecord]:
    """Each occurrence as a closed event with its alerts queued; known ones are skipped.

    Times: the track's capture time when the source has one, else the source's
    registration time plus media time (``details.clock`` says which).
    """
    known = known_zone_events(store, source.id)
    stored: list[EventRecord] = []
    for item in report.occurrences:
        details = {
            **item.details,
            "label": item.track.label,
            "media_start": round(item.start_media_time, 3),
            "media_end": round(item.end_media_time, 3),
            "thumbnail_path": item.track.thumbnail_path,
        }
        start, clock = _wall_time(item.track, source, item.start_media_time)
        end, _ = _wall_time(item.track, source, item.end_media_time)
        details["clock"] = clock
        if zone_event_key(item.area, item.kind, details) in known:
            report.events_known += 1
            continue
        event = store.open_event(
            NewEvent(
                source_id=source.id,
                model_id=ZONES_MODEL_ID,
                scenario=item.area,
                class_name=item.kind,
                started_at=start,
                last_seen_at=end,
                peak_score=1.0,
                peak_at=start,
                frames=item.track.observations,
                details=details,
            ),
            targets,
        )
        stored.append(
            store.close_event(
                event.id,
                ended_at=end,
                peak_score=1.0,
                peak_at=start,
                frames=item.track.observations,
                thumbnail_path=item.track.thumbnail_path,
                strip_path=None,
                targets=targets,
            )
        )
        report.events_stored += 1
    return stored


def known_zone_events(store: EventStore, source_id: int) -> set[tuple[str, str, Any, Any]]:
    """Keys of the zone events a source already has (live or from archives)."""
    return {
        zone_event_key(event.scenario, event.class_name, event.details)
        for event in store.list_events(EventQuery(source=source_id, limit=1_000_000))
        if event.model_id == ZONES_MODEL_ID
    }


def zone_event_key(area: str, kind: str, details: dict[str, Any]) -> tuple[str, str, Any, Any]:
    """What makes two occurrences the same, whether raised live or found over an archive.

    Not the track id: a live event is raised before its track is stored. Two objects
    of one class starting the same thing on one area in the same tenth of a second
    count once.
    """
    start = details.get("media_start")
    return (area, kind, details.get("label"), None if start is None else round(start, 1))


def _wall_time(track: TrackRecord, source: Source, media_time: float) -> tuple[datetime, str]:
    if track.first_captured_at is not None:
        return track.first_captured_at + timedelta(
            seconds=media_time - track.first_media_time
        ), "captured"
    anchor = source.created_at
    assert anchor is not None, "a registered source has a creation time"
    return anchor + timedelta(seconds=media_time), "registered+media"


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for index, flag in enumerate(flags):
        if flag and start is None:
            start = index
        if not flag and start is not None:
            runs.append((start, index - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


def crossing_direction(line: LineSpec, segment: LineString, before: XY, after: XY) -> str | None:
    """Which way a foot point moving from ``before`` to ``after`` crossed ``line``, if it did.

    ``segment`` is the line's ``LineString`` (made once per line by the caller).
    Touching the line, or leaving from on it, is no crossing.
    """
    if before == after or not segment.intersects(LineString([before, after])):
        return None
    (ax, ay), (bx, by) = line.points
    side_before = side_of_line(ax, ay, bx, by, *before)
    side_after = side_of_line(ax, ay, bx, by, *after)
    if side_before == side_after or side_before == 0:
        return None
    # y grows downwards: a positive cross product is the right-hand side.
    return "left_to_right" if side_after > 0 else "right_to_left"


def side_of_line(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> int:
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    return (cross > 0) - (cross < 0)

"""Zones and lines over real tracks: validation, counts, events through the event store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vigil.catalog.events_store import EventStore
from vigil.catalog.tracks_store import list_tracks
from vigil.errors import InvalidInputError
from vigil.tracks import TrackBuildReport
from vigil.tracks.zones import analyse_tracks, store_zone_events, zones_from_yaml
from vigil.workspace import Workspace

# Drawn on frame 500 of vtest.avi (768x576): the lawn the two walkers at the bottom
# cross from right to left, a line across their path, and the spot where the man in
# the long coat stands for the whole excerpt.
ZONES = """
zones:
  - name: lawn
    polygon: [[0, 420], [768, 420], [768, 576], [0, 576]]
    intrusion: [person]
  - name: standing-spot
    polygon: [[600, 330], [700, 330], [700, 420], [600, 420]]
    loiter_s: 4
lines:
  - name: lawn-line
    points: [[500, 350], [500, 576]]  # to the frame's edge: boxes are cut off there
    classes: [person]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zones: [{name: a, polygon: [[0, 0], [900, 0], [900, 10]]}]", "reaches outside the"),
        (
            "zones: [{name: bow, polygon: [[0, 0], [100, 100], [100, 0], [0, 100]]}]",
            "not a simple polygon",
        ),
        ("lines: [{name: dot, points: [[10, 10], [10, 10]]}]", "zero length"),
        ("lines: [{name: far, points: [[10, 10], [10, 5000]]}]", "reaches outside"),
        ("zones: [{name: a, polygon: [[0, 0], [1, 1], [2, 2]]}]", "not a simple polygon"),
    ],
)
def test_bad_geometry_is_rejected_with_a_reason(
    tracked: tuple[Workspace, TrackBuildReport], text: str, message: str
) -> None:
    workspace, _ = tracked
    tracks = list_tracks(workspace.catalog)
    with pytest.raises(InvalidInputError, match=message):
        analyse_tracks(tracks, zones_from_yaml(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a mapping"),
        ("zones: [{name: a, polygon: [[0, 0], [1, 0]]}]", "at least 3"),
        ("zones: [{name: a, polygon: [[0, 0], [9, 0], [9, 9]], color: red}]", "Extra inputs"),
        (
            "lines: [{name: a, points: [[0, 0], [9, 9]]}, {name: a, points: [[1, 1], [5, 5]]}]",
            "unique",
        ),
        ("!!python/object/apply:os.system ['true']", "not valid YAML"),
        ("zones: []", "defines no zones"),
        ("zones: [" + "{name: a, polygon: [[0, 0], [9, 0], [9, 9]]}, " * 6000 + "]", "larger than"),
    ],
)
def test_bad_zone_files_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        zones_from_yaml(text)


def test_counts_dwell_loitering_intrusion_and_crossings(
    tracked: tuple[Workspace, TrackBuildReport],
) -> None:
    workspace, _ = tracked
    tracks = list_tracks(workspace.catalog)
    report = analyse_tracks(tracks, zones_from_yaml(ZONES))
    assert report.frame_wh == (768, 576) and report.skipped_tracks == 0
    lawn = report.areas["zone:lawn"]
    assert lawn.visits >= 2 and lawn.entries >= 1  # the two walkers (they enter at the edge)
    intrusions = [o for o in report.occurrences if o.kind == "intrusion"]
    assert len(intrusions) >= 2 and {o.track.label for o in intrusions} == {"person"}
    # The man in the long coat stands in his spot for the whole 8 s.
    loitering = [o for o in report.occurrences if o.kind == "loitering"]
    assert loitering and all(o.end_media_time - o.start_media_time > 4 for o in loitering)
    crossings = report.areas["line:lawn-line"].crossings
    # The walkers go from the right of the image to the left: facing down the line (its
    # first point is the top one), that is from its left-hand side to its right. (One
    # of the two is lost while they overlap, so at least one crossing is seen.)
    assert crossings["left_to_right"] >= 1 and crossings["right_to_left"] == 0


def test_events_go_through_the_event_store_once(
    tracked: tuple[Workspace, TrackBuildReport],
) -> None:
    workspace, _ = tracked
    source = workspace.get_source("walkway")
    tracks = list_tracks(workspace.catalog)
    store = EventStore(workspace.catalog.engine)
    report = analyse_tracks(tracks, zones_from_yaml(ZONES))
    stored = store_zone_events(report, source, store, ["log"])
    assert len(stored) == len(report.occurrences) > 0
    event = stored[0]
    assert event.status == "closed" and event.model_id == "zones"
    assert event.details["clock"] == "registered+media"
    assert {d.kind for d in store.deliveries(event.id)} == {"event.started", "event.ended"}
    again = analyse_tracks(tracks, zones_from_yaml(ZONES))
    assert store_zone_events(again, source, store, ["log"]) == []
    assert again.events_known == len(report.occurrences)


def test_tracks_of_another_resolution_are_skipped(
    tracked: tuple[Workspace, TrackBuildReport],
) -> None:
    workspace, _ = tracked
    tracks = list_tracks(workspace.catalog)
    halved = [replace(t, id=-t.id, frame_width=384, frame_height=288) for t in tracks[:3]]
    report = analyse_tracks([*tracks, *halved], zones_from_yaml(ZONES))
    assert report.skipped_tracks == 3 and report.tracks == len(tracks)

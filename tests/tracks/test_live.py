"""Zone rules while tracking: events the moment they happen, on the real vtest excerpt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.catalog.events_store import EventStore
from vigil.catalog.types import EventQuery
from vigil.cli.main import app
from vigil.sources.images import read_image
from vigil.tracks.live import LiveZones, Sighting
from vigil.tracks.zones import zones_from_yaml
from vigil.workspace import Workspace

from .conftest import EXCERPT_FRAMES, track_settings
from .test_zones import ZONES

EXCERPT_SECONDS = EXCERPT_FRAMES / 10


@pytest.fixture(scope="module")
def watched(excerpt: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The excerpt tracked once with the zones checked live."""
    with Workspace.open(track_settings(tmp_path_factory.mktemp("watched"))) as workspace:
        source = workspace.add_source(str(excerpt), name="walkway")
        tracked, live = workspace.tracks.watch(source.id, zones_from_yaml(ZONES))
        yield workspace, tracked, live


def test_events_are_raised_while_the_object_is_still_there(watched) -> None:  # type: ignore[no-untyped-def]
    workspace, tracked, live = watched
    assert tracked.finished and tracked.tracks_stored > 0 and live.frames_skipped == 0
    events = EventStore(workspace.catalog.engine).list_events(EventQuery(limit=1000))
    by_kind: dict[str, list] = {}  # type: ignore[type-arg]
    for event in events:
        by_kind.setdefault(event.class_name, []).append(event)
    assert live.events_stored == len(events) and live.by_kind == {
        kind: len(found) for kind, found in by_kind.items()
    }
    # Intrusion is raised on entry, by a person, with the box that entered.
    intrusions = by_kind["intrusion"]
    assert len(intrusions) >= 2 and {e.details["label"] for e in intrusions} == {"person"}
    assert all(e.details["media_start"] == e.details["media_end"] for e in intrusions)
    # The man in the long coat stands in his spot the whole 8 s: loitering is raised
    # once, as his visit passes 4 s, not when his track ends with the clip.
    loitering = by_kind["loitering"]
    assert loitering and all(e.details["dwell_s"] > 4 for e in loitering)
    assert min(e.details["media_end"] for e in loitering) < EXCERPT_SECONDS - 2
    crossings = [e.details["direction"] for e in by_kind["line_crossing"]]
    assert "left_to_right" in crossings and "right_to_left" not in crossings
    assert live.counts["line:lawn-line"]["left_to_right"] == len(crossings)
    # Evidence: the full frame with the zone and the box drawn, delivered like `vigil run`'s.
    event = intrusions[0]
    assert event.details["live"] is True and event.thumbnail_path
    evidence = read_image(workspace.home / event.thumbnail_path)
    assert evidence.shape[:2] == (576, 768)
    x1, y1, x2, y2 = (round(v) for v in event.details["box"])
    red = (evidence[..., 0] > 200) & (evidence[..., 1] < 80) & (evidence[..., 2] < 80)
    assert red[max(0, y1 - 3) : y2 + 3, max(0, x1 - 3) : x2 + 3].sum() > 50  # the box
    store = EventStore(workspace.catalog.engine)
    assert {d.kind for d in store.deliveries(event.id)} == {"event.started", "event.ended"}


def test_the_archive_analysis_afterwards_adds_no_line_crossing_twice(watched) -> None:  # type: ignore[no-untyped-def]
    workspace, _, live = watched
    report = workspace.tracks.zones("walkway", zones_from_yaml(ZONES))
    crossings = sum(1 for o in report.occurrences if o.kind == "line_crossing")
    assert crossings >= 1 and report.events_known >= crossings
    # Each live crossing is found again over the stored tracks (same key), not re-raised.
    stored = EventStore(workspace.catalog.engine).list_events(EventQuery(limit=1000))
    assert (
        sum(1 for e in stored if e.class_name == "line_crossing") == live.by_kind["line_crossing"]
    )


def test_rules_on_hand_placed_boxes_reset_and_other_sizes() -> None:
    zone_set = zones_from_yaml(ZONES)
    rules = LiveZones(zone_set, 768, 576)
    walker = (540.0, 380.0, 580.0, 500.0)  # foot (560, 500): on the lawn, right of the line
    left = (440.0, 380.0, 480.0, 500.0)  # foot (460, 500): crossed the line leftwards
    first = rules.observe(0.0, None, [Sighting(1, "person", walker)])
    assert [o.kind for o in first] == ["intrusion"]
    crossed = rules.observe(0.2, None, [Sighting(1, "person", left)])
    assert [(o.kind, o.details["direction"]) for o in crossed] == [
        ("line_crossing", "left_to_right")
    ]
    assert rules.observe(0.4, None, [Sighting(1, "person", left)]) == []  # still inside
    rules.reset()  # a reconnect: the tracker starts over, so does every visit
    again = rules.observe(5.0, None, [Sighting(1, "person", left)])
    assert [o.kind for o in again] == ["intrusion"]
    assert rules.counts["zone:lawn"]["entries"] == 2
    # A car on the lawn is counted but intrudes on nothing (intrusion lists people only).
    car = rules.observe(6.0, None, [Sighting(2, "car", (100.0, 430.0, 300.0, 560.0))])
    assert car == [] and rules.counts["zone:lawn"]["entries"] == 3
    # The person gone from the frame leaves the zone.
    rules.observe(6.2, None, [])
    assert rules.counts["zone:lawn"]["exits"] == 2


def test_watch_cli_and_bad_zone_file(
    excerpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "workspace"))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()
    assert runner.invoke(app, ["source", "add", str(excerpt), "--name", "walkway"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "frame_wh: [768, 576]\nzones: [{name: a, polygon: [[0, 0], [900, 0], [900, 9]]}]\n"
    )
    result = runner.invoke(app, ["tracks", "watch", "walkway", "--zones", str(bad)])
    assert result.exit_code == 1 and result.output.startswith("error: zone 'a' reaches outside")
    zones = tmp_path / "zones.yaml"
    zones.write_text("lines: [{name: path, points: [[500, 350], [500, 576]], classes: [person]}]\n")
    result = runner.invoke(
        app, ["tracks", "watch", "walkway", "--zones", str(zones), "--max-seconds", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["frames_checked"] > 0 and "line:path" in report["counts"]
    assert np.isfinite(report["events_stored"])

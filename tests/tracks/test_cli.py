"""``vigil tracks`` end to end, in-process, on a real SQLite catalog and a real clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "workspace"))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return invoke


def test_build_list_zones_search_match(run, excerpt: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("source", "add", str(excerpt), "--name", "walkway")
    first = run("tracks", "build", "walkway", "--max-seconds", "2")
    assert "partial (run again to resume)" in first
    rest = run("tracks", "build")
    assert "complete" in rest and "new tracks" in rest
    plot = tmp_path / "walkway.png"
    listed = json.loads(run("tracks", "list", "walkway", "--json", "--plot", str(plot)))
    assert listed["tracks"] and plot.stat().st_size > 10_000
    track_id = listed["tracks"][0]["id"]
    zones = tmp_path / "zones.yaml"
    zones.write_text("lines: [{name: path, points: [[500, 350], [500, 576]], classes: [person]}]\n")
    report = json.loads(run("tracks", "zones", "walkway", "--zones", str(zones), "--json"))
    assert report["areas"][0]["name"] == "path"
    assert report["events_stored"] == report["occurrences"]["line_crossing"] >= 1
    again = json.loads(run("tracks", "zones", "walkway", "--zones", str(zones), "--json"))
    assert again["events_stored"] == 0 and again["events_known"] == report["events_stored"]
    events = run("events", "list", "--json")
    assert "line_crossing" in events
    hits = json.loads(run("search", "a person", "--tracks", "--json", "-n", "3"))
    assert len(hits["hits"]) == 3
    assert len({h["track"]["id"] for h in hits["hits"]}) == 3
    matches = json.loads(run("match", "--track", str(track_id), "--json"))
    assert matches["track_id"] == track_id  # one camera only: no other source to match on
    # A read-only workspace lists and searches tracks, and refuses to change them.
    assert json.loads(run("--read-only", "tracks", "list", "walkway", "--json"))["tracks"]
    output = run("--read-only", "tracks", "build", "walkway", "--restart", code=1)
    assert output.startswith("error: cannot track sources: the workspace")
    output = run("--read-only", "tracks", "zones", "walkway", "--zones", str(zones), code=1)
    assert output.startswith("error: cannot store zone events")


def test_bad_input_is_one_error_line(run, excerpt: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("source", "add", str(excerpt), "--name", "walkway")
    bad = tmp_path / "bad.yaml"
    good = tmp_path / "good.yaml"
    good.write_text("lines: [{name: l, points: [[500, 350], [500, 576]]}]\n")
    output = run("tracks", "zones", "walkway", "--zones", str(good), code=1)
    assert output.startswith("error: no tracks on walkway")
    bad.write_text(
        "frame_wh: [768, 576]\n"
        "zones: [{name: bow, polygon: [[0, 0], [100, 100], [100, 0], [0, 100]]}]\n"
    )
    output = run("tracks", "zones", "walkway", "--zones", str(bad), code=1)
    assert output.startswith("error: zone 'bow' is not a simple polygon")
    assert "Traceback" not in output
    output = run("tracks", "zones", "walkway", "--zones", str(tmp_path / "nope.yaml"), code=1)
    assert output.startswith("error: zone file not found")
    assert run("tracks", "list", "nope", code=1).startswith("error: ")
    assert run("match", code=1).startswith("error: give an object id or --track")
    assert run("search", "x", "--tracks", "--image", str(bad), code=1).startswith("error: ")
    assert run("tracks", "build", "--rate", "0", code=1).startswith("error: ")


def test_eval_tracking_prints_standard_metrics(run) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(run("eval", "tracking", "--sequence", "TUD-Campus", "--json"))
    assert rows[0]["sequence"] == "TUD-Campus" and 0 < rows[0]["mota"] <= 1
    table = run("eval", "tracking", "--sequence", "TUD-Stadtmitte")
    assert "MOTA" in table and "IDF1" in table and "derived from ground truth" in table
    assert run("eval", "tracking", "--sequence", "MOT17", code=1).startswith("error: unknown")

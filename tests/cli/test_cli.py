"""The CLI end to end, in-process, on a real SQLite catalog and the real clip (fake embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vigil.cli.main import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "workspace"))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        """stdout + stderr (JSON output goes to stdout only; notes go to stderr)."""
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return invoke


def test_source_index_search_round_trip(run, vtest_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    output = run(
        "source",
        "add",
        str(vtest_path),
        "--name",
        "walkway",
        "--site",
        "campus",
        "--meta",
        "floor=0",
    )
    assert "added source 1 'walkway' (video)" in output
    listed = json.loads(run("source", "list", "--json"))
    assert listed[0]["site"] == "campus" and listed[0]["metadata"] == {"floor": "0"}
    header, row = run("source", "list").splitlines()
    assert header.split() == ["id", "name", "kind", "site", "position", "location"]
    assert row.split()[:4] == ["1", "walkway", "video", "campus"]
    assert row.endswith(str(vtest_path))  # never truncated: paths stay copyable
    output = run("index", "--interval", "4", "--dedup", "0")
    assert "walkway: 20 new frames" in output
    sheet = tmp_path / "sheet.jpg"
    result = json.loads(run("search", "people", "-n", "5", "--json", "--sheet", str(sheet)))
    assert len(result["hits"]) == 5
    assert result["hits"][0]["source"] == "walkway"
    assert Path(result["hits"][0]["thumbnail"]).exists()
    with Image.open(sheet) as opened:
        assert opened.width == 4 * 320
    assert "removed source 1" in run("source", "remove", "walkway")
    assert "no sources yet" in run("source", "list")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", "   "), "query must not be empty"),
        (("source", "remove", "7"), "7"),
        (("source", "add", "/nonexistent/video.mp4"), "error:"),
        (("index", "nowhere"), "nowhere"),
        (("source", "add", "x.mp4", "--meta", "novalue", "--no-check"), "KEY=VALUE"),
        (("search", "people", "-n", "0"), "limit"),
    ],
)
def test_bad_input_is_one_clear_line(run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    output = run(*args, code=1)
    assert "error:" in output and message in output
    assert "Traceback" not in output


def test_duplicate_source_name_is_refused(run, vtest_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("source", "add", str(vtest_path), "--name", "walkway")
    output = run("source", "add", str(vtest_path), "--name", "walkway", code=1)
    assert "walkway" in output
    assert len(json.loads(run("source", "list", "--json"))) == 1


def test_embedders_list_names_the_auto_choice(run) -> None:  # type: ignore[no-untyped-def]
    output = run("embedders", "list")
    assert "fake" in output and "auto picks:" in output
    assert output.splitlines()[0].split() == ["name", "available", "priority", "what"]
    assert run("models", "list") == output  # the old name still works (hidden)
    listed = [line.split()[1] for line in run("--help").splitlines() if line.startswith("│ ")]
    assert "embedders" in listed and "model" in listed and "models" not in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", ""), "query must not be empty"),
        (("search", "a person", "--source", "walkwya"), "did you mean 'walkway'?"),
        (("search", "--image", "/nonexistent.jpg"), "no such file"),
        (("search", "x", "--since", "yesterday"), "ISO 8601"),
        (("search", "x", "--objects", "--class", "persn"), "did you mean 'person'?"),
    ],
)
def test_arguments_are_checked_before_any_model_loads(  # type: ignore[no-untyped-def]
    run, vtest_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    run("source", "add", str(vtest_path), "--name", "walkway")

    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr("vigil.context.create_embedder", no_model)
    output = run(*args, code=1)
    assert "error:" in output and message in output


def test_an_empty_filtered_search_says_which_filter(run, vtest_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("source", "add", str(vtest_path), "--name", "walkway")
    assert "no frames indexed yet ('vigil index' first)" in run("search", "people")
    run("index", "--interval", "8", "--dedup", "0")
    output = run("search", "people", "--since", "2026-11-23T08:00:00+00:00")
    assert "10 frames are indexed, but the filters exclude them all" in output
    assert "frames of video files have none" in output

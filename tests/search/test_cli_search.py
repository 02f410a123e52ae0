"""``vigil search`` flags and ``vigil match`` end to end on the two real cameras (fake embedder)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.search.conftest import CLIP_START, SECOND_CAMERA_FROM
from vigil.cli.main import app

Run = Callable[..., str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, two_cameras: tuple[Path, Path]) -> Run:
    home = tmp_path_factory.mktemp("cli-search") / "workspace"
    runner = CliRunner()
    env = {"VIGIL_HOME": str(home), "VIGIL_EMBEDDER__NAME": "fake"}

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    invoke("source", "add", str(two_cameras[0]), "--name", "gate", "--site", "north")
    invoke("source", "add", str(two_cameras[1]), "--name", "lawn", "--site", "south")
    output = invoke("index", "--objects", "--interval", "5", "--dedup", "0")
    assert "objects:" in output and "person" in output
    return invoke


def _hits(output: str) -> list[dict[str, object]]:
    hits = json.loads(output)["hits"]
    assert isinstance(hits, list)
    return hits


def test_object_search_with_class_score_and_pages(run: Run) -> None:
    args = ("search", "a person", "--objects", "--class", "person", "--min-score", "0.5")
    first = _hits(run(*args, "-n", "3", "--json"))
    second = _hits(run(*args, "-n", "3", "--offset", "3", "--json"))
    whole = _hits(run(*args, "-n", "6", "--json"))
    assert [h["object"] for h in first + second] == [h["object"] for h in whole]
    for hit in whole:
        obj = hit["object"]
        assert isinstance(obj, dict)
        assert obj["label"] == "person" and float(obj["score"]) >= 0.5
        assert Path(str(obj["crop"])).is_file()


def test_site_and_time_filters(run: Run) -> None:
    south = _hits(run("search", "people", "--site", "south", "-n", "50", "--json"))
    assert south and {h["source"] for h in south} == {"lawn"}
    since = CLIP_START.replace(second=0).isoformat()
    until_s = CLIP_START.timestamp() + SECOND_CAMERA_FROM - 1
    until = type(CLIP_START).fromtimestamp(until_s, tz=CLIP_START.tzinfo).isoformat()
    early = _hits(run("search", "people", "--since", since, "--until", until, "-n", "50", "--json"))
    assert early and {h["source"] for h in early} == {"gate"}


def test_image_and_more_like_this(run: Run) -> None:
    [top] = _hits(run("search", "people", "--source", "gate", "-n", "1", "--json"))
    by_image = _hits(run("search", "--image", str(top["thumbnail"]), "-n", "1", "--json"))
    assert by_image[0]["frame_id"] == top["frame_id"]
    like = _hits(run("search", "--like-frame", str(top["frame_id"]), "-n", "3", "--json"))
    assert len(like) == 3 and top["frame_id"] not in {h["frame_id"] for h in like}
    [person] = _hits(run("search", "a person", "--objects", "-n", "1", "--json"))
    assert isinstance(person["object"], dict)
    object_id = str(person["object"]["id"])
    similar = _hits(run("search", "--like-object", object_id, "-n", "3", "--json"))
    assert similar and all(isinstance(h["object"], dict) for h in similar)


def test_match_lists_other_cameras_by_time(run: Run) -> None:
    [person] = _hits(
        run("search", "a person", "--objects", "--source", "gate", "-n", "1", "--json")
    )
    assert isinstance(person["object"], dict)
    matches = json.loads(run("match", str(person["object"]["id"]), "-n", "5", "--json"))
    rows = matches["matches"]
    assert rows and {row["source"] for row in rows} == {"lawn"}
    times = [row["captured_at"] for row in rows]
    assert times == sorted(times)
    assert all(row["object"]["label"] == "person" for row in rows)
    assert "colour" in run("match", str(person["object"]["id"]), "-n", "2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search",), "exactly one query"),
        (("search", "people", "--like-frame", "1"), "exactly one query"),
        (("search", "people", "--since", "yesterday"), "ISO 8601"),
        (("search", "people", "--since", "2026-11-02T08:00:00"), "time zone"),
        (
            ("search", "people", "--since", "2026-11-02T09:00Z", "--until", "2026-11-02T08:00Z"),
            "ends before it starts",
        ),
        (("search", "--image", "/nonexistent.png"), "cannot read"),
        (("search", "--image", __file__), "not an image"),
        (("search", "--like-frame", "999999"), "no frame with id 999999"),
        (("search", "--like-object", "999999"), "no object with id 999999"),
        (("search", "people", "--source", "nowhere"), "nowhere"),
        (("match", "999999"), "no object with id 999999"),
    ],
)
def test_bad_input_is_one_clear_line(run: Run, args: tuple[str, ...], message: str) -> None:
    output = run(*args, code=1)
    assert "error:" in output and message in output and "Traceback" not in output


def test_search_says_whether_anything_matches_and_why(run: Run) -> None:
    answer = json.loads(run("search", "no people", "-n", "3", "--json"))
    assert answer["confident"] is False  # people walk through every frame of the walkway
    assert answer["message"].startswith("no confident match for 'no people'; nearest: ")
    assert answer["predicates"] == ["no people -> count(person) = 0"]
    for hit in answer["hits"]:
        assert 0 <= hit["confidence"] <= 1
        assert hit["why"]["predicates"][0]["holds"] is False
        assert hit["why"]["detected"]["person"] >= 1
    text = run("search", "two people", "-n", "2", "--why")
    assert "parsed: two people -> count(person) = 2" in text
    assert "why: " in text and "person detected" in text
    clash = run("search", "no people in a crowd", "--json")
    assert json.loads(clash)["hits"] == [] and "contradictory" in json.loads(clash)["notes"][0]

"""Trusted search on the real clip (fake embedder): confidence, why, predicates, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.search.trust import CONFIDENT, trusted_search
from vigil.workspace import Workspace


def _search(workspace: Workspace, query: str, **options: object) -> object:
    return workspace.archive.search_trusted(query, **options)  # type: ignore[arg-type]


def test_every_hit_has_a_confidence_and_a_why(cameras: Workspace) -> None:
    result = cameras.archive.search_trusted("a person", limit=5)
    assert len(result.hits) == 5
    plain = cameras.search("a person", limit=5)
    assert [h.hit.embedding_id for h in result.hits] == [h.embedding_id for h in plain]
    for found in result.hits:
        assert 0.0 <= found.confidence <= 1.0
        assert found.why.detected.get("person", 0) >= 1  # walkway frames hold people
        assert found.why.concepts  # the concepts nearest the stored vector
    assert result.confident == any(h.confidence >= CONFIDENT for h in result.hits) or (
        not result.confident
    )
    assert "not fitted" in result.calibration  # the fake backend has no fitted calibration


def test_counts_are_checked_on_stored_objects(cameras: Workspace) -> None:
    result = cameras.archive.search_trusted("two people", limit=3)
    assert result.predicates == ["two people -> count(person) = 2"]
    top = result.hits[0]
    [check] = top.why.predicates
    assert check.holds is (top.why.detected.get("person", 0) == 2)
    # Hits that satisfy the count come before hits that do not.
    holds = [h.why.predicates[0].holds for h in result.hits]
    assert holds == sorted(holds, reverse=True)


def test_no_people_on_a_walkway_full_of_people_is_not_confident(cameras: Workspace) -> None:
    result = cameras.archive.search_trusted("no people", limit=5)
    assert result.semantic_query is None
    assert not result.confident
    assert result.headline().startswith("no confident match for 'no people'")
    assert all(h.why.predicates[0].holds is False for h in result.hits)


def test_colour_predicates_read_stored_object_colours(cameras: Workspace) -> None:
    result = cameras.archive.search_trusted("a person in a red top", limit=5)
    [check] = result.hits[0].why.predicates
    assert check.words == "red top" and "red" in check.detail
    assert any(line.startswith("person") for line in result.hits[0].why.attributes)


def test_time_of_day_falls_back_to_brightness(cameras: Workspace) -> None:
    day = cameras.archive.search_trusted("people during the day", limit=1).hits[0]
    night = cameras.archive.search_trusted("people at night", limit=1).hits[0]
    assert day.why.predicates[0].holds is True  # captured 08:00 UTC, daylight
    assert night.why.predicates[0].holds is False
    assert day.confidence > night.confidence


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("no people in a crowd", "contradictory query: 'no people' and 'crowd' cannot both hold"),
        ("the of a", "the query has only stop words"),
        ("a turquoise car", "'turquoise' is not a palette colour"),
        ("一只鸭嘴兽", "'鸭嘴兽' is not in the Chinese lexicon"),
        ("a red car " * 1000, "query cut to its first 1000 of 10000 characters"),
    ],
)
def test_bad_input_gets_a_clear_answer(cameras: Workspace, query: str, note: str) -> None:
    result = cameras.archive.search_trusted(query, limit=3)
    assert any(n.startswith(note) for n in result.notes), result.notes


def test_empty_query_is_a_clear_error(cameras: Workspace) -> None:
    from vigil.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="must not be empty"):
        trusted_search(
            "  ",
            catalog=cameras.catalog,
            vector_index=cameras.vector_index,
            embedder=cameras.embedder,
        )


def test_image_queries_say_whether_they_match(cameras: Workspace) -> None:
    thumbnail = cameras.search("a person", limit=1)[0].frame.thumbnail_path
    result = cameras.archive.search_trusted((cameras.home / thumbnail).read_bytes(), limit=3)
    assert result.hits and 0.0 <= result.hits[0].confidence <= 1.0
    assert isinstance(result.confident, bool)


def test_empty_archive_answers_no_confident_match(workspace: Workspace) -> None:
    result = workspace.archive.search_trusted("a person")
    assert not result.confident and result.hits == []
    assert result.notes == ["nothing is indexed yet"]


def test_stored_calibration_is_used_only_for_its_own_model(cameras: Workspace) -> None:
    from vigil.search.trust import FEATURES, _stored_calibrations, calibration_for

    assert not calibration_for(cameras.embedder).fitted  # the fake backend: rule, said so
    entry = _stored_calibrations()["concept-bridge"]["text"]
    assert entry["features"] == list(FEATURES) and len(entry["weights"]) == len(FEATURES)
    assert entry["fitted_on"].startswith("Fashion-MNIST train")


def test_a_read_only_archive_answers_without_writing(cameras: Workspace) -> None:
    settings = cameras.settings.model_copy(update={"read_only": True})
    with Workspace.open(settings) as opened:
        result = opened.archive.search_trusted("a person in a red top at night", limit=2)
    assert len(result.hits) == 2 and [p.words for p in result.hits[0].why.predicates] == [
        "red top",
        "at night",
    ]


def test_counts_on_frames_never_scanned_are_unknown_and_said(
    workspace: Workspace, vtest_path: Path
) -> None:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index(max_frames=2)  # frames only, no object pass
    result = workspace.archive.search_trusted("no people", limit=2)
    assert not result.confident and all(h.why.predicates[0].holds is None for h in result.hits)
    assert "some frames were never scanned for objects: run 'vigil index --objects'" in result.notes


def test_a_confident_query_paged_past_its_last_hit_says_so() -> None:
    # Found by schemathesis: GET /api/v1/search?q=version&offset=477 was a 500.
    from vigil.search.trust import TrustedResult

    page = TrustedResult(query="version", confident=True, hits=[])
    assert page.headline() == "confident match for 'version'; no more hits past this offset"

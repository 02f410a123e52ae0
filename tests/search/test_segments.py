"""Segments: hits on one source merged into events, checked on real indexed video.

Logic tests use the two real "cameras" cut from vtest.avi (fake embedder, one
frame every 3 s); the real-model test indexes 30 s of vtest at 1 s with the
concept-bridge model and asks for people on the walkway.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.embedders.base import Embedder, create_embedder
from vigil.errors import InvalidInputError
from vigil.search.segments import Segment, default_gap, merge_segments
from vigil.search.types import SearchHit
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

INTERVAL_S = 3.0  # the cameras fixture samples one frame every 3 s


@pytest.fixture(scope="module")
def hits(cameras: Workspace) -> list[SearchHit]:
    """Every indexed frame of both cameras, ranked against one query."""
    return cameras.search("people walking on a path", limit=100)


def _check_partition(segments: list[Segment], hits: list[SearchHit], gap: float) -> None:
    assert sum(s.hits for s in segments) == len(hits)
    assert [s.rank for s in segments] == list(range(1, len(segments) + 1))
    peaks = [s.peak_score for s in segments]
    assert peaks == sorted(peaks, reverse=True)
    for segment in segments:
        assert segment.start <= segment.best.frame.media_time <= segment.end
        assert segment.best.source.id == segment.source.id
        assert segment.peak_score == segment.best.score
        mine = sorted(
            h.frame.media_time
            for h in hits
            if h.source.id == segment.source.id
            and segment.start <= h.frame.media_time <= segment.end
        )
        assert len(mine) == segment.hits  # no other segment overlaps this one
        assert all(b - a <= gap for a, b in itertools.pairwise(mine))
        assert segment.best.score == max(
            h.score
            for h in hits
            if h.source.id == segment.source.id
            and segment.start <= h.frame.media_time <= segment.end
        )
    by_source: dict[int, list[Segment]] = {}
    for segment in segments:
        by_source.setdefault(segment.source.id, []).append(segment)
    for runs in by_source.values():
        runs.sort(key=lambda s: s.start)
        assert all(b.start - a.end > gap for a, b in itertools.pairwise(runs))


def test_every_hit_lands_in_exactly_one_segment(hits: list[SearchHit]) -> None:
    assert len(hits) == 20  # 2 cameras x 30 s / 3 s
    gap = default_gap(INTERVAL_S)
    segments = merge_segments(hits, gap_s=gap)
    _check_partition(segments, hits, gap)
    # Every frame was returned, so each camera is one unbroken event.
    assert len(segments) == 2
    assert {s.source.name for s in segments} == {"gate", "lawn"}
    assert all(s.hits == 10 and s.duration == pytest.approx(27.0) for s in segments)


def test_a_gap_shorter_than_the_interval_splits_every_frame(hits: list[SearchHit]) -> None:
    segments = merge_segments(hits, gap_s=INTERVAL_S / 2)
    _check_partition(segments, hits, INTERVAL_S / 2)
    assert len(segments) == 20 and all(s.hits == 1 and s.duration == 0 for s in segments)
    assert segments[0].best == max(hits, key=lambda h: h.score)


def test_a_partial_hit_list_splits_where_samples_are_missing(hits: list[SearchHit]) -> None:
    """The top half of a ranking leaves holes in time: holes wider than the gap split."""
    top = hits[:10]
    gap = default_gap(INTERVAL_S)
    segments = merge_segments(top, gap_s=gap)
    _check_partition(segments, top, gap)
    limited = merge_segments(top, gap_s=gap, limit=2)
    assert limited == segments[:2]


def test_bad_arguments_are_refused(hits: list[SearchHit]) -> None:
    assert merge_segments([], gap_s=1.0) == []
    with pytest.raises(InvalidInputError, match="gap_s must be >= 0"):
        merge_segments(hits, gap_s=-1)
    with pytest.raises(InvalidInputError, match="limit must be >= 1"):
        merge_segments(hits, gap_s=1, limit=0)
    with pytest.raises(InvalidInputError, match="interval_s must be > 0"):
        default_gap(0)


def test_workspace_search_segments_uses_the_sampling_interval(cameras: Workspace) -> None:
    assert cameras.settings.sampling.interval_s == INTERVAL_S
    segments = cameras.search_segments("people walking on a path", candidates=100, limit=5)
    assert len(segments) == 2 and segments[0].rank == 1
    one_source = cameras.search_segments("people", candidates=100, sources=["lawn"])
    assert [s.source.name for s in one_source] == ["lawn"]
    with pytest.raises(InvalidInputError, match="limit and candidates must be >= 1"):
        cameras.search_segments("people", candidates=0)


@pytest.fixture(scope="session")
def concept_bridge() -> Embedder:
    return create_embedder(EmbedderSettings(name="concept-bridge"))


@pytest.fixture(scope="module")
def walkway(
    tmp_path_factory: pytest.TempPathFactory, vtest_path: Path, concept_bridge: Embedder
) -> Iterator[Workspace]:
    """The first 30 s of vtest.avi, one frame a second, embedded by the real model."""
    settings = Settings(
        home=tmp_path_factory.mktemp("segments") / "workspace",
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings, embedder=concept_bridge) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        workspace.index(max_frames=30)
        yield workspace


@pytest.mark.real_model
def test_real_query_answers_with_events_not_frames(walkway: Workspace) -> None:
    hits = walkway.search("a person walking", limit=30)
    assert len(hits) == 30
    segments = walkway.search_segments("a person walking", candidates=12)
    # Twelve best frames of a clip where people walk all the time: far fewer events.
    assert 1 <= len(segments) < 12
    assert sum(s.hits for s in segments) == 12
    assert segments[0].hits >= 2
    assert segments[0].best == hits[0]  # the best event holds the best frame
    assert all(0.0 <= s.start <= s.end <= 30.0 for s in segments)


def test_cli_search_segments_prints_events(cameras: Workspace) -> None:
    from typer.testing import CliRunner

    from vigil.cli.main import app

    runner = CliRunner()
    base = ["--home", str(cameras.home), "--embedder", "fake", "search"]
    shown = runner.invoke(app, [*base, "people walking", "--segments", "-n", "5"])
    assert shown.exit_code == 0, shown.output
    assert "hits" in shown.output and "best t=" in shown.output
    as_json = runner.invoke(app, [*base, "people walking", "--segments", "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)["segments"]
    assert rows and rows[0]["rank"] == 1 and rows[0]["start"] <= rows[0]["end"]
    bad = runner.invoke(app, [*base, "--like-frame", "1", "--segments"])
    assert bad.exit_code == 1 and "--segments needs a query in words" in bad.output

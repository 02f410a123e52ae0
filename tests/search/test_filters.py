"""Filters, pagination, image queries and bad input on two real cameras (fake embedder)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.search.conftest import CLIP_START, SECOND_CAMERA_FROM
from vigil.errors import InvalidInputError, NotFoundError
from vigil.search.text import MAX_RESULTS, decode_image
from vigil.search.types import SearchFilters
from vigil.workspace import Workspace


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_source_and_site_filters_keep_only_their_camera(cameras: Workspace) -> None:
    _gate, lawn = cameras.list_sources()
    by_source = cameras.search("people walking", limit=50, sources=["lawn"])
    by_site = cameras.search("people walking", limit=50, filters=SearchFilters(sites=("south",)))
    assert {h.source.id for h in by_source} == {h.source.id for h in by_site} == {lawn.id}
    assert [h.embedding_id for h in by_source] == [h.embedding_id for h in by_site]
    assert len(by_source) == 10  # 30 s sampled every 3 s
    assert cameras.search("x", filters=SearchFilters(sites=("nowhere",))) == []


def test_time_windows_on_capture_time_and_media_time(cameras: Workspace) -> None:
    since = CLIP_START + timedelta(seconds=SECOND_CAMERA_FROM + 10)
    late = cameras.search("a", limit=100, filters=SearchFilters(since=since))
    assert late and all(h.frame.captured_at is not None for h in late)
    assert all(h.frame.captured_at >= since for h in late)  # type: ignore[operator]
    assert {h.source.name for h in late} == {"lawn"}
    early = cameras.search("a", limit=100, filters=SearchFilters(media_start_s=0, media_end_s=5))
    assert {round(h.frame.media_time) for h in early} == {0, 3}
    assert {h.source.name for h in early} == {"gate", "lawn"}


def test_object_filters_by_class_and_detector_score(cameras: Workspace) -> None:
    people = cameras.search(
        "a person",
        target="objects",
        limit=200,
        filters=SearchFilters(classes=("person",), min_detection_score=0.6),
    )
    assert len(people) >= 10
    for hit in people:
        assert hit.object is not None
        assert hit.object.label == "person" and hit.object.score >= 0.6
        assert hit.object.frame_id == hit.frame.id
    assert cameras.search("a", target="objects", filters=SearchFilters(classes=("zebra",))) == []


def test_pages_are_slices_of_one_ranking(cameras: Workspace) -> None:
    whole = cameras.search("a person on the walkway", limit=12)
    first = cameras.search("a person on the walkway", limit=6)
    second = cameras.search("a person on the walkway", limit=6, offset=6)
    assert [h.embedding_id for h in first + second] == [h.embedding_id for h in whole]
    assert [h.rank for h in second] == list(range(7, 13))
    threshold = whole[3].score
    kept = cameras.search(
        "a person on the walkway", limit=12, filters=SearchFilters(min_similarity=threshold)
    )
    assert [h.embedding_id for h in kept] == [h.embedding_id for h in whole[:4]]


def test_image_query_finds_its_own_frame_and_more_like_it_excludes_it(
    cameras: Workspace,
) -> None:
    [hit] = cameras.search("a", limit=1, sources=["gate"])
    picture = np.asarray(Image.open(cameras.home / hit.frame.thumbnail_path).convert("RGB"))
    by_bytes = cameras.search_image(_png(picture), limit=3)
    by_array = cameras.search_image(picture, limit=3)
    assert by_bytes[0].frame.id == by_array[0].frame.id == hit.frame.id
    like = cameras.more_like(frame_id=hit.frame.id, limit=5)
    assert len(like) == 5 and hit.frame.id not in {h.frame.id for h in like}
    [obj_hit] = cameras.search("a", target="objects", limit=1)
    assert obj_hit.object is not None
    similar = cameras.more_like(object_id=obj_hit.object.id, limit=5)
    assert similar and all(h.object is not None for h in similar)
    assert obj_hit.object.id not in {h.object.id for h in similar if h.object}


def test_bad_queries_are_clear_errors(cameras: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        cameras.search_image(b"")
    with pytest.raises(InvalidInputError, match="not an image"):
        cameras.search_image(b"GIF89a but not really" * 10)
    with pytest.raises(InvalidInputError, match="MB"):
        decode_image(b"\x89PNG" + bytes(2000), max_bytes=1000)
    with pytest.raises(NotFoundError, match="no frame with id 999999"):
        cameras.more_like(frame_id=999_999)
    with pytest.raises(NotFoundError, match="no object with id 999999"):
        cameras.more_like(object_id=999_999)
    with pytest.raises(NotFoundError):
        cameras.search("a", sources=["no-such-camera"])
    with pytest.raises(InvalidInputError, match="ends before it starts"):
        SearchFilters(since=CLIP_START, until=CLIP_START - timedelta(seconds=1))
    with pytest.raises(InvalidInputError, match="time zone"):
        SearchFilters(since=datetime(2026, 11, 2, 8, 0))
    with pytest.raises(InvalidInputError, match="limit"):
        cameras.search("a", limit=MAX_RESULTS + 1)
    with pytest.raises(InvalidInputError, match="offset"):
        cameras.search("a", limit=10, offset=MAX_RESULTS)
    with pytest.raises(InvalidInputError, match="empty"):
        cameras.search("   ")


def test_a_query_on_an_empty_index_returns_no_hits(workspace: Workspace) -> None:
    assert workspace.search("a person") == []
    assert workspace.search("a person", target="objects") == []


def test_filters_see_records_added_and_removed_after_a_first_query(
    workspace: Workspace, two_cameras: tuple[Path, Path]
) -> None:
    gate = workspace.add_source(str(two_cameras[0]), name="gate", site="north")
    workspace.index()
    frames = len(workspace.search("a", limit=100, sources=["gate"]))  # columns now cached
    assert frames >= 10
    workspace.add_source(str(two_cameras[1]), name="lawn", site="south")
    workspace.index()
    south = workspace.search("a", limit=100, filters=SearchFilters(sites=("south",)))
    assert len(south) == frames and {h.source.name for h in south} == {"lawn"}
    workspace.remove_source("gate")
    gone = workspace.search("a", limit=100, filters=SearchFilters(sources=(gate.id,)))
    assert gone == []
    left = workspace.search("a", limit=100, filters=SearchFilters(media_start_s=0))
    assert len(left) == frames

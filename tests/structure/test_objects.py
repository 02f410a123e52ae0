"""Object structuring on the real clip: SSD boxes stored with crops and vectors (fake embedder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.catalog.objects import ObjectVectors, count_objects, get_object
from vigil.settings import Settings
from vigil.structure.objects import crop_box
from vigil.workspace import Workspace

FRAMES = 12  # one a second: people walk through every one of them


@pytest.fixture
def indexed(workspace: Workspace, vtest_path: Path) -> Workspace:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index(max_frames=FRAMES, objects=True)
    return workspace


def test_people_are_found_cropped_embedded_and_indexed(indexed: Workspace) -> None:
    [source] = indexed.list_sources()
    counts = count_objects(indexed.catalog, source.id)
    # The walkway clip is pedestrians: person dominates every frame.
    assert counts.get("person", 0) >= 2 * FRAMES
    total = sum(counts.values())
    model_id = indexed.embedder.model_id
    ids = ObjectVectors(indexed.catalog).embedding_ids(model_id)
    assert ids.size == total == len(indexed.object_index)
    hits = indexed.search("a person", target="objects", limit=5)
    assert len(hits) == 5
    obj = hits[0].object
    assert obj is not None and obj.frame_id == hits[0].frame.id
    x1, y1, x2, y2 = obj.box
    assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
    assert obj.score >= indexed.settings.objects.min_score
    assert (indexed.home / obj.thumbnail_path).is_file()
    assert get_object(indexed.catalog, obj.id) == obj


def test_object_pass_resumes_and_adds_nothing_twice(indexed: Workspace) -> None:
    before = len(indexed.object_index)
    [report] = indexed.index_objects()
    assert report.frames_scanned == 0 and report.objects_stored == 0
    assert len(indexed.object_index) == before


def test_object_pass_continues_where_it_stopped(workspace: Workspace, vtest_path: Path) -> None:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index(max_frames=FRAMES)
    [first] = workspace.index_objects(max_frames=5)
    [rest] = workspace.index_objects()
    assert (first.frames_scanned, rest.frames_scanned) == (5, FRAMES - 5)
    assert first.frames_per_second > 0


def test_class_and_score_settings_limit_what_is_stored(
    fake_settings: Settings, vtest_path: Path
) -> None:
    settings = fake_settings.model_copy(
        update={
            "objects": fake_settings.objects.model_copy(
                update={"classes": ["bicycle"], "min_score": 0.9}
            )
        }
    )
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        [report] = workspace.index(max_frames=4, objects=True)
        assert report.objects is not None and report.objects.frames_scanned == 4
        assert set(count_objects(workspace.catalog)) <= {"bicycle"}


def test_removing_a_source_removes_its_objects_and_vectors(indexed: Workspace) -> None:
    [source] = indexed.list_sources()
    assert len(indexed.object_index) > 0
    indexed.remove_source(source.id)
    assert len(indexed.object_index) == 0
    assert count_objects(indexed.catalog) == {}
    assert not (indexed.home / "objects" / str(source.id)).exists()


def test_objects_index_is_rebuilt_from_the_catalog(
    fake_settings: Settings, vtest_path: Path
) -> None:
    with Workspace.open(fake_settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        workspace.index(max_frames=3, objects=True)
        count = len(workspace.object_index)
        path = workspace.object_index.path
    assert path is not None and path.name.endswith(".objects.faiss")
    path.unlink()
    with Workspace.open(fake_settings) as reopened:
        assert len(reopened.object_index) == count > 0


def test_crop_keeps_a_margin_and_stays_inside_the_image() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    assert crop_box(image, (10.0, 10.0, 30.0, 50.0), 0.1).shape == (48, 24, 3)
    assert crop_box(image, (190.0, 90.0, 200.0, 100.0), 0.5).shape == (15, 15, 3)


def test_boxes_repeating_the_previous_frame_copy_its_vector(indexed: Workspace) -> None:
    """The parked vans and cars repeat frame after frame: their crops are not embedded again."""
    import itertools

    import supervision as sv

    from vigil.catalog.objects import objects_for_embeddings

    [source] = indexed.list_sources()
    table = ObjectVectors(indexed.catalog)
    ids = table.embedding_ids(indexed.embedder.model_id)
    found = objects_for_embeddings(indexed.catalog, ids)
    vectors = dict(zip(ids.tolist(), table.get_vectors(ids), strict=True))
    by_frame: dict[int, list[tuple[int, object]]] = {}
    for embedding_id, (obj, frame, _) in found.items():
        by_frame.setdefault(frame.frame_index, []).append((embedding_id, obj))
    frames = sorted(by_frame)
    copied = 0
    for before, after in itertools.pairwise(frames):
        for embedding_id, obj in by_frame[after]:
            for earlier_id, earlier in by_frame[before]:
                if earlier.label != obj.label:  # type: ignore[attr-defined]
                    continue
                iou = sv.box_iou_batch(np.asarray([obj.box]), np.asarray([earlier.box]))[0, 0]  # type: ignore[attr-defined]
                if iou >= 0.5 and np.array_equal(vectors[embedding_id], vectors[earlier_id]):
                    copied += 1
                    break
    assert copied >= FRAMES // 2  # at least the parked vehicles, in most frames
    assert source.id == 1


def test_objects_ride_on_the_frame_pass_without_decoding_again(
    workspace: Workspace, vtest_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``index(objects=True)`` crops the frames it has just decoded: no second decode."""
    import vigil.structure.objects as objects_module

    def no_second_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("the object pass decoded the source again")

    monkeypatch.setattr(objects_module, "stored_frame_images", no_second_decode)
    workspace.add_source(str(vtest_path), name="walkway")
    [report] = workspace.index(max_frames=5, objects=True)
    assert report.objects is not None
    assert report.objects.frames_scanned == report.frames_written == 5
    assert report.objects.objects_stored == sum(count_objects(workspace.catalog).values()) > 0
    assert workspace.detector.network_images == 5  # each sampled frame detected once


def test_the_concept_bridge_runs_the_ssd_once_per_frame_for_both_passes(
    fake_settings: Settings, vtest_path: Path
) -> None:
    """The frame vector's detections are the object pass's detections: one SSD run."""
    from vigil.embedders.concept_bridge import ConceptBridgeEmbedder

    bridge = ConceptBridgeEmbedder()
    settings = fake_settings.model_copy(
        update={"embedder": fake_settings.embedder.model_copy(update={"name": "concept-bridge"})}
    )
    with Workspace.open(settings, embedder=bridge) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        [report] = workspace.index(max_frames=3, objects=True)
        assert workspace.detector is bridge.detector
        assert report.objects is not None and report.objects.frames_scanned == 3
        assert bridge.detector.network_images == 3
        assert count_objects(workspace.catalog).get("person", 0) >= 3


def test_an_error_in_the_object_stage_reaches_the_caller() -> None:
    from vigil.errors import CatalogError
    from vigil.structure.objects import StageWorker

    done: list[int] = []

    def work(frames: list[object]) -> None:
        if not frames:
            raise CatalogError("disk full")
        done.append(len(frames))

    worker = StageWorker(work)  # type: ignore[arg-type]
    worker.submit([object()])  # type: ignore[list-item]
    worker.submit([])
    with pytest.raises(CatalogError, match="disk full"):
        worker.close()
    assert done == [1]
    quiet = StageWorker(work)  # type: ignore[arg-type]
    quiet.submit([])
    quiet.close(raise_error=False)  # the caller's own error wins: nothing raised here

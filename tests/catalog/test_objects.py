"""Object records in the catalog (SQLite and PostgreSQL): real SSD boxes on real frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vigil.catalog.objects import (
    NewObject,
    ObjectVectors,
    ScannedFrame,
    add_scanned_frames,
    count_objects,
    frame_embedding_id,
    frames_to_scan,
    get_object,
    object_embedding_id,
    objects_for_embeddings,
)
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.vector_index import VectorIndex
from vigil.embedders.concept_bridge import load_coco_classes
from vigil.embedders.detector import DETECTOR_ID, CocoDetector
from vigil.embedders.fake import FakeEmbedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.settings import IndexSettings
from vigil.sources.types import Source

from .conftest import RealFrames

FRAMES = 4


@pytest.fixture(scope="module")
def detections(vtest_path: Path) -> list[list[NewObject]]:
    """SSD detections of frames 0, 10, 20, 30 of the clip (people on the walkway)."""
    detector = CocoDetector({k: c.name for k, c in load_coco_classes().items()})
    images = []
    with av.open(str(vtest_path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 10 == 0:
                images.append(frame.to_ndarray(format="rgb24"))
            if len(images) == FRAMES:
                break
    found = detector.detect_batch(images, 0.4)
    return [
        [
            NewObject.from_detection(d, f"objects/1/{i:012d}_{n:02d}.jpg")
            for n, d in enumerate(items)
        ]
        for i, items in enumerate(found)
    ]


def _store(
    catalog: Catalog, walkway: Source, real_frames: RealFrames, detections: list[list[NewObject]]
) -> tuple[list[ScannedFrame], list[int]]:
    catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames[:FRAMES], real_frames.vectors[:FRAMES]
    )
    todo = frames_to_scan(catalog, walkway.id, real_frames.model_id, DETECTOR_ID)
    assert len(todo) == FRAMES
    scanned = [ScannedFrame(frame, objs) for frame, objs in zip(todo, detections, strict=True)]
    total = sum(len(objs) for objs in detections)
    vectors = FakeEmbedder().embed_texts([f"object {i}" for i in range(total)])
    return scanned, add_scanned_frames(catalog, real_frames.model_id, DETECTOR_ID, scanned, vectors)


def test_objects_round_trip_and_scans_are_marked(
    catalog: Catalog,
    walkway: Source,
    real_frames: RealFrames,
    detections: list[list[NewObject]],
) -> None:
    scanned, ids = _store(catalog, walkway, real_frames, detections)
    total = sum(len(objs) for objs in detections)
    assert total >= FRAMES and len(ids) == total
    assert frames_to_scan(catalog, walkway.id, real_frames.model_id, DETECTOR_ID) == []
    # A retried batch writes nothing twice.
    again = add_scanned_frames(
        catalog,
        real_frames.model_id,
        DETECTOR_ID,
        scanned,
        np.zeros((total, 32), dtype=np.float32),
    )
    assert again == []
    assert count_objects(catalog)["person"] >= FRAMES
    found = objects_for_embeddings(catalog, ids)
    obj, frame, source = found[ids[0]]
    assert source == walkway and frame.id == scanned[0].frame.id
    assert obj.label == detections[0][0].label
    assert obj.box == pytest.approx(detections[0][0].box)
    assert get_object(catalog, obj.id) == obj
    assert object_embedding_id(catalog, obj.id, real_frames.model_id) == ids[0]
    vectors = ObjectVectors(catalog)
    assert vectors.embedding_ids(real_frames.model_id).tolist() == ids
    assert vectors.model_dim(real_frames.model_id) == 32
    assert vectors.get_vectors(ids[:2]).shape == (2, 32)


def test_unknown_ids_are_clear_errors(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    with pytest.raises(NotFoundError, match="no object with id 999"):
        get_object(catalog, 999)
    with pytest.raises(NotFoundError, match="no frame with id 999"):
        frame_embedding_id(catalog, 999, real_frames.model_id)
    with pytest.raises(NotFoundError, match="object vector"):
        ObjectVectors(catalog).get_vectors([12345])
    with pytest.raises(InvalidInputError, match="x1<x2"):
        NewObject(
            xyxy=(10.0, 10.0, 5.0, 20.0),
            label="person",
            score=0.9,
            class_id=1,
            thumbnail_path="x.jpg",
        )


def test_wrong_vector_count_stores_nothing(
    catalog: Catalog,
    walkway: Source,
    real_frames: RealFrames,
    detections: list[list[NewObject]],
) -> None:
    catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames[:1], real_frames.vectors[:1]
    )
    [frame] = frames_to_scan(catalog, walkway.id, real_frames.model_id, DETECTOR_ID)
    with pytest.raises(InvalidInputError, match="object vectors"):
        add_scanned_frames(
            catalog,
            real_frames.model_id,
            DETECTOR_ID,
            [ScannedFrame(frame, detections[0])],
            np.zeros((len(detections[0]) + 1, 32), dtype=np.float32),
        )
    assert count_objects(catalog) == {}


def test_removing_the_source_cascades_and_sync_drops_the_vectors(
    catalog: Catalog,
    walkway: Source,
    real_frames: RealFrames,
    detections: list[list[NewObject]],
) -> None:
    _, ids = _store(catalog, walkway, real_frames, detections)
    index = VectorIndex(None, 32, IndexSettings(), model_id=real_frames.model_id)
    report = sync_with_catalog(index, ObjectVectors(catalog), real_frames.model_id)
    assert report.added == len(ids) == len(index)
    catalog.remove_source(walkway.id)
    assert count_objects(catalog) == {}
    sync_with_catalog(index, ObjectVectors(catalog), real_frames.model_id)
    assert len(index) == 0

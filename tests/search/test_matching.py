"""Cross-camera matching on two real cameras cut from the walkway clip."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vigil.embedders.concept_bridge import load_coco_classes
from vigil.embedders.detector import CocoDetector
from vigil.errors import InvalidInputError, NotFoundError
from vigil.search.matching import appearance_descriptor, appearance_similarity
from vigil.search.types import SearchFilters
from vigil.structure.objects import crop_box
from vigil.workspace import Workspace


def _person_in(cameras: Workspace, camera: str) -> int:
    hits = cameras.search(
        "a person",
        target="objects",
        limit=1,
        sources=[camera],
        filters=SearchFilters(classes=("person",), min_detection_score=0.7),
    )
    assert hits and hits[0].object is not None
    return hits[0].object.id


def test_matches_are_same_class_on_other_cameras_in_time_order(cameras: Workspace) -> None:
    gate, _lawn = cameras.list_sources()
    matches = cameras.match_object(_person_in(cameras, "lawn"), limit=8)
    assert len(matches) == 8
    assert {m.hit.source.id for m in matches} == {gate.id}
    assert all(m.hit.object is not None and m.hit.object.label == "person" for m in matches)
    times = [m.hit.frame.captured_at for m in matches]
    assert times == sorted(times)  # type: ignore[type-var]
    for match in matches:
        assert 0.0 <= match.appearance <= 1.0
        assert match.combined == pytest.approx(0.5 * match.hit.score + 0.5 * match.appearance)


def test_matching_respects_filters_and_rejects_unknown_objects(cameras: Workspace) -> None:
    query = _person_in(cameras, "gate")
    assert cameras.match_object(query, filters=cameras.filters(sources=["gate"])) == []
    late = cameras.match_object(query, filters=SearchFilters(media_start_s=20.0))
    assert late and all(m.hit.frame.media_time >= 20.0 for m in late)
    with pytest.raises(NotFoundError, match="no object"):
        cameras.match_object(10**9)


def _frames(path: Path, indices: tuple[int, ...]) -> list[np.ndarray]:
    wanted, found = set(indices), []
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number in wanted:
                found.append(frame.to_ndarray(format="rgb24"))
            if number >= max(indices):
                break
    return found


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_colour_descriptor_tells_the_same_walker_from_others(vtest_path: Path) -> None:
    """Two frames 0.2 s apart: a person matched by box overlap is the same walker.

    The descriptor must score those pairs above pairs of different people, on average.
    """
    detector = CocoDetector({k: v.name for k, v in load_coco_classes().items()})
    first, second = _frames(vtest_path, (100, 102))
    people = [
        [d for d in found if d.label == "person"]
        for found in detector.detect_batch([first, second], 0.5)
    ]
    same, different = [], []
    for a in people[0]:
        crop_a = appearance_descriptor(crop_box(first, a.xyxy, 0.0))
        for b in people[1]:
            similarity = appearance_similarity(
                crop_a, appearance_descriptor(crop_box(second, b.xyxy, 0.0))
            )
            overlap = _iou(a.xyxy, b.xyxy)
            if overlap > 0.6:
                same.append(similarity)
            elif overlap == 0.0:
                different.append(similarity)
    assert len(same) >= 2 and len(different) >= 2
    assert np.mean(same) > np.mean(different) + 0.1


def test_descriptor_rejects_non_images() -> None:
    with pytest.raises(InvalidInputError, match="RGB"):
        appearance_descriptor(np.zeros((1, 5, 3), dtype=np.uint8))

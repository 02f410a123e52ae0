"""Exports load as they are in other people's libraries: COCO in pycocotools and
supervision, YOLO in supervision, the classification layout in supervision. Objects are
the real detector's boxes on real vtest.avi frames (fake embedder for the labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv
import yaml
from PIL import Image
from pycocotools.coco import COCO

from vigil.scenarios.spec import spec_from_dict
from vigil.scenarios.store import stored_labels
from vigil.workspace import Workspace

FRAME_W, FRAME_H = 768, 576  # vtest.avi
CLASSES = ["person", "vehicle"]


@pytest.fixture
def labelled(workspace: Workspace) -> Workspace:
    """Real detections in the first frames, labelled by an object scenario."""
    [report] = workspace.index_objects(max_frames=6)
    assert report.objects_stored >= 3
    spec = {
        "name": "who",
        "target": {"kind": "object"},
        "classes": [
            {"name": "person", "prompts": ["a photo of a person"]},
            {"name": "vehicle", "prompts": ["a photo of a van"]},
        ],
    }
    workspace.create_scenario(spec_from_dict(spec))
    workspace.autolabel("who")
    return workspace


def stored_boxes(workspace: Workspace) -> dict[int, list[tuple[float, float, float, float]]]:
    """Original-frame boxes per frame id, straight from the catalog."""
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for item in stored_labels(workspace.catalog, workspace.get_scenario("who")):
        assert item.box_xyxy is not None
        boxes.setdefault(item.frame_id, []).append(item.box_xyxy)
    return boxes


def test_coco_loads_in_pycocotools_and_supervision(labelled: Workspace, tmp_path: Path) -> None:
    path = labelled.export_labels("who", "coco", tmp_path / "coco" / "who.json")
    coco = COCO(str(path))
    expected = stored_boxes(labelled)
    assert sorted(coco.getImgIds()) == sorted(expected)
    assert min(coco.getAnnIds()) == 1 and min(c["id"] for c in coco.loadCats(coco.getCatIds())) == 1
    for image in coco.loadImgs(coco.getImgIds()):
        assert (image["width"], image["height"]) == (FRAME_W, FRAME_H)
        with Image.open(path.parent / "images" / image["file_name"]) as pixels:
            assert pixels.size == (FRAME_W, FRAME_H)
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        got = sorted(tuple(a["bbox"]) for a in annotations)
        want = sorted((x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in expected[image["id"]])
        np.testing.assert_allclose(np.array(got), np.array(want), atol=0.02)
        for annotation in annotations:
            mask = coco.annToMask(annotation)  # needs a real segmentation
            assert mask.shape == (FRAME_H, FRAME_W)
            assert abs(int(mask.sum()) - annotation["area"]) <= 0.1 * annotation["area"] + 64

    dataset = sv.DetectionDataset.from_coco(
        images_directory_path=str(path.parent / "images"), annotations_path=str(path)
    )
    assert dataset.classes == CLASSES
    assert len(dataset) == len(expected)
    assert sum(len(d) for _, _, d in dataset) == sum(len(v) for v in expected.values())


def test_yolo_loads_in_supervision(labelled: Workspace, tmp_path: Path) -> None:
    folder = labelled.export_labels("who", "yolo", tmp_path / "yolo")
    data = yaml.safe_load((folder / "data.yaml").read_text())
    assert data["names"] == CLASSES and data["nc"] == 2
    images = sorted(p.stem for p in (folder / "images").glob("*.jpg"))
    assert images == sorted(p.stem for p in (folder / "labels").glob("*.txt"))
    dataset = sv.DetectionDataset.from_yolo(
        images_directory_path=str(folder / "images"),
        annotations_directory_path=str(folder / "labels"),
        data_yaml_path=str(folder / "data.yaml"),
    )
    expected = stored_boxes(labelled)
    assert len(dataset) == len(expected)
    for image_path, image, detections in dataset:
        assert image.shape[:2] == (FRAME_H, FRAME_W)
        frame_id = int(Path(image_path).stem.removeprefix("frame-"))
        want = np.array(sorted(expected[frame_id]))
        got = np.array(sorted(map(tuple, detections.xyxy)))
        np.testing.assert_allclose(got, want, atol=1.5)  # YOLO keeps 6 decimals of the size


def test_classification_layout_holds_object_crops(labelled: Workspace, tmp_path: Path) -> None:
    folder = labelled.export_labels("who", "classification", tmp_path / "crops")
    dataset = sv.ClassificationDataset.from_folder_structure(str(folder))
    labels = stored_labels(labelled.catalog, labelled.get_scenario("who"))
    assert sorted(dataset.classes) == CLASSES and len(dataset) == len(labels)
    for item in labels:
        assert item.box_xyxy is not None
        x1, y1, x2, y2 = item.box_xyxy
        with Image.open(folder / item.label / f"object-{item.item_id}.jpg") as crop:
            assert abs(crop.width - (x2 - x1)) <= 2 and abs(crop.height - (y2 - y1)) <= 2

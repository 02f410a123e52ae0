"""Export a scenario's labels in layouts other people's tools load as they are.

- ``csv``: one row per item, human and machine labels side by side.
- ``coco``: a COCO detection JSON plus ``images/`` with the full-resolution frames
  (object scenarios). Ids start at 1, every box also has its rectangle as a polygon
  ``segmentation`` (so ``pycocotools``' ``annToMask`` works), boxes are in the pixels
  of the frames written beside the JSON.
- ``yolo``: ``images/``, ``labels/`` with one ``<image stem>.txt`` per image and a
  ``data.yaml`` naming the classes (the layout Ultralytics and supervision read).
  YOLO label files are written through ``globox`` (MIT, a maintained converter).
- ``classification``: a folder per class holding the labelled frames (frame
  scenarios) or object crops (object scenarios) at full resolution: the layout of
  torchvision's ``ImageFolder`` and supervision's ``ClassificationDataset``.

A frame scenario labels whole images, which COCO and YOLO have no field for;
exporting one as detection boxes would invent boxes, so those two formats refuse it
and point to ``classification``. Files and folders are decoded again at the
labelled frames, so exports carry the camera's pixels, not the 320-pixel
thumbnails; live streams cannot be re-read, so their thumbnails are exported (boxes
scaled to match). Human labels override machine labels everywhere.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from globox import Annotation, AnnotationSet, BoundingBox
from PIL import Image

from vigil.catalog.store import Catalog
from vigil.catalog.types import FrameRecord
from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.spec import ItemKind, ScenarioRecord
from vigil.scenarios.store import StoredLabel
from vigil.sources.images import read_image
from vigil.structure.objects import stored_frame_images

CSV_COLUMNS = (
    "item",
    "source",
    "media_time",
    "captured_at",
    "frame_path",
    "x1",
    "y1",
    "x2",
    "y2",
    "label",
    "confidence",
    "origin",
    "machine_label",
    "human_label",
    "model_id",
    "method",
)
JPEG_QUALITY = 95

# Pixels of the labelled frames: (labels) -> (frame id, RGB image (H, W, 3) uint8) pairs.
FramePixels = Callable[[Sequence[StoredLabel]], Iterable[tuple[int, np.ndarray]]]


class ExportFormat(StrEnum):
    CSV = "csv"
    COCO = "coco"
    YOLO = "yolo"
    CLASSIFICATION = "classification"


def parse_format(fmt: ExportFormat | str) -> ExportFormat:
    try:
        return ExportFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise InvalidInputError(f"export format must be one of {choices}, got {fmt!r}") from None


def export_labels(
    labels: Sequence[StoredLabel],
    record: ScenarioRecord,
    fmt: ExportFormat | str,
    path: Path,
    *,
    home: Path,
    pixels: FramePixels | None = None,
) -> Path:
    """Write ``labels`` in ``fmt`` to ``path`` (a file for csv, a folder for the others;
    for coco a path ending in ``.json`` is the JSON file, with ``images/`` beside it).

    ``pixels`` supplies the full-resolution frames; without it the stored thumbnails
    are exported (boxes scaled to them).
    """
    chosen = parse_format(fmt)
    if not labels:
        raise NotFoundError(
            f"scenario {record.name!r} version {record.version} has no labels yet; "
            "run auto-label (vigil scenario label) first"
        )
    path = Path(path)
    if chosen == ExportFormat.CSV:
        return write_csv(labels, path)
    frames = pixels or thumbnail_pixels(home)
    if chosen == ExportFormat.CLASSIFICATION:
        return write_classification(labels, record, path, frames)
    if record.spec.target.kind == ItemKind.FRAME:
        raise InvalidInputError(
            f"scenario {record.name!r} labels whole frames, and {chosen.value} holds boxes; "
            "export it as 'classification' (a folder per class) or 'csv'"
        )
    if chosen == ExportFormat.COCO:
        return write_coco(labels, record, path, frames)
    return write_yolo(labels, record, path, frames)


def write_csv(labels: Sequence[StoredLabel], path: Path) -> Path:
    """One row per item; box columns are empty for frame scenarios (original frame pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for item in labels:
            box = [f"{v:.1f}" for v in item.box_xyxy] if item.box_xyxy else ["", "", "", ""]
            writer.writerow(
                [
                    item.item,
                    item.source_name,
                    f"{item.media_time:.3f}",
                    item.captured_at.isoformat() if item.captured_at else "",
                    item.frame_thumbnail_path,
                    *box,
                    item.label,
                    f"{item.confidence:.4f}" if item.confidence is not None else "",
                    item.origin,
                    item.machine_label or "",
                    item.human_label or "",
                    item.model_id or "",
                    item.method or "",
                ]
            )
    os.replace(temporary, path)
    return path


def thumbnail_pixels(home: Path) -> FramePixels:
    """Frame pixels from the stored thumbnails (when the source cannot be read again)."""

    def read(labels: Sequence[StoredLabel]) -> Iterator[tuple[int, np.ndarray]]:
        seen: set[int] = set()
        for item in labels:
            if item.frame_id in seen:
                continue
            seen.add(item.frame_id)
            target = home / item.frame_thumbnail_path
            if not target.is_file():
                raise NotFoundError(
                    f"thumbnail {target} is missing; re-index the source to restore it"
                )
            yield item.frame_id, read_image(target, what=f"thumbnail {item.frame_thumbnail_path!r}")

    return read


def source_pixels(catalog: Catalog, home: Path) -> FramePixels:
    """Full-resolution frames decoded again from their files and folders (thumbnails for
    streams), one source at a time in frame order so each file is read once, forwards."""

    def read(labels: Sequence[StoredLabel]) -> Iterator[tuple[int, np.ndarray]]:
        per_source: dict[int, dict[int, FrameRecord]] = {}
        for item in labels:
            per_source.setdefault(item.source_id, {})[item.frame_id] = FrameRecord(
                id=item.frame_id,
                source_id=item.source_id,
                frame_index=item.frame_index,
                media_time=item.media_time,
                captured_at=item.captured_at,
                width=item.frame_width,
                height=item.frame_height,
                thumbnail_path=item.frame_thumbnail_path,
            )
        for source_id, records in per_source.items():
            source = catalog.get_source(source_id)
            for record, image in stored_frame_images(source, list(records.values()), home):
                yield record.id, image

    return read


def frame_file_name(frame_id: int) -> str:
    """``frame-12.jpg``: the catalog id, as in ``frame:12`` elsewhere (no ':' in file names)."""
    return f"frame-{frame_id}.jpg"


def _save_jpeg(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def _write_frames(
    labels: Sequence[StoredLabel], folder: Path, pixels: FramePixels
) -> dict[int, tuple[str, int, int]]:
    """Write each labelled frame once as ``folder/frame-ID.jpg``: {frame id: (name, w, h)}."""
    written: dict[int, tuple[str, int, int]] = {}
    for frame_id, image in pixels(labels):
        name = frame_file_name(frame_id)
        _save_jpeg(image, folder / name)
        written[frame_id] = (name, int(image.shape[1]), int(image.shape[0]))
    missing = {item.frame_id for item in labels} - set(written)
    if missing:
        raise NotFoundError(f"{len(missing)} labelled frame(s) could not be read again")
    return written


def _box_in(item: StoredLabel, width: int, height: int) -> tuple[float, float, float, float]:
    """The object's box (stored in original frame pixels) in an image of width x height."""
    assert item.box_xyxy is not None  # object scenarios only
    sx, sy = width / item.frame_width, height / item.frame_height
    x1, y1, x2, y2 = item.box_xyxy
    return (
        max(0.0, x1 * sx),
        max(0.0, y1 * sy),
        min(float(width), x2 * sx),
        min(float(height), y2 * sy),
    )


def _fresh_folder(folder: Path) -> None:
    """An export folder holds one export: stale files of an earlier run would be loaded too."""
    for part in ("images", "labels"):
        if (folder / part).is_dir():
            shutil.rmtree(folder / part)
    folder.mkdir(parents=True, exist_ok=True)


def write_coco(
    labels: Sequence[StoredLabel], record: ScenarioRecord, path: Path, pixels: FramePixels
) -> Path:
    """COCO detection JSON + ``images/``: categories are the scenario's classes (ids from 1)."""
    json_path = path if path.suffix == ".json" else path / "annotations.json"
    folder = json_path.parent
    _fresh_folder(folder)
    frames = _write_frames(labels, folder / "images", pixels)
    category = {name: i + 1 for i, name in enumerate(record.spec.class_names)}
    images = [
        {"id": frame_id, "file_name": name, "width": width, "height": height}
        for frame_id, (name, width, height) in sorted(frames.items())
    ]
    annotations: list[dict[str, Any]] = []
    for number, item in enumerate(labels, start=1):
        _, width, height = frames[item.frame_id]
        x1, y1, x2, y2 = _box_in(item, width, height)
        w, h = x2 - x1, y2 - y1
        annotation: dict[str, Any] = {
            "id": number,
            "image_id": item.frame_id,
            "category_id": category[item.label],
            "bbox": [round(x1, 2), round(y1, 2), round(w, 2), round(h, 2)],
            "area": round(w * h, 2),
            "iscrowd": 0,
            # The box as a polygon: tools that rasterise masks (annToMask) get the box.
            "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
            "vigil_item": item.item,
            "origin": item.origin,
        }
        if item.confidence is not None and item.human_label is None:
            annotation["score"] = round(item.confidence, 6)
        annotations.append(annotation)
    content = {
        "info": {
            "description": f"Vigil scenario {record.name!r} version {record.version}",
            "version": str(record.version),
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": index, "name": name, "supercategory": "none"} for name, index in category.items()
        ],
    }
    temporary = json_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content, indent=1), encoding="utf-8")
    os.replace(temporary, json_path)
    return json_path


def write_yolo(
    labels: Sequence[StoredLabel], record: ScenarioRecord, folder: Path, pixels: FramePixels
) -> Path:
    """YOLO layout: ``images/frame-ID.jpg``, ``labels/frame-ID.txt``, ``data.yaml``."""
    _fresh_folder(folder)
    frames = _write_frames(labels, folder / "images", pixels)
    per_frame: dict[int, list[StoredLabel]] = {}
    for item in labels:
        per_frame.setdefault(item.frame_id, []).append(item)
    annotations = []
    for frame_id, (name, width, height) in sorted(frames.items()):
        boxes = []
        for item in per_frame[frame_id]:
            x1, y1, x2, y2 = _box_in(item, width, height)
            boxes.append(BoundingBox(label=item.label, xmin=x1, ymin=y1, xmax=x2, ymax=y2))
        annotations.append(
            Annotation(image_id=Path(name).stem, image_size=(width, height), boxes=boxes)
        )
    label_to_id = {name: i for i, name in enumerate(record.spec.class_names)}
    AnnotationSet(annotations).save_yolo_darknet(folder / "labels", label_to_id=label_to_id)
    data = {
        "path": ".",
        "train": "images",
        "val": "images",
        "nc": len(record.spec.class_names),
        "names": list(record.spec.class_names),
    }
    (folder / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def write_classification(
    labels: Sequence[StoredLabel], record: ScenarioRecord, folder: Path, pixels: FramePixels
) -> Path:
    """A folder per class: labelled frames (frame scenarios) or object crops (object ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in record.spec.class_names:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)  # one export per folder: stale files would be loaded too
        target.mkdir()
    per_frame: dict[int, list[StoredLabel]] = {}
    for item in labels:
        per_frame.setdefault(item.frame_id, []).append(item)
    seen: set[int] = set()
    for frame_id, image in pixels(labels):
        seen.add(frame_id)
        height, width = image.shape[:2]
        for item in per_frame[frame_id]:
            if item.kind == ItemKind.FRAME:
                _save_jpeg(image, folder / item.label / frame_file_name(frame_id))
                continue
            x1, y1, x2, y2 = (round(v) for v in _box_in(item, width, height))
            crop = np.ascontiguousarray(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)])
            _save_jpeg(crop, folder / item.label / f"object-{item.item_id}.jpg")
    if set(per_frame) - seen:
        raise NotFoundError(f"{len(set(per_frame) - seen)} labelled frame(s) could not be read")
    return folder

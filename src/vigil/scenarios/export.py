"""Export a scenario's labels as CSV, COCO JSON or YOLO txt.

COCO and YOLO are written through ``globox`` (MIT, a maintained converter between
detection formats), so their layout follows that library's tested writers rather
than a hand-rolled reading of the specs. Boxes refer to the stored frame
thumbnails (the images an export points at), scaled from the original frame
pixels the catalog keeps. A frame scenario labels whole images, which neither
format has a field for: each frame gets one full-image box of its class (the
usual way to carry image-level classes in a detection format), marked
``"image_level": true`` in COCO. Human labels override machine labels
everywhere; the CSV says which is which.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from globox import Annotation, AnnotationSet, BoundingBox

from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.spec import ItemKind, ScenarioRecord
from vigil.scenarios.store import StoredLabel
from vigil.sources.images import open_image

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
)


class ExportFormat(StrEnum):
    CSV = "csv"
    COCO = "coco"
    YOLO = "yolo"


def export_labels(
    labels: Sequence[StoredLabel],
    record: ScenarioRecord,
    fmt: ExportFormat | str,
    path: Path,
    *,
    home: Path,
) -> Path:
    """Write ``labels`` in ``fmt`` to ``path`` (a file for csv/coco, a folder for yolo)."""
    try:
        chosen = ExportFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise InvalidInputError(f"export format must be one of {choices}, got {fmt!r}") from None
    if not labels:
        raise NotFoundError(
            f"scenario {record.name!r} version {record.version} has no labels yet; "
            "run auto-label (vigil scenario label) first"
        )
    path = Path(path)
    if chosen == ExportFormat.CSV:
        return write_csv(labels, path)
    if chosen == ExportFormat.COCO:
        return write_coco(labels, record, path, home=home)
    return write_yolo(labels, record, path, home=home)


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
                ]
            )
    os.replace(temporary, path)
    return path


def _thumbnail_size(home: Path, relpath: str) -> tuple[int, int]:
    """(width, height) of a stored thumbnail; reads only the image header."""
    target = home / relpath
    if not target.is_file():
        raise NotFoundError(f"thumbnail {target} is missing; re-index the source to restore it")
    with open_image(target, what=f"thumbnail {relpath!r}") as image:
        width, height = image.size
    return int(width), int(height)


def _annotation_set(
    labels: Sequence[StoredLabel], home: Path
) -> tuple[AnnotationSet, dict[str, int], dict[str, list[StoredLabel]]]:
    """Boxes grouped per frame thumbnail (the image id is its path relative to the home)."""
    per_frame: dict[str, list[StoredLabel]] = {}
    for item in labels:
        per_frame.setdefault(item.frame_thumbnail_path, []).append(item)
    annotations = []
    frame_ids: dict[str, int] = {}
    for image_id, items in per_frame.items():
        width, height = _thumbnail_size(home, image_id)
        frame_ids[image_id] = items[0].frame_id
        boxes = []
        for item in items:
            if item.box_xyxy is None:
                x1, y1, x2, y2 = 0.0, 0.0, float(width), float(height)
            else:
                sx, sy = width / item.frame_width, height / item.frame_height
                bx1, by1, bx2, by2 = item.box_xyxy
                x1, y1 = max(0.0, bx1 * sx), max(0.0, by1 * sy)
                x2, y2 = min(float(width), bx2 * sx), min(float(height), by2 * sy)
            boxes.append(BoundingBox(label=item.label, xmin=x1, ymin=y1, xmax=x2, ymax=y2))
        annotations.append(Annotation(image_id=image_id, image_size=(width, height), boxes=boxes))
    return AnnotationSet(annotations), frame_ids, per_frame


def write_coco(
    labels: Sequence[StoredLabel], record: ScenarioRecord, path: Path, *, home: Path
) -> Path:
    """COCO detection JSON: images = frame thumbnails, categories = the scenario's classes."""
    annotation_set, frame_ids, per_frame = _annotation_set(labels, home)
    label_to_id = {name: i + 1 for i, name in enumerate(record.spec.class_names)}  # COCO: 1-based
    content: dict[str, Any] = annotation_set.to_coco(
        label_to_id=label_to_id, imageid_to_id=frame_ids
    )
    # globox writes boxes in the order they were given per image: add Vigil's fields in step.
    extras = [item for image_id in per_frame for item in per_frame[image_id]]
    for annotation, item in zip(content["annotations"], extras, strict=True):
        annotation["vigil_item"] = item.item
        annotation["origin"] = item.origin
        annotation["image_level"] = item.kind == ItemKind.FRAME
        if item.confidence is not None and item.human_label is None:
            annotation["score"] = round(item.confidence, 6)
    content["info"] = {
        "description": f"Vigil scenario {record.name!r} version {record.version}",
        "version": str(record.version),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(content, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return path


def write_yolo(
    labels: Sequence[StoredLabel], record: ScenarioRecord, folder: Path, *, home: Path
) -> Path:
    """YOLO (darknet) layout: ``labels/<frame>.txt`` per frame, ``classes.txt``, ``images.txt``.

    ``images.txt`` lists the thumbnail each label file belongs to (absolute paths),
    the form YOLO trainers accept as an image list.
    """
    annotation_set, _, _ = _annotation_set(labels, home)
    renamed = AnnotationSet(
        [
            Annotation(
                image_id=_yolo_stem(annotation.image_id),
                image_size=annotation.image_size,
                boxes=annotation.boxes,
            )
            for annotation in annotation_set
        ]
    )
    folder.mkdir(parents=True, exist_ok=True)
    label_to_id = {name: i for i, name in enumerate(record.spec.class_names)}
    renamed.save_yolo_darknet(folder / "labels", label_to_id=label_to_id)
    (folder / "classes.txt").write_text("\n".join(record.spec.class_names) + "\n", encoding="utf-8")
    images = [str((home / annotation.image_id).resolve()) for annotation in annotation_set]
    (folder / "images.txt").write_text("\n".join(images) + "\n", encoding="utf-8")
    return folder


def _yolo_stem(relpath: str) -> str:
    """thumbs/3/000000000120.jpg -> thumbs_3_000000000120 (one flat folder of label files)."""
    return Path(relpath).with_suffix("").as_posix().replace("/", "_")

"""Anomaly scenarios in the product: fit from the spec's examples, score the archive, export.

A ``kind: anomaly`` scenario names normal examples (image files, folders of
images, stored ``frame:ID`` / ``object:ID`` items) and optionally defect
examples. Fitting collects their pixels, checks them (at least
``MIN_NORMALS``, one shape, no defect hiding among the normals) and keeps the
fitted bank per scenario version under ``HOME/anomaly/<name>/v<version>/``, so
labelling again does not refit. People's answers (``vigil scenario answer``)
join the examples: an item answered "anomalous" becomes a defect example, one
answered "normal" a normal example.

Labelling scores every target item from its stored thumbnail (the region of
interest cut out first), stores the score and an anomaly heatmap per item
(``catalog.anomaly_store``), and the normal/anomalous label beside the scenario's
other labels so the review queue and exports see it. The label's
"probability" is the score relative to the threshold (``AnomalyModel.relative``:
0.5 at the threshold, for distances and head probabilities alike): a relative
score, said so in the stored method name, not a calibrated probability.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.patchcore import MIN_NORMALS, AnomalyModel, check_normals, fit
from vigil.catalog.anomaly_store import (
    AnomalyTarget,
    StoredScore,
    anomaly_scores,
    anomaly_targets,
    write_anomaly_scores,
)
from vigil.catalog.store import Catalog
from vigil.errors import CorruptMediaError, InvalidInputError, NotFoundError
from vigil.scenarios.autolabel import load_image
from vigil.scenarios.spec import ItemKind, RegionSpec, ScenarioRecord, parse_example
from vigil.scenarios.store import delete_labels, human_labels, write_labels
from vigil.scenarios.types import ReviewItem
from vigil.sources.readers import IMAGE_SUFFIXES

METHOD = "patchcore"
#: Stored as the label's method: says the "probability" is a score relative to the threshold.
RELATIVE_METHOD = "patchcore-relative"
HEAD_METHOD = "patchcore-head"
MODEL_ID = "anomaly:efficientnet-lite0-patchcore"


@dataclass(frozen=True)
class NamedImage:
    name: str  # where it came from: a file path or 'frame:ID'
    image: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass(frozen=True)
class FitReport:
    normals: int
    defects: int
    bank_size: int
    threshold: float
    suspects: list[str]  # normal examples whose own leave-one-out score flags them
    seconds: float
    folder: Path
    false_alarm_rate: float = 0.05  # asked for by the scenario
    false_alarm_bound: float = 0.05  # what the threshold promises with these normals


@dataclass(frozen=True)
class AnomalyLabelReport:
    scenario: str
    version: int
    total: int
    labeled: int
    anomalous: int
    threshold: float
    seconds: float
    fit: FitReport
    warnings: list[str] = field(default_factory=list)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def model_folder(home: Path, record: ScenarioRecord) -> Path:
    return home / "anomaly" / _safe(record.name) / f"v{record.version}"


def _folder_images(folder: Path) -> list[Path]:
    return sorted(
        (
            path
            for path in folder.rglob("*")
            if path.is_file()
            and not path.name.startswith(".")
            and path.suffix.lower() in IMAGE_SUFFIXES
        ),
        key=lambda path: path.relative_to(folder).as_posix(),
    )


def _region_crop(image: np.ndarray, region: RegionSpec, frame_wh: tuple[int, int]) -> np.ndarray:
    """Cut the region's bounding box out of a (thumbnail) frame; outside the polygon is grey."""
    height, width = image.shape[:2]
    sx, sy = width / frame_wh[0], height / frame_wh[1]  # full-size pixels -> thumbnail pixels
    polygon = np.array([[x * sx, y * sy] for x, y in region.polygon], dtype=np.float32)
    x1, y1 = np.floor(polygon.min(axis=0)).astype(int)
    x2, y2 = np.ceil(polygon.max(axis=0)).astype(int)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(width, x2), min(height, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise InvalidInputError(
            f"the region of interest {region.polygon} lies outside the {frame_wh[0]}x"
            f"{frame_wh[1]} frames of source {region.source!r}: nothing to score"
        )
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    masked = np.where(mask[:, :, None] > 0, image, 128).astype(np.uint8)
    return masked[y1:y2, x1:x2]


class _Items:
    """Pixels of stored items, with the region of interest applied to the region's source."""

    def __init__(
        self, catalog: Catalog, home: Path, region: RegionSpec | None, region_source: int | None
    ):
        self.catalog = catalog
        self.home = home
        self.region = region
        self.region_source = region_source

    def target_pixels(self, target: AnomalyTarget) -> np.ndarray:
        image = load_image(self.home / target.thumbnail_path)
        if (
            self.region is not None
            and target.kind == "frame"
            and target.source_id == self.region_source
        ):
            return _region_crop(image, self.region, target.frame_wh)
        return image

    def reference(self, kind: ItemKind, item_id: int) -> NamedImage:
        """A stored example item's pixels (region applied like for the targets)."""
        found = anomaly_targets(self.catalog, kind.value, ids=[item_id])
        if not found:
            raise NotFoundError(f"example {kind.value}:{item_id} is not in the catalog")
        return NamedImage(f"{kind.value}:{item_id}", self.target_pixels(found[0]))


def collect_examples(
    references: list[str], items: _Items, *, base: Path | None = None
) -> list[NamedImage]:
    """Image files, every image in a folder, and stored items -> named pixels."""
    found: list[NamedImage] = []
    for text in references:
        reference = parse_example(text, base=base)
        if reference.kind == "image":
            assert reference.path is not None
            path = reference.path
            if path.is_dir():
                files = _folder_images(path)
                if not files:
                    raise InvalidInputError(f"example folder {path} holds no images")
                found.extend(NamedImage(str(file), load_image(file)) for file in files)
            else:
                found.append(NamedImage(str(path), load_image(path)))
        else:
            assert reference.item_id is not None
            found.append(items.reference(ItemKind(reference.kind), reference.item_id))
    return found


def _region_source(catalog: Catalog, region: RegionSpec | None) -> int | None:
    if region is None:
        return None
    key: int | str = int(region.source) if region.source.isdigit() else region.source
    return catalog.get_source(key).id


def collect_examples_of(
    catalog: Catalog, home: Path, record: ScenarioRecord, *, base: Path | None = None
) -> list[np.ndarray]:
    """The normal examples' pixels of an anomaly scenario (e.g. real images for export checks)."""
    region = record.spec.target.region
    items = _Items(catalog, home, region, _region_source(catalog, region))
    return [item.image for item in collect_examples(record.spec.normal_examples, items, base=base)]


def fit_scenario(
    catalog: Catalog,
    home: Path,
    record: ScenarioRecord,
    extractor: PatchExtractor,
    *,
    base: Path | None = None,
    refit: bool = False,
) -> tuple[AnomalyModel, FitReport]:
    """The scenario version's fitted model: loaded when stored, else fitted and stored."""
    spec = record.spec
    if spec.kind != "anomaly":
        raise InvalidInputError(f"scenario {record.name!r} is not an anomaly scenario")
    started = time.perf_counter()
    region = spec.target.region
    items = _Items(catalog, home, region, _region_source(catalog, region))
    normals = collect_examples(spec.normal_examples, items, base=base)
    defects = collect_examples(spec.defect_examples, items, base=base)
    answered = human_labels(catalog, record)
    kind = spec.target.kind
    for item_id, label in sorted(answered.items()):
        bucket = defects if label == "anomalous" else normals
        bucket.append(items.reference(kind, item_id))
    if len(normals) < MIN_NORMALS:
        raise InvalidInputError(
            f"scenario {record.name!r} has {len(normals)} normal image(s); an anomaly scenario "
            f"needs at least {MIN_NORMALS} (files, folders, frame:ID or object:ID)"
        )
    check_normals([item.image for item in normals])
    folder = model_folder(home, record)
    if not refit and (folder / "card.json").exists() and (folder / "bank.npy").exists():
        model = AnomalyModel.load(folder)
    else:
        model = fit(
            [item.image for item in normals],
            extractor,
            defects=[item.image for item in defects] or None,
            false_alarm_rate=record.spec.false_alarm_rate,
        )
        model.save(folder)
    report = FitReport(
        normals=len(normals),
        defects=len(defects),
        bank_size=int(model.bank.shape[0]),
        threshold=model.threshold,
        suspects=[normals[i].name for i in model.suspects if i < len(normals)],
        seconds=time.perf_counter() - started,
        folder=folder,
        false_alarm_rate=model.false_alarm_rate,
        false_alarm_bound=model.false_alarm_bound,
    )
    return model, report


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, reference: float) -> np.ndarray:
    """(H, W, 3) RGB with the anomaly map in JET colours over it; red at twice ``reference``."""
    scale = heat / max(2.0 * reference, 1e-6)
    colours = cv2.applyColorMap(np.clip(scale * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    blended = cv2.addWeighted(image, 0.55, cv2.cvtColor(colours, cv2.COLOR_BGR2RGB), 0.45, 0)
    return np.asarray(blended, dtype=np.uint8)


def _probability(score: float, model: AnomalyModel) -> float:
    return float(model.relative(np.array([score]))[0])


def label_anomaly(
    catalog: Catalog,
    home: Path,
    record: ScenarioRecord,
    extractor: PatchExtractor | None = None,
    *,
    base: Path | None = None,
    max_items: int | None = None,
    batch_size: int = 32,
    relabel: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> AnomalyLabelReport:
    """Score every target item of an anomaly scenario; stores scores, heatmaps and labels.

    ``relabel`` refits the version's model (people's answers join the examples)
    and replaces its labels; otherwise the stored model is reused and items
    labelled before keep their label (their score is refreshed).
    """
    started = time.perf_counter()
    extractor = extractor or PatchExtractor()
    model, report = fit_scenario(catalog, home, record, extractor, base=base, refit=relabel)
    if relabel:
        delete_labels(catalog, record)
    spec = record.spec
    region = spec.target.region
    region_source = _region_source(catalog, region)
    items = _Items(catalog, home, region, region_source)
    targets = anomaly_targets(
        catalog,
        spec.target.kind.value,
        object_classes=spec.target.object_classes,
        source_id=region_source,
        limit=max_items,
    )
    heat_folder = model_folder(home, record) / "heatmaps"
    heat_folder.mkdir(parents=True, exist_ok=True)
    method = HEAD_METHOD if model.head is not None else RELATIVE_METHOD
    # Heatmaps share one colour scale: the largest leave-one-out distance of a normal.
    reference = float(np.max(model.normal_scores))
    labeled = anomalous = 0
    warnings = [
        f"normal example {name} scores like a defect against the other normals "
        "(leave-one-out); remove it or move it to defect_examples"
        for name in report.suspects
    ]
    if report.false_alarm_bound > report.false_alarm_rate + 1e-12:
        warnings.append(
            f"{report.normals} normal examples cannot hold false alarms to "
            f"{report.false_alarm_rate:.0%}: the threshold (their largest leave-one-out score) "
            f"promises {report.false_alarm_bound:.0%}; about "
            f"{int(np.ceil(1 / report.false_alarm_rate)) - 1} normals are needed"
        )
    for start in range(0, len(targets), batch_size):
        batch = targets[start : start + batch_size]
        pixels = []
        for target in batch:
            try:
                pixels.append(items.target_pixels(target))
            except (NotFoundError, CorruptMediaError) as error:
                raise CorruptMediaError(
                    f"{target.kind}:{target.id}: cannot read its thumbnail ({error})"
                ) from error
        scored = model.score(pixels, extractor)
        stored = []
        for target, image, item in zip(batch, pixels, scored, strict=True):
            heat = item.heatmap(image.shape[0], image.shape[1])
            relpath = heat_folder.relative_to(home) / f"{target.kind}-{target.id}.jpg"
            overlay = heatmap_overlay(image, heat, reference)
            cv2.imwrite(str(home / relpath), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            stored.append(
                StoredScore(
                    kind=target.kind,
                    id=target.id,
                    score=item.score,
                    distance=item.distance,
                    threshold=model.threshold,
                    anomalous=item.anomalous,
                    heatmap_path=relpath.as_posix(),
                )
            )
        write_anomaly_scores(catalog, record.id, record.version, stored)
        probabilities = np.array(
            [[1.0 - p, p] for p in (_probability(item.score, model) for item in scored)]
        )
        # Labels say anomalous exactly when the model does, even where the relative
        # probability rounds to 0.5 at the threshold.
        for row, item in zip(probabilities, scored, strict=True):
            if item.anomalous and row[1] <= row[0]:
                row[1] = np.nextafter(row[0], 1.0)
            elif not item.anomalous and row[1] >= row[0]:
                row[1] = np.nextafter(row[0], 0.0)
        write_labels(
            catalog,
            record,
            np.array([target.id for target in batch], dtype=np.int64),
            probabilities,
            model_id=MODEL_ID,
            method=method,
        )
        labeled += len(batch)
        anomalous += sum(item.anomalous for item in scored)
        if on_progress:
            on_progress(labeled, len(targets))
    return AnomalyLabelReport(
        scenario=record.name,
        version=record.version,
        total=len(targets),
        labeled=labeled,
        anomalous=anomalous,
        threshold=model.threshold,
        seconds=time.perf_counter() - started,
        fit=report,
        warnings=warnings,
    )


def anomaly_review_queue(
    catalog: Catalog, record: ScenarioRecord, *, limit: int = 20
) -> list[ReviewItem]:
    """Unanswered scored items closest to the threshold first (where an answer helps most).

    Closeness is ``|log(score / threshold)|``, so an item at twice the threshold
    and one at half of it are equally sure. Each item carries its heatmap.
    """
    scores = anomaly_scores(catalog, record.id, record.version)
    if not scores:
        raise NotFoundError(
            f"scenario {record.name!r} v{record.version} has no scores; run "
            f"'vigil scenario label {record.name}' first"
        )
    answered = set(human_labels(catalog, record))
    open_items = [item for item in scores if item.id not in answered]

    def closeness(item: StoredScore) -> float:
        return abs(float(np.log(max(item.score, 1e-9) / max(item.threshold, 1e-9))))

    chosen = sorted(open_items, key=lambda item: (closeness(item), -item.score))[:limit]
    kind = record.spec.target.kind
    thumbs = {
        t.id: t.thumbnail_path
        for t in anomaly_targets(catalog, kind.value, ids=[i.id for i in chosen])
    }
    queue = []
    for item in chosen:
        label = "anomalous" if item.anomalous else "normal"
        sureness = float(1.0 - np.exp(-closeness(item)))  # 0 at the threshold, towards 1 away
        queue.append(
            ReviewItem(
                kind=kind,
                id=item.id,
                thumbnail_path=thumbs.get(item.id, ""),
                label=label,
                confidence=0.5 + sureness / 2,
                margin=sureness,
                entropy=0.0,
                zero_shot_label=label,
                disagree=False,
                priority=1.0 - sureness,
                heatmap_path=item.heatmap_path or "",
            )
        )
    return queue


CSV_COLUMNS = (
    "item",
    "label",
    "score",
    "distance",
    "threshold",
    "source_id",
    "media_time",
    "file_path",
    "heatmap",
    "thumbnail",
)


def _file_path(target: AnomalyTarget, listings: dict[str, list[Path]]) -> str:
    """For frames of an image folder: the original image file (the inspector's part)."""
    if target.source_kind != "images":
        return ""
    folder = Path(target.source_location).expanduser()
    if target.source_location not in listings:
        listings[target.source_location] = _folder_images(folder) if folder.is_dir() else []
    files = listings[target.source_location]
    return str(files[target.frame_index]) if 0 <= target.frame_index < len(files) else ""


def write_anomaly_csv(catalog: Catalog, record: ScenarioRecord, path: Path) -> Path:
    """One row per scored item, highest score first, with the image file for folder sources."""
    scores = anomaly_scores(catalog, record.id, record.version)
    if not scores:
        raise NotFoundError(
            f"scenario {record.name!r} v{record.version} has no scores; run "
            f"'vigil scenario label {record.name}' first"
        )
    answered = human_labels(catalog, record)
    kind = record.spec.target.kind.value
    targets = {t.id: t for t in anomaly_targets(catalog, kind)}
    listings: dict[str, list[Path]] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for item in scores:
            target = targets.get(item.id)
            label = answered.get(item.id) or ("anomalous" if item.anomalous else "normal")
            writer.writerow(
                [
                    f"{item.kind}:{item.id}",
                    label,
                    f"{item.score:.6g}",
                    f"{item.distance:.6g}",
                    f"{item.threshold:.6g}",
                    target.source_id if target else "",
                    f"{target.media_time:.3f}" if target else "",
                    _file_path(target, listings) if target else "",
                    item.heatmap_path or "",
                    target.thumbnail_path if target else "",
                ]
            )
    return path


__all__ = [
    "CSV_COLUMNS",
    "AnomalyLabelReport",
    "FitReport",
    "NamedImage",
    "anomaly_review_queue",
    "collect_examples",
    "collect_examples_of",
    "fit_scenario",
    "heatmap_overlay",
    "label_anomaly",
    "model_folder",
    "write_anomaly_csv",
]

"""Measure the anomaly method on ELPV solar cells, beside two nearest-neighbour baselines.

Protocol (fixed before any result was seen; written here so it is the same in
the CLI, the benchmark and the tests):

* data: ELPV (``elpv-dataset``; Buerhop-Lutz et al. 2018, Deitsch et al. 2019;
  CC-BY-NC-SA-4.0, used for evaluation only), one cell type at a time
  (monocrystalline for development, polycrystalline as an untouched check);
  functional = defect probability 0, defective = probability 1 (the 1/3 and
  2/3 cells are left out: the annotators were unsure);
* test: ``test_per_class`` functional + ``test_per_class`` defective cells drawn
  with ``seed``; never used for fitting;
* training: ``n`` normals (functional cells outside the test set) drawn per
  ``draw`` with seed ``seed + 1 + draw``, and for the supervised variant
  ``defects`` defective cells outside the test set from the same draw;
* metrics: image AUROC and the detection rate at <= 5 % false alarms (the
  best true-positive rate over ROC points whose false-positive rate is <= 0.05),
  averaged over draws, with the min-max range.

Baselines: raw pixels (64x64 grey, L2 to the nearest normal) and a global
feature (the mean of the same patch vectors, L2 to the nearest normal).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.anomaly.features import FeatureConfig, PatchExtractor
from vigil.anomaly.patchcore import AnomalyModel, fit_patches, with_head
from vigil.errors import InvalidInputError, ModelUnavailableError

FALSE_ALARM_BUDGET = 0.05


@dataclass(frozen=True)
class ElpvSplit:
    """Images and labels of one cell type with the fixed test split."""

    cell_type: str
    images: np.ndarray  # (N, 300, 300) uint8 grey, all cells of the type with p in {0, 1}
    defective: np.ndarray  # (N,) bool
    test: np.ndarray  # indices into images
    normal_pool: np.ndarray  # functional cells outside the test set
    defect_pool: np.ndarray  # defective cells outside the test set


def load_elpv(cell_type: str = "mono", *, test_per_class: int = 100, seed: int = 0) -> ElpvSplit:
    """The ELPV cells of one type (mono or poly) and the fixed test split."""
    if cell_type not in ("mono", "poly"):
        raise InvalidInputError(f"cell type must be 'mono' or 'poly', got {cell_type!r}")
    try:
        from elpv_dataset.utils import load_dataset
    except ImportError as error:
        raise ModelUnavailableError(
            "the ELPV data set is not installed; install it with: "
            "pip install 'elpv-dataset==1.0.0.post1' (CC-BY-NC-SA-4.0, evaluation only)"
        ) from error
    images, probabilities, types = load_dataset()
    keep = (types == cell_type) & ((probabilities == 0.0) | (probabilities == 1.0))
    images = images[keep]
    defective = probabilities[keep] == 1.0
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(~defective))
    bad = rng.permutation(np.flatnonzero(defective))
    if min(len(normal), len(bad)) <= test_per_class:
        raise InvalidInputError(f"not enough {cell_type} cells for {test_per_class} per class")
    return ElpvSplit(
        cell_type=cell_type,
        images=images,
        defective=defective,
        test=np.concatenate([normal[:test_per_class], bad[:test_per_class]]),
        normal_pool=normal[test_per_class:],
        defect_pool=bad[test_per_class:],
    )


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def detection_at(
    labels: np.ndarray, scores: np.ndarray, budget: float = FALSE_ALARM_BUDGET
) -> float:
    """Best detection rate (TPR) among thresholds whose false-alarm rate is <= ``budget``."""
    from sklearn.metrics import roc_curve

    false_alarms, detections, _ = roc_curve(labels, scores)
    return float(detections[false_alarms <= budget].max())


@dataclass(frozen=True)
class EvalRow:
    """One line of the benchmark table (a method at a number of normals)."""

    method: str
    normals: int
    defects: int
    auroc: tuple[float, float, float]  # mean, min, max over draws
    detection: tuple[float, float, float]  # at <= 5 % false alarms
    threshold_detection: float  # detection rate at the model's own threshold (mean)
    threshold_false_alarms: float  # false-alarm rate at the model's own threshold (mean)


@dataclass(frozen=True)
class EvalReport:
    cell_type: str
    test_normal: int
    test_defective: int
    draws: int
    rows: list[EvalRow]
    ms_per_image: float  # extract + score, batch 1, wall time (median)
    cpu_ms_per_image: float  # the same in CPU time of all threads (median)
    seconds: float


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    return float(np.mean(values)), float(np.min(values)), float(np.max(values))


def _pixels(images: np.ndarray) -> np.ndarray:
    small = np.stack(
        [cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA) for image in images]
    )
    return small.reshape(len(images), -1).astype(np.float32) / 255.0


def _nearest_distance(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(train.shape[1])
    index.add(np.ascontiguousarray(train, dtype=np.float32))
    squared, _ = index.search(np.ascontiguousarray(test, dtype=np.float32), 1)
    return np.asarray(np.sqrt(np.maximum(squared[:, 0], 0.0)))


def evaluate_elpv(
    *,
    cell_type: str = "mono",
    normals: Sequence[int] = (10, 25, 50),
    draws: int = 3,
    defects: int = 8,
    test_per_class: int = 100,
    seed: int = 0,
    config: FeatureConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """Run the protocol in the module docstring; returns the table rows."""
    started = time.perf_counter()
    split = load_elpv(cell_type, test_per_class=test_per_class, seed=seed)
    extractor = PatchExtractor(config)
    draws_normal = [
        np.random.default_rng(seed + 1 + draw).permutation(split.normal_pool)[: max(normals)]
        for draw in range(draws)
    ]
    draws_defect = [
        np.random.default_rng(seed + 1 + draw).permutation(split.defect_pool)[:defects]
        for draw in range(draws)
    ]
    needed = np.unique(np.concatenate([split.test, *draws_normal, *draws_defect]))
    if progress:
        progress(f"extracting patch features of {len(needed)} cells")
    patches = dict(zip(needed.tolist(), extractor([split.images[i] for i in needed]), strict=True))
    test_patches = np.stack([patches[i] for i in split.test.tolist()])
    labels = split.defective[split.test]
    test_pixels = _pixels(split.images[split.test])
    test_global = test_patches.mean(axis=1)
    results: dict[tuple[str, int, int], list[tuple[float, float, float, float]]] = {}

    def record(method: str, n: int, k: int, scores: np.ndarray, flagged: np.ndarray) -> None:
        results.setdefault((method, n, k), []).append(
            (
                auroc(labels, scores),
                detection_at(labels, scores),
                float(flagged[labels].mean()),
                float(flagged[~labels].mean()),
            )
        )

    for n in normals:
        for draw in range(draws):
            chosen = draws_normal[draw][:n]
            if progress:
                progress(f"{n} normals, draw {draw + 1}/{draws}")
            train = np.stack([patches[i] for i in chosen.tolist()])
            model = fit_patches(train, extractor.config, seed=seed + draw)
            scored = model.score_patches(test_patches)
            scores = np.array([item.score for item in scored])
            record("patchcore", n, 0, scores, scores >= model.threshold)
            if defects:
                bad = np.stack([patches[i] for i in draws_defect[draw].tolist()])
                supervised = with_head(model, bad)
                scored = supervised.score_patches(test_patches)
                scores = np.array([item.score for item in scored])
                record("patchcore + head", n, defects, scores, scores >= supervised.threshold)
            pixel = _nearest_distance(_pixels(split.images[chosen]), test_pixels)
            record("raw-pixel NN", n, 0, pixel, pixel >= np.inf)
            global_scores = _nearest_distance(train.mean(axis=1), test_global)
            record("global-feature NN", n, 0, global_scores, global_scores >= np.inf)
    wall_ms, cpu_ms = time_per_image(model, extractor, split.images[split.test[:20]])
    rows = []
    for (method, n, k), values in results.items():
        columns = list(zip(*values, strict=True))
        threshold_known = method.startswith("patchcore")
        rows.append(
            EvalRow(
                method=method,
                normals=n,
                defects=k,
                auroc=_spread(columns[0]),
                detection=_spread(columns[1]),
                threshold_detection=float(np.mean(columns[2])) if threshold_known else float("nan"),
                threshold_false_alarms=float(np.mean(columns[3]))
                if threshold_known
                else float("nan"),
            )
        )
    return EvalReport(
        cell_type=cell_type,
        test_normal=int((~labels).sum()),
        test_defective=int(labels.sum()),
        draws=draws,
        rows=rows,
        ms_per_image=wall_ms,
        cpu_ms_per_image=cpu_ms,
        seconds=time.perf_counter() - started,
    )


def time_per_image(
    model: AnomalyModel, extractor: PatchExtractor, images: np.ndarray
) -> tuple[float, float]:
    """Median wall and CPU milliseconds to extract and score one image (batch 1), warmed up.

    On a shared machine the wall time includes waiting for a core; the CPU time
    (all threads) does not, and is what a dedicated device would spend.
    """
    model.score([images[0]], extractor)
    wall, cpu = [], []
    for image in images:
        start, start_cpu = time.perf_counter(), time.process_time()
        model.score([image], extractor)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return float(np.median(wall)), float(np.median(cpu))


def format_table(report: EvalReport) -> str:
    """The report as a Markdown table (what the README shows)."""
    lines = [
        f"ELPV {report.cell_type} cells, test {report.test_normal} functional + "
        f"{report.test_defective} defective, {report.draws} draws; mean (min-max)",
        "",
        "| method | normals | labelled defects | AUROC | detection @ <=5 % false alarms "
        "| at own threshold: detection / false alarms |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(report.rows, key=lambda r: (r.normals, r.method)):
        own = (
            f"{row.threshold_detection:.0%} / {row.threshold_false_alarms:.0%}"
            if row.threshold_detection == row.threshold_detection
            else "-"
        )
        lines.append(
            f"| {row.method} | {row.normals} | {row.defects} "
            f"| {row.auroc[0]:.3f} ({row.auroc[1]:.3f}-{row.auroc[2]:.3f}) "
            f"| {row.detection[0]:.0%} ({row.detection[1]:.0%}-{row.detection[2]:.0%}) | {own} |"
        )
    lines.append("")
    lines.append(
        f"extract + score (torch, batch 1): {report.ms_per_image:.1f} ms wall, "
        f"{report.cpu_ms_per_image:.1f} ms CPU per image (median)"
    )
    return "\n".join(lines)


__all__ = [
    "ElpvSplit",
    "EvalReport",
    "EvalRow",
    "auroc",
    "detection_at",
    "evaluate_elpv",
    "format_table",
    "load_elpv",
]

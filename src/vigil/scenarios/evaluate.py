"""Zero- and few-shot accuracy of scenario classifiers on real labeled data.

Fashion-MNIST (Zalando, MIT; Debian ``dataset-fashion-mnist``): the shots are
drawn from a class-balanced pool of the *train* split, the scores are measured on
a disjoint class-balanced subset of the *test* split, and every k is averaged
over several random draws of the shots (mean and standard deviation). Prompts are
the real class names in a small ensemble of templates. Embeddings come from the
real embedder and are cached in ``home/cache/*.npz`` so that a second run only
refits the classifiers.

>>> result = evaluate_few_shot(embedder, cache_dir=Path("vigil-data/cache"))  # doctest: +SKIP
>>> print(format_table(result))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, recall_score

from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.evaluation.datasets import LabeledImages, load_fashion_mnist
from vigil.scenarios.classify import (
    Method,
    class_text_vectors,
    expected_calibration_error,
    fit_classifier,
    fit_temperature,
    probabilities,
)
from vigil.scenarios.spec import quick_spec

PROMPT_TEMPLATES = (
    "a photo of a {}",
    "a black and white photo of a {}",
    "a low resolution photo of a {}",
)
DEFAULT_SHOTS = (1, 2, 4, 8, 16)
PIXEL_SIDE = 64  # the raw-pixel baseline reads 64x64 grey pixels in [0, 1]
PIXEL_C = 1.0  # its inverse L2 strength: scikit-learn's default, not tuned here
# "auto" is what auto-label uses (cross-validated choice, the probe with backbone
# features where the embedder has them); the others are forced. "pixels-logreg" is the
# baseline every method must beat: logistic regression on the raw pixels of the same shots.
METHODS: tuple[tuple[str, tuple[Method, ...] | None], ...] = (
    ("auto", None),
    ("tip-adapter", ("tip-adapter",)),
    ("linear-probe", ("linear-probe",)),
)
BACKBONE_PROBE = "probe+backbone"
PIXEL_BASELINE = "pixels-logreg"


@dataclass(frozen=True)
class EvalRow:
    """One method at one k, over all draws."""

    method: str
    shots: int  # per class; 0 = zero-shot
    accuracy_mean: float
    accuracy_std: float
    macro_f1_mean: float
    macro_f1_std: float
    draws: int
    chosen: dict[str, int] = field(default_factory=dict)  # auto only: method -> times chosen
    recall: tuple[float, ...] = ()  # per class, mean over draws, in class order
    constant_draws: int = 0  # draws whose model gave every test item one class

    @property
    def min_recall(self) -> float:
        return min(self.recall) if self.recall else float("nan")


@dataclass(frozen=True)
class EvalResult:
    """Everything ``vigil eval scenario`` prints and plots."""

    dataset: str
    model_id: str
    class_names: tuple[str, ...]
    train_pool: int
    test_items: int
    rows: list[EvalRow]
    zero_shot_temperature: float  # fitted on the train pool (the default-temperature recipe)
    zero_shot_ece: float  # on the test subset at that temperature
    embed_seconds: float

    def row(self, method: str, shots: int) -> EvalRow:
        for row in self.rows:
            if row.method == method and row.shots == shots:
                return row
        raise InvalidInputError(f"no result for {method!r} at {shots} shots")


def _cache_name(embedder: Embedder, data: LabeledImages, tag: str) -> str:
    digest = hashlib.sha256(data.images.tobytes()).hexdigest()[:16]
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.model_id)
    return f"{model}-{data.name.replace('/', '_')}-{tag}-{digest}.npz"


def embed_cached(
    embedder: Embedder, data: LabeledImages, cache_dir: Path | None, tag: str
) -> np.ndarray:
    """Image vectors of ``data``, read from or written to an npz keyed by model and pixels."""
    path = cache_dir / _cache_name(embedder, data, tag) if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            vectors: np.ndarray = stored["vectors"]
        if vectors.shape == (len(data.labels), embedder.dim):
            return vectors
    vectors = embedder.embed_images(list(data.images))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, vectors=vectors, labels=data.labels)
    return vectors


def backbone_cached(
    embedder: Embedder, data: LabeledImages, cache_dir: Path | None, tag: str
) -> np.ndarray:
    """The embedder's backbone features of ``data`` (cached like ``embed_cached``)."""
    name = _cache_name(embedder, data, f"{tag}-backbone")
    path = cache_dir / name if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            features: np.ndarray = stored["features"]
        if features.shape == (len(data.labels), embedder.backbone_dim):
            return features
    features = embedder.backbone_features(list(data.images))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, features=features, labels=data.labels)
    return features


def draw_shots(labels: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``shots`` random examples of every class (without replacement)."""
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < shots:
            raise InvalidInputError(
                f"class {c} has {len(members)} pool examples, {shots} shots requested"
            )
        chosen.append(rng.choice(members, shots, replace=False))
    return np.concatenate(chosen)


def _scores(
    predicted: np.ndarray, labels: np.ndarray, n_classes: int
) -> tuple[float, float, np.ndarray]:
    recall = recall_score(
        labels, predicted, labels=list(range(n_classes)), average=None, zero_division=0
    )
    return (
        float(accuracy_score(labels, predicted)),
        float(f1_score(labels, predicted, average="macro", zero_division=0)),
        np.asarray(recall, dtype=np.float64),
    )


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(N, 64*64) grey pixels in [0, 1]: the input of the raw-pixel baseline."""
    rows = []
    for image in images:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        resized = cv2.resize(grey, (PIXEL_SIDE, PIXEL_SIDE), interpolation=cv2.INTER_AREA)
        rows.append(resized.reshape(-1).astype(np.float32) / 255.0)
    return np.stack(rows)  # (N, 4096)


def _pixel_baseline(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    model = LogisticRegression(C=PIXEL_C, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # separable few-shot data
        model.fit(train, labels)
    predicted: np.ndarray = model.predict(test)
    return predicted


def _subset(data: LabeledImages, keep: tuple[int, ...]) -> LabeledImages:
    """Only the classes ``keep`` (original ids), relabelled 0..len(keep)-1 in that order."""
    chosen = np.isin(data.labels, keep)
    relabel = {old: new for new, old in enumerate(keep)}
    return LabeledImages(
        name=data.name,
        images=np.ascontiguousarray(data.images[chosen]),
        labels=np.asarray([relabel[int(c)] for c in data.labels[chosen]], dtype=np.int64),
        class_names=tuple(data.class_names[c] for c in keep),
    )


def evaluate_few_shot(
    embedder: Embedder,
    *,
    shots: tuple[int, ...] = DEFAULT_SHOTS,
    draws: int = 5,
    pool_per_class: int = 32,
    test_per_class: int = 100,
    seed: int = 0,
    cache_dir: Path | None = None,
    classes: tuple[str, ...] = (),
    on_step: Callable[[str], None] | None = None,
) -> EvalResult:
    """Zero-shot, then every method at every k, averaged over ``draws`` draws of the shots.

    ``classes`` restricts the set to some Fashion-MNIST classes (e.g. a two-class
    scenario); every method, the raw-pixel baseline included, sees the same shots.
    """
    if draws < 1 or not shots or min(shots) < 1:
        raise InvalidInputError(f"need draws >= 1 and shots >= 1, got {draws} and {shots}")
    if max(shots) > pool_per_class:
        raise InvalidInputError(
            f"pool_per_class ({pool_per_class}) must be >= the largest k ({max(shots)})"
        )
    say = on_step or (lambda _message: None)
    pool = load_fashion_mnist("train", per_class=pool_per_class, seed=seed)
    test = load_fashion_mnist("test", per_class=test_per_class, seed=seed)
    keep = _class_ids(pool.class_names, classes)
    started = time.perf_counter()
    say(f"embedding {len(pool.labels)} train-pool and {len(test.labels)} test images")
    pool_vectors = embed_cached(embedder, pool, cache_dir, "pool")
    test_vectors = embed_cached(embedder, test, cache_dir, "test")
    backbone_dim = embedder.backbone_dim
    if backbone_dim:
        pool_vectors = np.hstack([pool_vectors, backbone_cached(embedder, pool, cache_dir, "pool")])
        test_vectors = np.hstack([test_vectors, backbone_cached(embedder, test, cache_dir, "test")])
    embed_seconds = time.perf_counter() - started
    pool_pixels, test_pixels = pixel_features(pool.images), pixel_features(test.images)
    if keep:
        pool_mask, test_mask = np.isin(pool.labels, keep), np.isin(test.labels, keep)
        pool_vectors, pool_pixels = pool_vectors[pool_mask], pool_pixels[pool_mask]
        test_vectors, test_pixels = test_vectors[test_mask], test_pixels[test_mask]
        pool, test = _subset(pool, keep), _subset(test, keep)
    dim = embedder.dim
    n_classes = len(pool.class_names)
    spec = quick_spec("fashion-mnist", list(pool.class_names))
    spec = spec.model_copy(
        update={
            "classes": [
                c.model_copy(update={"prompts": [t.format(c.name) for t in PROMPT_TEMPLATES]})
                for c in spec.classes
            ]
        }
    )
    text_vectors = class_text_vectors(spec, lambda texts: embedder.embed_texts(texts))
    # The default-temperature recipe: fit T on zero-shot cosines of the train pool.
    zs_t = fit_temperature(pool_vectors[:, :dim] @ text_vectors.T, pool.labels)
    zero_shot = fit_classifier(text_vectors, pool.class_names, default_t=zs_t)
    zs_pred = zero_shot.predict_proba(test_vectors[:, :dim]).argmax(axis=1)
    zs_acc, zs_f1, zs_recall = _scores(zs_pred, test.labels, n_classes)
    zs_ece = expected_calibration_error(
        probabilities(test_vectors[:, :dim] @ text_vectors.T, zs_t), test.labels
    )
    rows = [
        EvalRow(
            "zero-shot",
            0,
            zs_acc,
            0.0,
            zs_f1,
            0.0,
            1,
            recall=tuple(zs_recall),
            constant_draws=int(len(np.unique(zs_pred)) == 1),
        )
    ]
    runs: list[tuple[str, tuple[Method, ...] | None, int]] = [
        (name, methods, backbone_dim if methods is None else 0) for name, methods in METHODS
    ]
    if backbone_dim:
        runs.append((BACKBONE_PROBE, ("linear-probe",), backbone_dim))
    runs.append((PIXEL_BASELINE, None, -1))
    for k in shots:
        for name, methods, features in runs:
            accuracies, f1s, recalls = [], [], []
            chosen: dict[str, int] = {}
            constant = 0
            for draw in range(draws):
                rng = np.random.default_rng([seed, k, draw])
                picked = draw_shots(pool.labels, k, rng)
                if features < 0:
                    predicted = _pixel_baseline(
                        pool_pixels[picked], pool.labels[picked], test_pixels
                    )
                else:
                    columns = dim + features
                    model = fit_classifier(
                        text_vectors,
                        pool.class_names,
                        pool_vectors[picked, :columns],
                        pool.labels[picked],
                        default_t=zs_t,
                        seed=draw,
                        methods=methods,
                        backbone_dim=features,
                    )
                    predicted = model.predict_proba(test_vectors[:, : model.input_dim]).argmax(
                        axis=1
                    )
                    label = model.method + ("+backbone" if model.backbone_dim else "")
                    chosen[label] = chosen.get(label, 0) + 1
                accuracy, f1, recall = _scores(predicted, test.labels, n_classes)
                accuracies.append(accuracy)
                f1s.append(f1)
                recalls.append(recall)
                constant += int(len(np.unique(predicted)) == 1)
            rows.append(
                EvalRow(
                    name,
                    k,
                    float(np.mean(accuracies)),
                    float(np.std(accuracies)),
                    float(np.mean(f1s)),
                    float(np.std(f1s)),
                    draws,
                    chosen if methods is None and features >= 0 else {},
                    recall=tuple(float(r) for r in np.mean(recalls, axis=0)),
                    constant_draws=constant,
                )
            )
            say(f"k={k:>2} {name:<14} accuracy {np.mean(accuracies):.3f}")
    return EvalResult(
        dataset=f"{pool.name} pool {len(pool.labels)} (shots) / {test.name} {len(test.labels)}",
        model_id=embedder.model_id,
        class_names=pool.class_names,
        train_pool=len(pool.labels),
        test_items=len(test.labels),
        rows=rows,
        zero_shot_temperature=zs_t,
        zero_shot_ece=zs_ece,
        embed_seconds=embed_seconds,
    )


def _class_ids(names: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the wanted class names; unknown or repeated names are clear errors."""
    if not wanted:
        return ()
    lowered = [name.lower() for name in names]
    ids = []
    for name in wanted:
        if name.strip().lower() not in lowered:
            raise InvalidInputError(f"unknown class {name!r}; Fashion-MNIST has {list(names)}")
        ids.append(lowered.index(name.strip().lower()))
    if len(set(ids)) != len(ids) or len(ids) < 2:
        raise InvalidInputError(f"need at least 2 different classes, got {list(wanted)}")
    return tuple(ids)


def format_table(result: EvalResult) -> str:
    """A fixed-width table: one line per method and k, then recall per class."""
    lines = [
        f"data: {result.dataset}",
        f"model: {result.model_id}",
        f"zero-shot temperature {result.zero_shot_temperature:.4f} (fitted on the train pool), "
        f"test ECE {result.zero_shot_ece:.3f}",
        f"baseline: {PIXEL_BASELINE} = logistic regression on {PIXEL_SIDE}x{PIXEL_SIDE} grey "
        "pixels of the same shots",
        f"{'method':<15}{'k':>3}  {'accuracy':>15}  {'macro-F1':>15}  {'min-recall':>10}  "
        "one-class  chosen",
    ]
    for row in result.rows:
        chosen = ", ".join(f"{m} x{n}" for m, n in sorted(row.chosen.items()))
        lines.append(
            f"{row.method:<15}{row.shots:>3}  {row.accuracy_mean:>7.3f} ± {row.accuracy_std:.3f}"
            f"  {row.macro_f1_mean:>7.3f} ± {row.macro_f1_std:.3f}  {row.min_recall:>10.3f}  "
            f"{row.constant_draws:>3}/{row.draws:<5}  {chosen}"
        )
    lines.append("recall per class (mean over draws):")
    short = [name[:9] for name in result.class_names]
    lines.append(f"{'method':<15}{'k':>3}  " + " ".join(f"{name:>9}" for name in short))
    for row in result.rows:
        lines.append(
            f"{row.method:<15}{row.shots:>3}  " + " ".join(f"{value:>9.3f}" for value in row.recall)
        )
    return "\n".join(lines)


def plot_result(result: EvalResult, path: Path) -> Path:
    """Accuracy against shots per method (error bars: std over draws), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zero = result.row("zero-shot", 0)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    names = [name for name, _ in METHODS] + [BACKBONE_PROBE, PIXEL_BASELINE]
    for name in names:
        rows = [row for row in result.rows if row.method == name]
        if not rows:
            continue
        axes.errorbar(
            [row.shots for row in rows],
            [row.accuracy_mean for row in rows],
            yerr=[row.accuracy_std for row in rows],
            marker="o",
            capsize=3,
            label=name,
        )
    axes.axhline(zero.accuracy_mean, color="grey", linestyle="--", label="zero-shot")
    axes.set_xscale("log", base=2)
    shots = sorted({row.shots for row in result.rows if row.shots > 0})
    axes.set_xticks(shots, [str(k) for k in shots])
    axes.set_xlabel("labeled examples per class (k)")
    axes.set_ylabel("accuracy")
    axes.set_title(f"Few-shot scenario classifiers\n{result.dataset}", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.evaluation.datasets import LabeledImages, load_fashion_mnist
from vigil.scenarios.classify import (
    Method,
    ScenarioClassifier,
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
# "auto" is what auto-label uses (cross-validated choice); the others are forced.
METHODS: tuple[tuple[str, tuple[Method, ...] | None], ...] = (
    ("auto", None),
    ("tip-adapter", ("tip-adapter",)),
    ("linear-probe", ("linear-probe",)),
)


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
    model: ScenarioClassifier, vectors: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    predicted = model.predict_proba(vectors).argmax(axis=1)
    return (
        float(accuracy_score(labels, predicted)),
        float(f1_score(labels, predicted, average="macro", zero_division=0)),
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
    on_step: Callable[[str], None] | None = None,
) -> EvalResult:
    """Zero-shot, then every method at every k, averaged over ``draws`` draws of the shots."""
    if draws < 1 or not shots or min(shots) < 1:
        raise InvalidInputError(f"need draws >= 1 and shots >= 1, got {draws} and {shots}")
    if max(shots) > pool_per_class:
        raise InvalidInputError(
            f"pool_per_class ({pool_per_class}) must be >= the largest k ({max(shots)})"
        )
    say = on_step or (lambda _message: None)
    pool = load_fashion_mnist("train", per_class=pool_per_class, seed=seed)
    test = load_fashion_mnist("test", per_class=test_per_class, seed=seed)
    started = time.perf_counter()
    say(f"embedding {len(pool.labels)} train-pool and {len(test.labels)} test images")
    pool_vectors = embed_cached(embedder, pool, cache_dir, "pool")
    test_vectors = embed_cached(embedder, test, cache_dir, "test")
    embed_seconds = time.perf_counter() - started
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
    zs_t = fit_temperature(pool_vectors @ text_vectors.T, pool.labels)
    zero_shot = fit_classifier(text_vectors, pool.class_names, default_t=zs_t)
    zs_acc, zs_f1 = _scores(zero_shot, test_vectors, test.labels)
    zs_ece = expected_calibration_error(
        probabilities(test_vectors @ text_vectors.T, zs_t), test.labels
    )
    rows = [EvalRow("zero-shot", 0, zs_acc, 0.0, zs_f1, 0.0, 1)]
    for k in shots:
        for name, methods in METHODS:
            accuracies, f1s = [], []
            chosen: dict[str, int] = {}
            for draw in range(draws):
                rng = np.random.default_rng([seed, k, draw])
                picked = draw_shots(pool.labels, k, rng)
                model = fit_classifier(
                    text_vectors,
                    pool.class_names,
                    pool_vectors[picked],
                    pool.labels[picked],
                    default_t=zs_t,
                    seed=draw,
                    methods=methods,
                )
                accuracy, f1 = _scores(model, test_vectors, test.labels)
                accuracies.append(accuracy)
                f1s.append(f1)
                chosen[model.method] = chosen.get(model.method, 0) + 1
            rows.append(
                EvalRow(
                    name,
                    k,
                    float(np.mean(accuracies)),
                    float(np.std(accuracies)),
                    float(np.mean(f1s)),
                    float(np.std(f1s)),
                    draws,
                    chosen if methods is None else {},
                )
            )
            say(f"k={k:>2} {name:<12} accuracy {np.mean(accuracies):.3f}")
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


def format_table(result: EvalResult) -> str:
    """A fixed-width table: one line per method and k."""
    lines = [
        f"data: {result.dataset}",
        f"model: {result.model_id}",
        f"zero-shot temperature {result.zero_shot_temperature:.4f} (fitted on the train pool), "
        f"test ECE {result.zero_shot_ece:.3f}",
        f"{'method':<13}{'k':>3}  {'accuracy':>15}  {'macro-F1':>15}  chosen",
    ]
    for row in result.rows:
        chosen = ", ".join(f"{m} x{n}" for m, n in sorted(row.chosen.items()))
        lines.append(
            f"{row.method:<13}{row.shots:>3}  {row.accuracy_mean:>7.3f} ± {row.accuracy_std:.3f}"
            f"  {row.macro_f1_mean:>7.3f} ± {row.macro_f1_std:.3f}  {chosen}"
        )
    return "\n".join(lines)


def plot_result(result: EvalResult, path: Path) -> Path:
    """Accuracy against shots per method (error bars: std over draws), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zero = result.row("zero-shot", 0)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for name, _ in METHODS:
        rows = [row for row in result.rows if row.method == name]
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

"""Retrieval quality on a real labelled image set: recall@k, precision@k and mAP.

Text->image: each class is one query (its name in prompt templates, the prompt
vectors averaged as in CLIP's prompt ensembling); the relevant images are those
of that class. Image->image: each image queries all the others; relevant = same
class. The metrics are plain numpy functions on a boolean "is the i-th ranked
item relevant" matrix, so they can be checked by hand on tiny rankings.

Published figures: a "published" column is shown only for figures verified for
the same model, data set and metric. None are known: the CLIP paper reports
zero-shot *classification accuracy* and not on Fashion-MNIST, and the default
concept-bridge embedder is Vigil's own composition (ImageNet classifier + COCO
detector + sentence encoder) that nobody has published retrieval figures for.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vigil.embedders.base import Embedder, l2_normalize
from vigil.errors import InvalidInputError
from vigil.evaluation.datasets import LabeledImages, load_fashion_mnist

KS = (1, 5, 10)
PROGRESS_CHUNK = 64  # images embedded between two progress reports
DATASETS: dict[str, Callable[..., LabeledImages]] = {"fashion-mnist": load_fashion_mnist}
PROMPT_TEMPLATES = ("a photo of a {}.", "a black and white photo of a {}.", "a photo of the {}.")

# (model_id, dataset, task, metric) -> (value, citation). Only figures checked against
# the cited source belong here; see the module docstring for why it is empty.
PUBLISHED: dict[tuple[str, str, str, str], tuple[float, str]] = {}


# -- metrics ------------------------------------------------------------------------------


def ranked_relevance(
    scores: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray
) -> np.ndarray:
    """(Q, N) bool: is the i-th best gallery item of each query relevant (same label)?

    Ties keep gallery order (stable sort), so results do not depend on the platform.
    """
    if scores.shape != (query_labels.size, gallery_labels.size):
        raise InvalidInputError(
            f"scores must be ({query_labels.size}, {gallery_labels.size}), got {scores.shape}"
        )
    order = np.argsort(-scores, axis=1, kind="stable")
    relevant: np.ndarray = gallery_labels[order] == query_labels[:, None]
    return relevant


def recall_at_k(relevant: np.ndarray, k: int) -> float:
    """Share of queries with at least one relevant item in their top ``k``."""
    _check(relevant, k)
    return float(relevant[:, :k].any(axis=1).mean())


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    """Mean share of relevant items among each query's top ``k``."""
    _check(relevant, k)
    return float(relevant[:, :k].mean(axis=1).mean())


def average_precision(relevant: np.ndarray) -> np.ndarray:
    """Per query, the mean of precision@i over the ranks i of its relevant items (0 if none)."""
    _check(relevant, 1)
    hits = relevant.astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    count = hits.sum(axis=1)
    ap: np.ndarray = np.where(count > 0, (precision * hits).sum(axis=1) / np.maximum(count, 1), 0)
    return ap


def mean_average_precision(relevant: np.ndarray) -> float:
    return float(average_precision(relevant).mean())


def _check(relevant: np.ndarray, k: int) -> None:
    if relevant.ndim != 2 or relevant.shape[0] == 0 or relevant.shape[1] == 0:
        raise InvalidInputError(
            f"expected a non-empty (queries, ranked) array, got {relevant.shape}"
        )
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")


# -- the harness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskResult:
    """One retrieval direction measured on one data set."""

    task: str  # "text->image" or "image->image"
    queries: int
    gallery: int
    recall: dict[int, float]  # k -> at least one relevant in the top k
    precision: dict[int, float]  # k -> share relevant in the top k
    map: float  # mean average precision over the whole ranking
    published: dict[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrievalReport:
    model_id: str
    dataset: str  # e.g. "fashion-mnist/test"
    per_class: int
    seed: int
    images: int
    classes: tuple[str, ...]
    prompt_templates: tuple[str, ...]
    tasks: tuple[TaskResult, ...]
    embed_seconds: float  # 0 when the image vectors came from the cache
    cached: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def score_tasks(
    image_vectors: np.ndarray,
    labels: np.ndarray,
    class_vectors: np.ndarray,
    *,
    ks: Sequence[int] = KS,
) -> tuple[TaskResult, TaskResult]:
    """Text->image and image->image results from unit-normalised vectors."""
    images = l2_normalize(image_vectors.astype(np.float32))
    classes = l2_normalize(class_vectors.astype(np.float32))
    n = images.shape[0]
    if labels.shape != (n,):
        raise InvalidInputError(f"expected {n} labels, got shape {labels.shape}")

    text_rel = ranked_relevance(classes @ images.T, np.arange(classes.shape[0]), labels)
    similarity = images @ images.T
    np.fill_diagonal(similarity, -np.inf)  # a query never retrieves itself
    image_rel = ranked_relevance(similarity, labels, labels)[:, : n - 1]  # self sorts last

    def result(task: str, relevant: np.ndarray, gallery: int) -> TaskResult:
        return TaskResult(
            task=task,
            queries=relevant.shape[0],
            gallery=gallery,
            recall={k: recall_at_k(relevant, k) for k in ks},
            precision={k: precision_at_k(relevant, k) for k in ks},
            map=mean_average_precision(relevant),
        )

    return result("text->image", text_rel, n), result("image->image", image_rel, n - 1)


def class_query_vectors(
    embedder: Embedder, class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES
) -> np.ndarray:
    """One unit vector per class: the normalised mean of its prompt vectors."""
    if not templates or any("{}" not in t for t in templates):
        raise InvalidInputError(f"each prompt template needs one '{{}}', got {list(templates)}")
    prompts = [t.format(name) for name in class_names for t in templates]
    vectors = l2_normalize(embedder.embed_texts(prompts)).reshape(
        len(class_names), len(templates), -1
    )
    return l2_normalize(vectors.mean(axis=1))


def evaluate_retrieval(
    embedder: Embedder,
    *,
    dataset: str = "fashion-mnist",
    per_class: int = 50,
    seed: int = 0,
    cache_dir: Path | None = None,
    templates: Sequence[str] = PROMPT_TEMPLATES,
    ks: Sequence[int] = KS,
    on_progress: Callable[[int, int], None] | None = None,
) -> RetrievalReport:
    """Embed a class-balanced test subset (cached per model and subset) and score both tasks.

    ``on_progress(done, total)`` is called as images are embedded (minutes on a CPU).
    """
    if dataset not in DATASETS:
        raise InvalidInputError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    if per_class < 2:
        raise InvalidInputError(
            f"per_class must be >= 2 (image->image needs a pair), got {per_class}"
        )
    data = DATASETS[dataset]("test", per_class=per_class, seed=seed)
    cache = None
    if cache_dir is not None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{embedder.model_id}--{dataset}")
        cache = cache_dir / f"retrieval-{safe}-test-{per_class}pc-seed{seed}.npz"
    vectors, seconds, cached = _image_vectors(embedder, data, cache, on_progress)
    class_vectors = class_query_vectors(embedder, data.class_names, templates)
    text, image = score_tasks(vectors, data.labels, class_vectors, ks=ks)
    tasks = tuple(
        TaskResult(**{**asdict(t), "published": _published(embedder.model_id, dataset, t.task)})
        for t in (text, image)
    )
    return RetrievalReport(
        model_id=embedder.model_id,
        dataset=data.name,
        per_class=per_class,
        seed=seed,
        images=int(data.labels.size),
        classes=data.class_names,
        prompt_templates=tuple(templates),
        tasks=tasks,
        embed_seconds=seconds,
        cached=cached,
    )


def _image_vectors(
    embedder: Embedder,
    data: LabeledImages,
    cache: Path | None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, float, bool]:
    """Image vectors, read from ``cache`` when it holds this exact subset (same labels)."""
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as stored:
                vectors, labels = stored["vectors"], stored["labels"]
            if np.array_equal(labels, data.labels) and vectors.shape[0] == labels.size:
                return vectors, 0.0, True
        except (OSError, KeyError, ValueError):
            pass  # unreadable or stale cache: embed again and overwrite it
    started = time.perf_counter()
    images = list(data.images)
    chunks = []
    for start in range(0, len(images), PROGRESS_CHUNK):
        chunks.append(embedder.embed_images(images[start : start + PROGRESS_CHUNK]))
        if on_progress is not None:
            on_progress(min(start + PROGRESS_CHUNK, len(images)), len(images))
    vectors = np.concatenate(chunks) if chunks else embedder.embed_images(images)
    seconds = time.perf_counter() - started
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".tmp.npz")
        np.savez(partial, vectors=vectors, labels=data.labels)
        partial.replace(cache)
    return vectors, seconds, False


def _published(model_id: str, dataset: str, task: str) -> dict[str, tuple[float, str]]:
    return {
        metric: figure
        for (model, data, kind, metric), figure in PUBLISHED.items()
        if (model, data, kind) == (model_id, dataset, task)
    }

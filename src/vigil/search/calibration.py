"""Fit the confidence model of ``vigil.search.trust`` for one backend.

The fit is a logistic regression of "this item is relevant to this query" on the
query-independent features of ``trust.semantic_features``, over (query, item)
pairs whose relevance people decided: class prompts against class-labelled images
(a query is relevant to the images of its class, and never to any image for a
prompt naming something the set does not contain). The caller chooses the data;
``bench/fit_calibration.py`` uses the Fashion-MNIST TRAIN split and the dev
queries of the judged set, never their held-out queries or the test split.

Run it again for a different backend or weights (CLIP/SigLIP included) and store
the result with ``write_calibration``; ``trust.calibration_for`` only uses
coefficients whose ``model_id`` matches the running embedder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.embedders.base import Embedder, l2_normalize
from vigil.errors import InvalidInputError
from vigil.search.trust import FEATURES, concept_space, expand_query, semantic_features

CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.json"
TOP = 3  # hits per query that calibration examples are taken from


@dataclass(frozen=True)
class Examples:
    """Feature rows and 0/1 relevance labels of (query, item) pairs."""

    features: np.ndarray  # (N, len(FEATURES))
    labels: np.ndarray  # (N,) 0/1

    def __add__(self, other: Examples) -> Examples:
        return Examples(
            np.concatenate([self.features, other.features]),
            np.concatenate([self.labels, other.labels]),
        )


def text_examples(
    embedder: Embedder,
    item_vectors: np.ndarray,
    queries: Sequence[str],
    relevant: Sequence[Sequence[int]],
    top: int = TOP,
) -> Examples:
    """(query, item) pairs of each query's ``top`` hits; ``relevant[q]``: what query q shows.

    Only the top hits: a confidence is read on the hits a query returns, and a
    query's answer is decided on its best ones, so that is where it must be right.
    """
    if len(queries) != len(relevant):
        raise InvalidInputError(f"{len(queries)} queries but {len(relevant)} relevance lists")
    space = concept_space(embedder)
    vectors = l2_normalize(np.asarray(item_vectors, np.float32))
    rows, labels = [], []
    for raw, wanted in zip(embedder.embed_texts(list(queries)), relevant, strict=True):
        query_vector = expand_query(raw, space)  # as search embeds a query
        archive = vectors @ query_vector
        best = np.argsort(-archive, kind="stable")[:top]
        rows.append(semantic_features(query_vector, vectors[best], space, archive))
        labels.append(np.isin(best, list(wanted)).astype(float))
    return Examples(np.concatenate(rows), np.concatenate(labels))


def image_examples(
    embedder: Embedder, item_vectors: np.ndarray, labels: np.ndarray, top: int = TOP
) -> Examples:
    """Each item queries the others (its ``top`` hits); relevant = same label."""
    space = concept_space(embedder)
    vectors = l2_normalize(np.asarray(item_vectors, np.float32))
    rows, relevance = [], []
    for position, query_vector in enumerate(vectors):
        others = np.delete(np.arange(len(vectors)), position)
        archive = vectors[others] @ query_vector
        best = others[np.argsort(-archive, kind="stable")[:top]]
        rows.append(semantic_features(query_vector, vectors[best], space, archive))
        relevance.append((labels[best] == labels[position]).astype(float))
    return Examples(np.concatenate(rows), np.concatenate(relevance))


def archive_image_examples(
    embedder: Embedder,
    item_vectors: np.ndarray,
    images: Sequence[np.ndarray],
    relevant: Sequence[Sequence[int]],
    top: int = TOP,
) -> Examples:
    """Query photos (not in the archive) against the archive's items: their ``top`` hits."""
    if len(images) != len(relevant):
        raise InvalidInputError(f"{len(images)} query images but {len(relevant)} relevance lists")
    space = concept_space(embedder)
    vectors = l2_normalize(np.asarray(item_vectors, np.float32))
    rows, labels = [], []
    for query_vector, wanted in zip(embedder.embed_images(list(images)), relevant, strict=True):
        archive = vectors @ query_vector
        best = np.argsort(-archive, kind="stable")[:top]
        rows.append(semantic_features(query_vector, vectors[best], space, archive))
        labels.append(np.isin(best, list(wanted)).astype(float))
    return Examples(np.concatenate(rows), np.concatenate(labels))


def fit(
    examples: Examples, extra: Examples | None = None, dev_weight: float = 1.0
) -> tuple[list[float], float]:
    """Plain logistic regression over top-hit pairs: P(a returned hit is relevant).

    ``extra`` examples (the judged archive's dev queries) count ``dev_weight`` times one
    of ``examples``.
    """
    from sklearn.linear_model import LogisticRegression

    weights = np.ones(examples.labels.size)
    if extra is not None:
        weights = np.concatenate([weights, np.full(extra.labels.size, dev_weight)])
        examples = examples + extra
    if examples.labels.min() == examples.labels.max():
        raise InvalidInputError("calibration needs both relevant and irrelevant pairs")
    model = LogisticRegression(C=100.0, max_iter=5000)  # weak penalty: features are 0..1
    model.fit(examples.features, examples.labels, sample_weight=weights)
    return [float(w) for w in model.coef_[0]], float(model.intercept_[0])


def write_calibration(
    embedder: Embedder,
    kind: str,
    weights: list[float],
    bias: float,
    fitted_on: str,
    examples: int,
    path: Path = CALIBRATION_FILE,
) -> None:
    """Store one backend's coefficients for ``kind`` ("text" or "image") in the package."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault(embedder.name, {})[kind] = {
        "model_id": embedder.model_id,
        "features": list(FEATURES),
        "weights": [round(w, 5) for w in weights],
        "bias": round(bias, 5),
        "fitted_on": fitted_on,
        "examples": examples,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

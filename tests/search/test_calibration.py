"""Fitting the confidence model: real Fashion-MNIST train images, the fake backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.base import create_embedder
from vigil.errors import InvalidInputError
from vigil.evaluation.datasets import load_fashion_mnist
from vigil.search.calibration import (
    Examples,
    fit,
    image_examples,
    text_examples,
    write_calibration,
)
from vigil.search.trust import FEATURES
from vigil.settings import EmbedderSettings


def test_fit_and_store_coefficients_for_a_backend(tmp_path: Path) -> None:
    embedder = create_embedder(EmbedderSettings(name="fake"))
    train = load_fashion_mnist("train", per_class=3, seed=1)
    vectors = embedder.embed_images(list(train.images))
    queries = ["a sneaker", "a bag", "an elephant"]
    relevant = [
        list(np.flatnonzero(train.labels == 7)),
        list(np.flatnonzero(train.labels == 8)),
        [],
    ]
    examples = text_examples(embedder, vectors, queries, relevant, top=5)
    assert examples.features.shape == (15, len(FEATURES))
    examples = examples + image_examples(embedder, vectors, train.labels, top=5)
    weights, bias = fit(examples)
    assert len(weights) == len(FEATURES) and np.isfinite([*weights, bias]).all()
    target = tmp_path / "calibration.json"
    write_calibration(embedder, "text", weights, bias, "Fashion-MNIST train (test)", 30, target)
    stored = json.loads(target.read_text())["fake"]["text"]
    assert stored["model_id"] == embedder.model_id and stored["features"] == list(FEATURES)


def test_fit_needs_both_kinds_of_pair() -> None:
    with pytest.raises(InvalidInputError, match="both relevant and irrelevant"):
        fit(Examples(np.zeros((3, len(FEATURES))), np.zeros(3)))

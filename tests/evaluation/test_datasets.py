"""The real Fashion-MNIST files from Debian's dataset-fashion-mnist package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.errors import InvalidInputError, NotFoundError
from vigil.evaluation.datasets import load_fashion_mnist


def test_test_split_is_the_real_balanced_set() -> None:
    data = load_fashion_mnist("test")
    assert data.images.shape == (10_000, 28, 28, 3)
    assert np.bincount(data.labels).tolist() == [1000] * 10
    assert data.name == "fashion-mnist/test"
    # Garments are centred on a black background: the top row is darker than the centre.
    assert data.images[:, 0, :, :].mean() < data.images[:, 10:18, 10:18, :].mean()
    assert all(np.array_equal(image[..., 0], image[..., 2]) for image in data.images[:50])


def test_balanced_subset_is_reproducible() -> None:
    first = load_fashion_mnist("train", per_class=5, seed=3)
    again = load_fashion_mnist("train", per_class=5, seed=3)
    assert np.bincount(first.labels).tolist() == [5] * 10
    assert np.array_equal(first.images, again.images)


def test_bad_split_and_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="split"):
        load_fashion_mnist("validation")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(folder=tmp_path)

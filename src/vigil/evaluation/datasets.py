"""Real labelled image sets that ship inside registry packages (no hub downloads).

Fashion-MNIST (Zalando, MIT) comes from Debian's ``dataset-fashion-mnist`` package
(installed by ``scripts/setup``) as the original IDX files.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vigil.errors import InvalidInputError, NotFoundError

FASHION_MNIST_DIR = Path(
    os.environ.get("VIGIL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


@dataclass(frozen=True)
class LabeledImages:
    """Images with one human label each."""

    name: str  # data set and split, quoted with every figure measured on it
    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64 indices into class_names
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[3] != 3 or self.images.dtype != np.uint8:
            raise InvalidInputError(
                f"images must be (N, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise InvalidInputError(
                f"expected {self.images.shape[0]} labels, got shape {self.labels.shape}"
            )


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (big-endian header: magic, then one uint32 per dimension)."""
    if not path.exists():
        raise NotFoundError(
            f"{path} is missing: install Debian's dataset-fashion-mnist (scripts/setup does)"
        )
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(
    split: Literal["train", "test"] = "test",
    *,
    limit: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
    folder: Path = FASHION_MNIST_DIR,
) -> LabeledImages:
    """Fashion-MNIST as RGB images; ``per_class`` draws a class-balanced random subset.

    >>> data = load_fashion_mnist("test", per_class=20)  # doctest: +SKIP
    """
    if split not in ("train", "test"):
        raise InvalidInputError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    grey = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")  # (N, 28, 28)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)  # (N,)
    chosen = np.arange(labels.size)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        chosen = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                    for c in range(len(FASHION_MNIST_CLASSES))
                ]
            )
        )
    if limit is not None:
        chosen = chosen[:limit]
    rgb = np.repeat(grey[chosen][..., None], 3, axis=3)  # (N, 28, 28, 3)
    return LabeledImages(
        name=f"fashion-mnist/{split}",
        images=np.ascontiguousarray(rgb),
        labels=labels[chosen],
        class_names=FASHION_MNIST_CLASSES,
    )

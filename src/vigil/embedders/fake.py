"""A deterministic fake embedder for fast unit tests (never picked by 'auto').

Images map to a fixed random projection of a 4x4 colour thumbnail, so similar
pictures get similar vectors; texts map to a vector seeded by their hash, so
the same text always gives the same vector. It understands nothing.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from vigil.embedders.base import Embedder, register_embedder
from vigil.settings import EmbedderSettings

FAKE_DIM = 32


class FakeEmbedder(Embedder):
    name = "fake"

    def __init__(self, dim: int = FAKE_DIM, batch_size: int = 16) -> None:
        self.dim = dim
        self.model_id = f"fake-{dim}"
        self.batch_size = batch_size
        self.device = "cpu"
        rng = np.random.default_rng(0)
        self._projection = rng.standard_normal((4 * 4 * 3, dim)).astype(np.float32)

    def _embed_image_batch(self, images: list[np.ndarray]) -> np.ndarray:
        thumbs = [
            cv2.resize(image, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1) for image in images
        ]
        features = np.stack(thumbs).astype(np.float32) / 255.0 - 0.5  # (N, 48)
        return features @ self._projection  # (N, dim)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.lower().encode()).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).standard_normal(self.dim))
        return np.stack(rows)


@register_embedder(
    "fake",
    is_available=lambda settings: True,
    priority=0,  # 0: never chosen by 'auto'
    summary="deterministic fake for tests; understands nothing",
    testing=True,
)
def _create_fake(settings: EmbedderSettings) -> Embedder:
    return FakeEmbedder(batch_size=settings.batch_size or 16)

"""The clip backend on tiny random CLIP and SigLIP checkpoints (code path only, no quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.base import create_embedder
from vigil.embedders.clip import ClipEmbedder
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings


@pytest.fixture(scope="module")
def clip_embedder(tiny_checkpoint: Path) -> ClipEmbedder:
    embedder = create_embedder(EmbedderSettings(name="clip", clip_model=str(tiny_checkpoint)))
    assert isinstance(embedder, ClipEmbedder)
    return embedder


def test_loads_from_folder_with_config_dim(
    clip_embedder: ClipEmbedder, tiny_checkpoint: Path
) -> None:
    family = "siglip" if "siglip" in tiny_checkpoint.name else "clip"
    assert clip_embedder.model_id == f"clip:{tiny_checkpoint.name}"
    assert clip_embedder.dim == (24 if family == "clip" else 32)  # projection_dim / hidden size
    assert clip_embedder.device == "cpu"


def test_embeds_real_frames_and_photos(
    clip_embedder: ClipEmbedder,
    vtest_frames: list[np.ndarray],
    real_photos: dict[str, np.ndarray],
) -> None:
    images = [*vtest_frames[:2], real_photos["coffee"]]  # 768x576 frames and a 600x400 photo
    vectors = clip_embedder.embed_images(images)
    assert vectors.shape == (3, clip_embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[2])  # different pictures, different vectors


def test_embeds_texts(clip_embedder: ClipEmbedder) -> None:
    vectors = clip_embedder.embed_texts(["people walking on a street", "a cat", "zebra"])
    assert vectors.shape == (3, clip_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_deterministic_and_batch_independent(
    clip_embedder: ClipEmbedder, tiny_checkpoint: Path, vtest_frames: list[np.ndarray]
) -> None:
    first = clip_embedder.embed_images(vtest_frames)
    again = ClipEmbedder(str(tiny_checkpoint), device="cpu", batch_size=3)  # splits 3 + 1
    np.testing.assert_allclose(again.embed_images(vtest_frames), first, atol=1e-5)
    texts = ["a person", "people walking on a street"]
    np.testing.assert_allclose(
        again.embed_texts(texts), clip_embedder.embed_texts(texts), atol=1e-5
    )


def test_auto_picks_clip_when_folder_is_set(tiny_clip_checkpoint: Path) -> None:
    embedder = create_embedder(EmbedderSettings(name="auto", clip_model=str(tiny_clip_checkpoint)))
    assert isinstance(embedder, ClipEmbedder)


def test_missing_folder_says_to_pass_a_local_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        create_embedder(EmbedderSettings(name="clip", clip_model=str(missing)))


def test_folder_without_weights_is_wrapped(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="pass a local folder"):
        ClipEmbedder(str(tmp_path), device="cpu")


def test_clip_needs_a_model_name() -> None:
    with pytest.raises(ModelUnavailableError, match="clip_model"):
        create_embedder(EmbedderSettings(name="clip"))


def test_precision_setting(tiny_clip_checkpoint: Path, vtest_frames: list[np.ndarray]) -> None:
    import torch

    settings = EmbedderSettings(
        name="clip", clip_model=str(tiny_clip_checkpoint), device="cpu", precision="bf16"
    )
    half = create_embedder(settings)
    assert isinstance(half, ClipEmbedder) and half.dtype == torch.bfloat16
    full = ClipEmbedder(str(tiny_clip_checkpoint), device="cpu")
    assert full.dtype == torch.float32  # 'auto' on a CPU
    cosines = np.sum(half.embed_images(vtest_frames[:2]) * full.embed_images(vtest_frames[:2]), 1)
    assert cosines.min() > 0.99
    with pytest.raises(InvalidInputError, match="precision"):
        ClipEmbedder(str(tiny_clip_checkpoint), device="cpu", precision="fp8")

"""The on-device preprocessing against the checkpoint's own Hugging Face processor.

Tolerance. Stated first: 3 levels of 255 anywhere, a mean under 0.1 level, and
embeddings of a randomly initialised small CLIP with a cosine >= 0.999 to the
processor path's. Measured on these images, a one-pass resize missed that (8
levels at edges: PIL clips bicubic overshoot in its uint8 intermediate image),
so the resize became two rounded passes like PIL's. It now measures at most 1
level anywhere (1/255/std in normalised units: 0.015 for CLIP's std 0.27, 0.008
for SigLIP's 0.5) and a mean of 0.0004-0.0012 level for bicubic (CLIP, SigLIP);
bilinear (used by neither) keeps 12 % of pixels one level off, a mean of 0.125.
The bounds below are those figures with a margin, tightened after measuring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vigil.embedders.clip import ClipEmbedder
from vigil.embedders.preprocess import ImageRecipe, preprocess_on_device
from vigil.errors import InvalidInputError

LEVELS_MAX = 1.0 + 1e-3  # levels of 255, anywhere in the image (float32 slack)
LEVELS_MEAN = {"bicubic": 0.01, "bilinear": 0.2}  # levels of 255, averaged over the image


def _processors() -> dict[str, object]:
    """The real sizes and recipes of CLIP ViT-B/32 and SigLIP B/16-224, from explicit kwargs."""
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    return {
        "clip-224": CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        ),
        "clip-336": CLIPImageProcessor(
            size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
        ),
        "siglip-224": SiglipImageProcessor(size={"height": 224, "width": 224}),
        "bilinear-no-crop": CLIPImageProcessor(
            size={"shortest_edge": 200}, do_center_crop=False, resample=2
        ),
    }


@pytest.fixture(scope="module")
def real_images(
    vtest_frames: list[np.ndarray], real_photos: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """768x576 walkway frames and photos of other sizes and aspect ratios (portrait rocket)."""
    return [*vtest_frames, *real_photos.values()]


@pytest.mark.parametrize("name", sorted(_processors()))
def test_equals_the_processor_on_real_images(name: str, real_images: list[np.ndarray]) -> None:
    processor = _processors()[name]
    recipe = ImageRecipe.from_processor(processor)
    assert recipe is not None
    std = np.array(recipe.std, dtype=np.float32).reshape(3, 1, 1)
    for image in real_images:
        want = processor(images=[image], return_tensors="pt")["pixel_values"][0].numpy()
        got = preprocess_on_device(torch.from_numpy(np.array(image[None])), recipe)[0].numpy()
        assert got.shape == want.shape, image.shape
        levels = np.abs(got - want) * std * 255.0  # back to levels of 255
        assert levels.max() <= LEVELS_MAX, (image.shape, float(levels.max()))
        assert levels.mean() <= LEVELS_MEAN[recipe.interpolation], (image.shape, levels.mean())


def test_a_batch_equals_its_images_one_by_one(vtest_frames: list[np.ndarray]) -> None:
    recipe = ImageRecipe.from_processor(_processors()["clip-224"])
    assert recipe is not None
    batch = preprocess_on_device(torch.from_numpy(np.stack(vtest_frames)), recipe)
    for position, frame in enumerate(vtest_frames):
        alone = preprocess_on_device(torch.from_numpy(np.array(frame[None])), recipe)[0]
        torch.testing.assert_close(batch[position], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "supported"),
    [
        ({}, True),
        ({"resample": 1}, False),  # Lanczos: torch has no antialiased Lanczos kernel
        ({"resample": 0}, False),  # nearest
        ({"do_resize": False}, False),
        ({"size": {"shortest_edge": 224, "longest_edge": 400}}, False),
    ],
)
def test_recipes_it_cannot_reproduce_are_refused(
    kwargs: dict[str, object], supported: bool
) -> None:
    from transformers import CLIPImageProcessor

    recipe = ImageRecipe.from_processor(CLIPImageProcessor(**kwargs))
    assert (recipe is not None) is supported


def test_bad_batches_are_input_errors() -> None:
    recipe = ImageRecipe.from_processor(_processors()["siglip-224"])
    assert recipe is not None
    with pytest.raises(InvalidInputError, match="uint8"):
        preprocess_on_device(torch.zeros((1, 32, 32, 3)), recipe)
    with pytest.raises(InvalidInputError, match="interpolation"):
        ImageRecipe("lanczos", 224, None, None, 1.0, (0, 0, 0), (1, 1, 1))


def test_embeddings_match_the_processor_path(
    tiny_checkpoint: Path, vtest_frames: list[np.ndarray], real_photos: dict[str, np.ndarray]
) -> None:
    """A random tiny CLIP/SigLIP: tensor path vs the processor path, cosine >= 0.999."""
    images = [*vtest_frames, *real_photos.values()]
    tensor_path = ClipEmbedder(
        str(tiny_checkpoint), device="cpu", batch_size=3, tensor_preprocess=True
    )
    processor_path = ClipEmbedder(str(tiny_checkpoint), device="cpu")  # the CPU default
    assert tensor_path.recipe is not None and processor_path.recipe is None
    got, want = tensor_path.embed_images(images), processor_path.embed_images(images)
    assert got.shape == want.shape == (len(images), tensor_path.dim)
    cosines = np.sum(got * want, axis=1)
    assert cosines.min() >= 0.999, cosines


def test_a_small_image_goes_to_the_processor(tiny_clip_checkpoint: Path) -> None:
    """12x40 resized to 32x106 fits a 32x32 crop; 40x12 does too; all sizes come back in order."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(12, 40, 3), (40, 12, 3)]]
    embedder = ClipEmbedder(str(tiny_clip_checkpoint), device="cpu", tensor_preprocess=True)
    reference = ClipEmbedder(str(tiny_clip_checkpoint), device="cpu", tensor_preprocess=False)
    cosines = np.sum(embedder.embed_images(images) * reference.embed_images(images), axis=1)
    assert cosines.min() >= 0.999

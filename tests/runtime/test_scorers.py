"""Scorers: the ONNX model card drives preprocessing; zero-shot over prompts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.helpers import WALKWAY_CLASSES, decode_frames, imagenet_indices
from vigil.distill.model_card import ModelCard, ResizeMode
from vigil.embedders.base import Embedder, create_embedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.runtime.models import resolve_scorer
from vigil.runtime.scorers import OnnxScorer, ZeroShotScorer, preprocess
from vigil.settings import EmbedderSettings


@pytest.fixture(scope="module")
def frames(vtest_path: Path) -> list[np.ndarray]:
    return decode_frames(vtest_path, every=100, limit=4)


def test_onnx_scorer_matches_the_torch_model(
    lite0_scorer: OnnxScorer, frames: list[np.ndarray]
) -> None:
    """Export checks itself: onnxruntime vs the PyTorch Lite0 on the same real frames."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from vigil.embedders.bundled import locate_concept_bridge_files

    model = EfficientNet.from_name("efficientnet-lite0")
    weights = locate_concept_bridge_files().classifier_weights
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    batch = torch.from_numpy(np.stack([preprocess(f, lite0_scorer.card) for f in frames]))
    with torch.no_grad():
        logits = model.eval()(batch)[:, imagenet_indices(WALKWAY_CLASSES)].numpy()
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    scores = lite0_scorer.score(frames)
    assert scores.shape == (4, len(WALKWAY_CLASSES))
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert lite0_scorer.class_names == WALKWAY_CLASSES
    assert lite0_scorer.scenario == "walkway-imagenet"


@pytest.mark.parametrize("mode", list(ResizeMode))
def test_preprocess_follows_the_card(mode: ResizeMode, frames: list[np.ndarray]) -> None:
    card = ModelCard(
        class_names=("a", "b"),
        input_size=(96, 128),
        mean=(0.5, 0.4, 0.3),
        std=(0.2, 0.2, 0.2),
        resize=mode,
    )
    tensor = preprocess(frames[0], card)
    assert tensor.shape == (3, 96, 128) and tensor.dtype == np.float32
    # values are (pixel/255 - mean) / std, so they stay within the mapped [0, 1] range
    assert tensor[0].min() >= (0 - 0.5) / 0.2 - 1e-5 and tensor[0].max() <= (1 - 0.5) / 0.2 + 1e-5


def test_bad_images_and_files_are_refused(lite0_scorer: OnnxScorer, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="uint8 RGB"):
        lite0_scorer.score([np.zeros((10, 10), dtype=np.uint8)])
    assert lite0_scorer.score([]).shape == (0, len(WALKWAY_CLASSES))
    not_onnx = tmp_path / "x.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="not a readable ONNX"):
        OnnxScorer(not_onnx)


def test_onnx_without_card_is_refused(lite0_onnx: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(lite0_onnx))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(InvalidInputError, match="not a Vigil classifier"):
        OnnxScorer(bare)


def test_resolve_scorer_forms(lite0_onnx: Path, tmp_path: Path) -> None:
    from vigil.catalog.store import Catalog

    fake = create_embedder(EmbedderSettings(name="fake"))

    def no_scenario(name: str) -> object:
        raise NotFoundError(f"no scenario {name!r}")

    with Catalog.open(tmp_path / "c.db") as catalog:
        copy = shutil.copyfile(lite0_onnx, tmp_path / "m.onnx")
        scorer = resolve_scorer(
            str(copy),
            catalog=catalog,
            embedder=lambda: fake,
            scenario=no_scenario,  # type: ignore[arg-type]
        )
        assert isinstance(scorer, OnnxScorer)
        with pytest.raises(InvalidInputError, match="no ONNX model file"):
            resolve_scorer(
                str(tmp_path / "missing.onnx"),
                catalog=catalog,
                embedder=lambda: fake,
                scenario=no_scenario,  # type: ignore[arg-type]
            )
        with pytest.raises(NotFoundError, match="no scenario"):
            resolve_scorer(
                "scenario:nope",
                catalog=catalog,
                embedder=lambda: fake,
                scenario=no_scenario,  # type: ignore[arg-type]
            )
        with pytest.raises(NotFoundError):
            resolve_scorer(
                "walkway-v3",
                catalog=catalog,
                embedder=lambda: fake,
                scenario=no_scenario,  # type: ignore[arg-type]
            )


def test_zero_shot_with_fake_embedder(frames: list[np.ndarray]) -> None:
    fake = create_embedder(EmbedderSettings(name="fake"))
    scorer = ZeroShotScorer(fake, {"people": ["people walking"], "empty": ["an empty street"]})
    scores = scorer.score(frames)
    assert scores.shape == (4, 2)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="at least two classes"):
        ZeroShotScorer(fake, {"people": ["people"]})


@pytest.mark.real_model
def test_big_model_zero_shot_sees_people_on_the_walkway(
    concept_bridge: Embedder, frames: list[np.ndarray]
) -> None:
    scorer = ZeroShotScorer(
        concept_bridge,
        # ConSE knows only ImageNet/COCO concepts; "a photo of a car" outscores people on
        # this clip (cosines 0.81-0.85 vs 0.77), so the classes here are ones it separates.
        {
            "people": ["a photo of people"],
            "dog": ["a photo of a dog"],
            "boat": ["a photo of a boat"],
        },
        scenario="walkway",
    )
    scores = scorer.score(frames)
    assert (scores.argmax(axis=1) == 0).all(), scores

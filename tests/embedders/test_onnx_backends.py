"""The bundled networks in onnxruntime give what the old path gave, on real vtest frames.

The classifier is exported here (into a temp cache) from the real weights; the SSD
is converted by set-up (``python -m vigil.embedders.ssd_onnx``, tf2onnx in a side
environment), so its test runs where that conversion is in the user's cache.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from vigil.embedders import onnx_backend
from vigil.embedders.bundled import locate_concept_bridge_files, vigil_cache_dir
from vigil.embedders.concept_bridge import ConceptBridgeEmbedder, load_coco_classes
from vigil.embedders.detector import CocoDetector
from vigil.embedders.ssd_onnx import ssd_onnx_path
from vigil.errors import InvalidInputError, ModelUnavailableError


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vigil-cache")


@pytest.fixture(scope="module")
def torch_bridge(cache: Path) -> ConceptBridgeEmbedder:
    return ConceptBridgeEmbedder(backend="torch", detector_backend="opencv", cache_dir=cache)


@pytest.fixture(scope="module")
def onnx_bridge(cache: Path) -> ConceptBridgeEmbedder:
    return ConceptBridgeEmbedder(backend="onnx", detector_backend="opencv", cache_dir=cache)


def test_onnx_classifier_gives_the_torch_outputs(
    torch_bridge: ConceptBridgeEmbedder,
    onnx_bridge: ConceptBridgeEmbedder,
    vtest_frames: list[np.ndarray],
) -> None:
    expected = torch_bridge.classify(vtest_frames)  # (4, 1000)
    got = onnx_bridge.classify(vtest_frames)
    assert onnx_bridge.backend == "onnx" and torch_bridge.backend == "torch"
    np.testing.assert_allclose(got, expected, atol=1e-4)
    features = np.sum(
        torch_bridge.backbone_features(vtest_frames) * onnx_bridge.backbone_features(vtest_frames),
        axis=1,
    )
    assert features.min() >= 1 - 1e-5


def test_archive_vectors_stay_in_the_same_space(
    torch_bridge: ConceptBridgeEmbedder,
    onnx_bridge: ConceptBridgeEmbedder,
    vtest_frames: list[np.ndarray],
) -> None:
    """An archive indexed by the torch path is searched with vectors from the ONNX path."""
    assert onnx_bridge.model_id == torch_bridge.model_id
    cosine = np.sum(
        torch_bridge.embed_images(vtest_frames) * onnx_bridge.embed_images(vtest_frames), axis=1
    )
    assert cosine.min() >= 1 - 1e-4


def test_the_export_is_cached_by_weights_hash_and_a_corrupt_file_is_rebuilt(
    onnx_bridge: ConceptBridgeEmbedder, cache: Path, vtest_frames: list[np.ndarray]
) -> None:
    onnx_bridge.classify(vtest_frames[:1])
    weights = onnx_bridge.files.classifier_weights
    path = onnx_backend.classifier_onnx_path(cache, weights)
    assert path.is_file() and onnx_backend.weights_digest(weights)[:16] in path.name
    assert f"-c{onnx_backend.CONVERTER_VERSION}-" in path.name
    assert not list(path.parent.glob("*.tmp"))  # written atomically
    path.write_bytes(b"not an onnx file")
    fresh = ConceptBridgeEmbedder(backend="onnx", detector_backend="opencv", cache_dir=cache)
    np.testing.assert_allclose(
        fresh.classify(vtest_frames[:1]), onnx_bridge.classify(vtest_frames[:1]), atol=1e-6
    )
    assert path.stat().st_size > 1_000_000


def test_without_onnxruntime_auto_falls_back_to_torch_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
    cache: Path,
    vtest_frames: list[np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(
        onnx_backend, "onnxruntime_missing", lambda: "onnxruntime is not importable (test)"
    )
    bridge = ConceptBridgeEmbedder(detector_backend="opencv", cache_dir=cache)
    with caplog.at_level(logging.WARNING, logger="vigil.embedders.concept_bridge"):
        probabilities = bridge.classify(vtest_frames[:1])
    assert bridge.backend == "torch" and "not importable (test)" in bridge.backend_note
    assert "runs in torch" in caplog.text
    assert probabilities.shape == (1, 1000)
    strict = ConceptBridgeEmbedder(backend="onnx", detector_backend="opencv", cache_dir=cache)
    with pytest.raises(ModelUnavailableError, match="not importable"):
        strict.classify(vtest_frames[:1])


def test_unknown_backends_are_refused(cache: Path) -> None:
    with pytest.raises(InvalidInputError, match="backend must be one of"):
        ConceptBridgeEmbedder(backend="tensorrt", cache_dir=cache)
    with pytest.raises(InvalidInputError, match="detector backend must be one of"):
        CocoDetector({1: "person"}, backend="tflite")


@pytest.fixture(scope="module")
def classes() -> dict[int, str]:
    return {class_id: coco.name for class_id, coco in load_coco_classes().items()}


def test_the_detector_remembers_the_frames_it_ran_on(
    classes: dict[int, str], vtest_frames: list[np.ndarray]
) -> None:
    """The object pass asks again about the frames the frame pass embedded: no second run."""
    detector = CocoDetector(classes, backend="opencv")
    first = detector.detect_batch(vtest_frames, 0.4)
    assert detector.network_images == len(vtest_frames)
    assert detector.detect_batch(vtest_frames, 0.4) == first
    assert detector.network_images == len(vtest_frames)
    # A stricter threshold filters the remembered rows exactly as a new run would.
    strict = detector.detect_batch(vtest_frames, 0.6)
    assert strict == [[d for d in found if d.score >= 0.6] for found in first]
    copies = [frame.copy() for frame in vtest_frames[:2]]  # equal pixels, other arrays
    assert detector.detect_batch(copies, 0.4) == first[:2]
    assert detector.network_images == len(vtest_frames) + 2


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_converted_ssd_finds_what_opencv_finds(classes: dict[int, str], vtest_path: Path) -> None:
    graph = locate_concept_bridge_files().detector_graph
    if not ssd_onnx_path(vigil_cache_dir(), graph).is_file():
        pytest.skip(
            "the SSD is not converted here (scripts/setup runs python -m vigil.embedders.ssd_onnx)"
        )
    from tests.embedders.conftest import decode_frames

    frames = decode_frames(vtest_path, tuple(range(0, 790, 50)))  # 16 frames over the clip
    opencv = CocoDetector(classes, backend="opencv").detect_batch(frames, 0.4)
    onnx_detector = CocoDetector(classes, backend="onnx")
    assert onnx_detector.backend == "onnx"
    converted = onnx_detector.detect_batch(frames, 0.4)
    assert sum(map(len, opencv)) > 50  # a busy walkway: the comparison has substance
    for expected, got in zip(opencv, converted, strict=True):
        assert len(got) == len(expected)
        for box in expected:
            same_class = [d for d in got if d.class_id == box.class_id]
            assert max(_iou(box.xyxy, d.xyxy) for d in same_class) >= 0.99
            matched = max(same_class, key=lambda d: _iou(box.xyxy, d.xyxy))
            assert matched.score == pytest.approx(box.score, abs=1e-3)

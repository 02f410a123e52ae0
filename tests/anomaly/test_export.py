"""The edge bundle, loaded with plain onnxruntime and numpy (no Vigil code on the scoring path)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.anomaly.conftest import Cells
from vigil.anomaly.export import CARD_KEY, export_edge
from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.patchcore import AnomalyModel


def _plain_score(folder: Path, image: np.ndarray) -> float:
    """Score one grey cell from the card's recipe with onnxruntime + numpy only."""
    card = json.loads((folder / "card.json").read_text())
    size = card["input_size"]
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    x = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
    session = ort.InferenceSession(
        str(folder / "features.onnx"), providers=["CPUExecutionProvider"]
    )
    (maps,) = session.run(None, {session.get_inputs()[0].name: x})
    patches = maps[0].reshape(maps.shape[1], -1).T  # (grid * grid, D)
    bank = np.load(folder / "bank.npy")
    squared = (patches**2).sum(1)[:, None] + (bank**2).sum(1)[None, :] - 2 * patches @ bank.T
    grid = card["grid"]
    distance_map = np.sqrt(np.maximum(squared.min(axis=1), 0)).reshape(grid, grid)
    sigma = card["smoothing_sigma"]
    smoothed = (
        cv2.GaussianBlur(
            distance_map.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT
        )
        if sigma > 0
        else distance_map
    )
    return float(np.sort(smoothed.ravel())[-card["image_top_k"] :].mean())


def test_edge_bundle_scores_like_the_model(
    model: AnomalyModel, cells: Cells, extractor: PatchExtractor, tmp_path: Path
) -> None:
    result = export_edge(model, extractor, tmp_path / "edge", cells.test_normal[:2])
    for path in (result.onnx_path, result.bank_npy, result.bank_faiss, result.card_path):
        assert path.is_file()
    proto = onnx.load(str(result.onnx_path))
    onnx.checker.check_model(proto)
    card = json.loads({p.key: p.value for p in proto.metadata_props}[CARD_KEY])
    assert card["threshold"] == pytest.approx(model.threshold)
    assert card["bank_size"] == model.bank.shape[0]
    assert result.max_feature_diff < 1e-3
    assert result.ms_per_image > 0 and result.cpu_ms_per_image > 0
    cell = cells.test_defective[0]
    expected = model.score([cell], extractor)[0].score
    assert _plain_score(result.folder, cell) == pytest.approx(expected, rel=1e-3)

"""The runtime runs a fitted anomaly bank like any model: (normal, anomalous) per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.anomaly.conftest import Cells
from vigil.anomaly.patchcore import AnomalyModel
from vigil.errors import InvalidInputError
from vigil.runtime.models import resolve_scorer
from vigil.scenarios.spec import spec_from_yaml


def _no_embedder() -> object:
    raise AssertionError("an anomaly folder must not load the image-text model")


def _no_scenario(name: str) -> object:
    raise AssertionError(f"a bank folder is not a scenario reference ({name})")


def test_a_bank_folder_is_a_runtime_model(
    model: AnomalyModel, cells: Cells, tmp_path: Path
) -> None:
    folder = model.save(tmp_path / "bank")
    scorer = resolve_scorer(
        str(folder),
        catalog=None,  # type: ignore[arg-type]
        embedder=_no_embedder,  # type: ignore[arg-type]
        scenario=_no_scenario,  # type: ignore[arg-type]
    )
    assert scorer.class_names == ("normal", "anomalous")
    rgb = [np.repeat(c[:, :, None], 3, axis=2) for c in cells.test_defective[:2]]
    probabilities = scorer.score(rgb)
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    distances = [item.score for item in model.score(cells.test_defective[:2], scorer.extractor)]  # type: ignore[attr-defined]
    expected = np.clip(np.array(distances) / model.threshold / 2, 0, 1)
    np.testing.assert_allclose(probabilities[:, 1], expected, rtol=1e-5)


def test_scenario_reference_to_an_anomaly_scenario_says_what_to_pass() -> None:
    spec = spec_from_yaml("name: cells\nkind: anomaly\nnormal_examples: [a/]\n")
    with pytest.raises(InvalidInputError, match="model folder"):
        resolve_scorer(
            "scenario:cells",
            catalog=None,  # type: ignore[arg-type]
            embedder=_no_embedder,  # type: ignore[arg-type]
            scenario=lambda name: spec,
        )

"""Anomaly patch features on the one ``device`` setting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.anomaly.conftest import Cells
from vigil.anomaly.features import PatchExtractor
from vigil.errors import ModelUnavailableError


def test_cpu_features_are_the_default_ones_on_a_cpu_machine(
    cells: Cells, extractor: PatchExtractor
) -> None:
    if torch.cuda.is_available():
        pytest.skip("'auto' means CUDA on this machine")
    on_cpu = PatchExtractor(device="cpu")
    np.testing.assert_array_equal(on_cpu(cells.normals[:2]), extractor(cells.normals[:2]))
    assert on_cpu.device == extractor.device == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_asking_for_cuda_without_one_is_a_clear_error(cells: Cells) -> None:
    with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
        PatchExtractor(device="cuda")(cells.normals[:1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_features_match_the_cpu_ones(cells: Cells) -> None:
    cpu = PatchExtractor(device="cpu")(cells.normals[:2])
    cuda = PatchExtractor(device="cuda")(cells.normals[:2])
    np.testing.assert_allclose(cuda, cpu, atol=1e-3)  # TF32 convolutions round differently

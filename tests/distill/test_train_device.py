"""Distillation training on the one ``device`` setting: the CPU path as before, CUDA when asked.

CUDA cases run only where a GPU is present (bench/gpu_checks.py runs the same
comparison on a GPU machine); on a machine without one, asking for CUDA must be
a clear error rather than a silent CPU run.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vigil.distill.data import DistillDataset, split_dataset
from vigil.distill.pipeline import options_from_settings
from vigil.distill.student import StudentSpec, build_student
from vigil.distill.train import TrainConfig, train_student
from vigil.errors import ModelUnavailableError
from vigil.settings import DistillSettings

FAST = TrainConfig(epochs=2, input_size=32, batch_size=32, seed=0, threads=1)
SPEC = StudentSpec(10, widths=(8, 16))
HAS_CUDA = torch.cuda.is_available()


def _train(dataset: DistillDataset, config: TrainConfig) -> tuple[float, dict[str, torch.Tensor]]:
    splits = split_dataset(dataset)
    result = train_student(
        build_student(SPEC, seed=0), splits.train, splits.validation, config, progress=False
    )
    return result.best_val_accuracy, result.model.state_dict()


@pytest.mark.skipif(HAS_CUDA, reason="'auto' means CUDA on this machine")
def test_cpu_and_auto_train_the_same_model_as_before(fashion_200: DistillDataset) -> None:
    auto = _train(fashion_200, FAST)
    cpu = _train(fashion_200, dataclasses.replace(FAST, device="cpu"))
    assert auto[0] == cpu[0]
    for key, value in auto[1].items():
        assert value.device.type == "cpu"
        assert torch.equal(value, cpu[1][key]), key


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is present here")
def test_asking_for_cuda_without_one_is_a_clear_error(fashion_200: DistillDataset) -> None:
    with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
        _train(fashion_200, dataclasses.replace(FAST, device="cuda"))


def test_the_workspace_device_setting_reaches_training() -> None:
    options = options_from_settings(DistillSettings(), progress=False, device="cuda:1")
    assert options.train.device == "cuda:1"


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_training_reaches_the_cpu_accuracy(fashion_200: DistillDataset) -> None:
    cpu_accuracy, _ = _train(fashion_200, dataclasses.replace(FAST, device="cpu"))
    cuda_accuracy, state = _train(fashion_200, dataclasses.replace(FAST, device="cuda"))
    assert all(value.device.type == "cpu" for value in state.values())  # handed back on the CPU
    assert abs(cuda_accuracy - cpu_accuracy) <= 0.1

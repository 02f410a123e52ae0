"""One ``device`` setting for every stage that runs torch: values, overrides, bad input."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.embedders.base import resolve_device
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings, Settings


def test_the_embedder_follows_the_top_level_device() -> None:
    assert Settings().embedder.device == "auto"
    assert Settings(device="cpu").embedder.device == "cpu"
    override = Settings(device="cpu", embedder=EmbedderSettings(device="cuda:1"))
    assert (override.device, override.embedder.device) == ("cpu", "cuda:1")


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DEVICE", "cpu")
    settings = Settings()
    assert settings.device == settings.embedder.device == "cpu"


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:x", "CPU", ""])
def test_malformed_devices_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="device"):
        Settings(device=value)
    with pytest.raises(InvalidInputError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(value or "x")


def test_resolving_here() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None) == resolve_device("auto")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_the_cli_rejects_a_bad_device_in_one_line() -> None:
    result = CliRunner().invoke(app, ["--device", "gpu", "embedders", "list"])
    assert result.exit_code == 2
    assert "--device" in result.output and "Traceback" not in result.output

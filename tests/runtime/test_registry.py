"""The model registry's one gate: the runtime and export both refuse a changed model file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.catalog.models_store import ModelKind, finish_model, ready_model, start_model
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError, NotFoundError
from vigil.runtime.models import registry_path


@pytest.fixture
def registered(tmp_path: Path, lite0_onnx: Path) -> Iterator[tuple[Catalog, Path]]:
    """A catalog with one ready model whose file is a copy of a real ONNX model."""
    catalog = Catalog.open(tmp_path / "c.db")
    path = Path(shutil.copyfile(lite0_onnx, tmp_path / "m.onnx"))
    record = start_model(
        catalog,
        name="gate-v1-r1-float",
        scenario="gate",
        scenario_version=1,
        kind=ModelKind.FLOAT,
        architecture="efficientnet-lite0",
        snapshot={},
    )
    finish_model(catalog, record.id, path, {}, "efficientnet-lite0")
    yield catalog, path
    catalog.close()


def test_the_runtime_serves_an_unchanged_ready_model(registered: tuple[Catalog, Path]) -> None:
    catalog, path = registered
    assert registry_path(catalog, "gate-v1-r1-float") == path.resolve()
    assert ready_model(catalog, "gate-v1-r1-float").path == path.resolve()


def test_the_runtime_refuses_a_model_file_changed_since_it_was_registered(
    registered: tuple[Catalog, Path],
) -> None:
    catalog, path = registered
    with path.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(InvalidInputError, match="changed since it was registered"):
        registry_path(catalog, "gate-v1-r1-float")


def test_the_runtime_refuses_a_missing_model_file(registered: tuple[Catalog, Path]) -> None:
    catalog, path = registered
    path.unlink()
    with pytest.raises(NotFoundError, match="is missing"):
        registry_path(catalog, "gate-v1-r1-float")

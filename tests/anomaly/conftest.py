"""Anomaly fixtures: a handful of real ELPV solar cells (CC-BY-NC-SA, evaluation only).

Monocrystalline cells only (the polycrystalline ones are the untouched check);
taken from the fixed evaluation split so the cells a test scores are never the
cells a model was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.anomaly.evaluate import ElpvSplit, load_elpv
from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.patchcore import AnomalyModel, fit


@dataclass(frozen=True)
class Cells:
    normals: list[np.ndarray]  # 8 functional cells (training)
    defects: list[np.ndarray]  # 3 defective cells (training, supervised variant)
    test_normal: list[np.ndarray]  # 6 functional test cells
    test_defective: list[np.ndarray]  # 6 defective test cells


@pytest.fixture(scope="session")
def elpv() -> ElpvSplit:
    return load_elpv("mono")


@pytest.fixture(scope="session")
def cells(elpv: ElpvSplit) -> Cells:
    test_normal = elpv.test[~elpv.defective[elpv.test]]
    test_defective = elpv.test[elpv.defective[elpv.test]]
    return Cells(
        normals=[elpv.images[i] for i in elpv.normal_pool[:8]],
        defects=[elpv.images[i] for i in elpv.defect_pool[:3]],
        test_normal=[elpv.images[i] for i in test_normal[:6]],
        test_defective=[elpv.images[i] for i in test_defective[:6]],
    )


@pytest.fixture(scope="session")
def extractor() -> PatchExtractor:
    return PatchExtractor()


@pytest.fixture(scope="session")
def model(cells: Cells, extractor: PatchExtractor) -> AnomalyModel:
    """PatchCore fitted on the 8 normal cells."""
    return fit(cells.normals, extractor)


def _write(folder: Path, images: list[np.ndarray], prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, image in enumerate(images):
        path = folder / f"{prefix}{number:02d}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


@pytest.fixture
def line(tmp_path: Path, cells: Cells) -> dict[str, Path]:
    """An inspection line as an image folder: 3 functional and 3 defective cells."""
    folder = tmp_path / "line"
    good = _write(folder, cells.test_normal[:3], "a-ok-")
    bad = _write(folder, cells.test_defective[:3], "b-bad-")
    _write(tmp_path / "normals", cells.normals, "n")
    _write(tmp_path / "few", cells.normals[:3], "n")
    return {"folder": folder, **{p.name: p for p in good + bad}}

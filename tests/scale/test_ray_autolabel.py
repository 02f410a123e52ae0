"""Auto-labeling on a real local Ray cluster gives the single-process labels, and resumes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.scale.conftest import RayCluster
from vigil.scenarios.spec import quick_spec
from vigil.scenarios.training import training_items
from vigil.settings import EmbedderSettings, SamplingSettings, ScenarioSettings, Settings
from vigil.workspace import Workspace

CLASSES = ["person", "car", "empty street"]

PROBABILITY_ATOL = 1e-5


def _settings(home: Path) -> Settings:
    return Settings(
        home=home,
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
        embedder=EmbedderSettings(name="fake"),
        scenarios=ScenarioSettings(autolabel_batch_size=4),  # several Ray tasks per run
    )


@pytest.fixture(scope="module")
def indexed(vtest_cut: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("autolabel-template") / "home"
    with Workspace.open(_settings(home)) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        ws.index()
        ws.create_scenario(quick_spec("walkway", CLASSES))
    return home


def _labels(home: Path) -> list[tuple[int, str | None, tuple[float, ...] | None]]:
    with Workspace.open(_settings(home)) as ws:
        items = training_items(ws.catalog, "walkway")
    return [(item.id, item.machine_label, item.probabilities) for item in items]


def test_ray_labels_equal_single_process_labels_and_resume(
    ray_cluster: RayCluster, indexed: Path, tmp_path: Path
) -> None:
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(indexed, local)
    shutil.copytree(indexed, on_ray)
    with Workspace.open(_settings(local)) as ws:
        expected = ws.autolabel("walkway")
    with Workspace.open(_settings(on_ray)) as ws:
        partial = ws.autolabel("walkway", max_items=8, ray=ray_cluster.address)
        rest = ws.autolabel("walkway", ray=ray_cluster.address)
    assert expected.labeled == expected.total > 8
    assert partial.labeled < partial.total
    assert partial.labeled + rest.labeled == expected.total  # nothing labeled twice
    assert rest.skipped == partial.labeled
    got, want = _labels(on_ray), _labels(local)
    assert [(i, label) for i, label, _ in got] == [(i, label) for i, label, _ in want]
    # Probabilities within PROBABILITY_ATOL: a Ray worker (one BLAS thread) and this process
    # sum in different orders, and a softmax at a low temperature magnifies the last bits.
    for (_, _, a), (_, _, b) in zip(got, want, strict=True):
        assert a == pytest.approx(b, abs=PROBABILITY_ATOL)

"""Scenario fixtures: a workspace with the real clip indexed once per session (fake
embedder, so logic tests run fast), copied per test; the real default embedder
loaded once per session for the ``real_model`` tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.embedders.base import Embedder, create_embedder
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

INTERVAL_S = 2.0  # ~40 frames of the 79.5 s clip: enough items, fast to index


def fake_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=INTERVAL_S, dedup_threshold=0.0),
    )


@pytest.fixture(scope="session")
def indexed_home(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace folder holding vtest.avi indexed with the fake embedder (closed)."""
    home = tmp_path_factory.mktemp("scenario-template") / "workspace"
    with Workspace.open(fake_settings(home)) as workspace:
        source = workspace.add_source(str(vtest_path), name="walkway")
        workspace.index([source.id])
    return home


@pytest.fixture
def workspace(indexed_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the indexed workspace (tests may write labels freely)."""
    home = tmp_path / "workspace"
    shutil.copytree(indexed_home, home)
    with Workspace.open(fake_settings(home)) as opened:
        yield opened


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real default embedder, loaded once per session."""
    return create_embedder(EmbedderSettings(name="concept-bridge"))

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    """A throw-away workspace on a real SQLite file, with the fake embedder."""
    return Settings(
        home=tmp_path / "workspace",
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )


@pytest.fixture
def workspace(fake_settings: Settings) -> Iterator[Workspace]:
    with Workspace.open(fake_settings) as opened:
        yield opened

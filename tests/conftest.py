"""Shared fixtures: real sample data from ../shared and throw-away workspaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The read-only real data folder that sits beside the checkout (see shared/DATA.md)."""
    return Path(os.environ.get("VIGIL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """Real surveillance clip: 768x576, 10 fps, 795 frames, pedestrians on a walkway."""
    path = shared_data_dir() / "vtest.avi"
    if not path.exists():
        pytest.fail(f"real sample video missing: {path} (see shared/DATA.md)")
    return path

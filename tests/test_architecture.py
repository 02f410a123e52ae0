"""The import rules of docs/architecture.md hold: the import-linter contracts in pyproject.toml.

Run as a test so ``make test`` fails on a change that quietly breaks a layer, imports
SQLAlchemy outside the catalog, or closes an import loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    result = subprocess.run(
        [str(lint_imports), "--config", str(REPO_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_front_door_is_exported() -> None:
    from vigil import Workspace
    from vigil.workspace import Workspace as Defined

    assert Workspace is Defined

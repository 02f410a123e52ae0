"""Read-only archives: a snapshot whose home cannot be written is searched, never changed.

Tests run as root, for whom file modes do not stop writes, so the home is made
truly read-only with a read-only bind mount in a private mount namespace
(``unshare -m``); the explicit flag (``VIGIL_READ_ONLY=1``, ``--read-only``) is
tested on its own too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import api_settings
from vigil.api import create_app
from vigil.catalog.db import folder_is_writable
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

CLI = [sys.executable, "-m", "vigil.cli.main"]


@pytest.fixture
def archive(tmp_path: Path, vtest_path: Path) -> Path:
    """An indexed workspace (20 frames of the real clip), closed: a snapshot to archive."""
    home = tmp_path / "archive"
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        workspace.index(max_frames=20)
    shutil.rmtree(home / "locks")  # an archive copied without its lock folder
    return home


def _listing(home: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
    }


def _vigil(
    home: Path, *args: str, read_only_mount: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_HOME": str(home), "VIGIL_EMBEDDER__NAME": "fake"}
    command = [*CLI, *args]
    if read_only_mount:
        script = f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _can_mount_read_only(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f'mount --bind "{probe}" "{probe}" && mount -o remount,bind,ro "{probe}"'
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True
    )
    return done.returncode == 0


def _check_searchable_and_write_proof(
    home: Path, video: Path, *, read_only_mount: bool, flag: bool
) -> None:
    before = _listing(home)
    prefix = ["--read-only"] if flag else []
    listed = _vigil(home, *prefix, "source", "list", read_only_mount=read_only_mount)
    assert listed.returncode == 0, listed.stderr
    assert "walkway" in listed.stdout
    found = _vigil(
        home, *prefix, "search", "people", "--limit", "3", read_only_mount=read_only_mount
    )
    assert found.returncode == 0, found.stderr
    assert "walkway" in found.stdout and "frame" in found.stdout
    for write in (["index"], ["source", "add", str(video), "--name", "x"]):
        refused = _vigil(home, *prefix, *write, read_only_mount=read_only_mount)
        assert refused.returncode == 1, refused.stderr
        errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "read-only" in errors[0], refused.stderr
        assert "Traceback" not in refused.stderr
    assert _listing(home) == before  # nothing written: no lock, no index file, no migration


def test_a_read_only_home_is_searched_and_writes_get_one_error_line(
    archive: Path, tmp_path: Path, vtest_path: Path
) -> None:
    """Before: with a read-only home even ``source list`` and ``search`` refused."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare -m and a bind mount (root in a mount namespace)")
    _check_searchable_and_write_proof(archive, vtest_path, read_only_mount=True, flag=False)


def test_the_read_only_flag_writes_nothing_on_a_writable_home(
    archive: Path, vtest_path: Path
) -> None:
    _check_searchable_and_write_proof(archive, vtest_path, read_only_mount=False, flag=True)


def test_write_probe(tmp_path: Path) -> None:
    assert folder_is_writable(tmp_path)
    assert not folder_is_writable(tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_serve_a_read_only_archive(archive: Path, vtest_path: Path) -> None:
    before = _listing(archive)
    settings = api_settings(archive, vtest_path.parent).model_copy(update={"read_only": True})
    with TestClient(create_app(settings)) as client:
        [source] = client.get("/api/v1/sources").json()
        assert source["name"] == "walkway"
        hits = client.get("/api/v1/search", params={"q": "people", "limit": 3})
        assert hits.status_code == 200, hits.text
        refused = client.post(
            "/api/v1/sources", json={"location": str(vtest_path), "name": "again"}
        )
        assert refused.status_code == 409, refused.text
        assert "read-only" in refused.json()["detail"]
    assert _listing(archive) == before

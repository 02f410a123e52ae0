"""A server started after a killed indexer shows the truth: interrupted, not ``running``."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import api_settings
from vigil.api import create_app
from vigil.structure.locks import source_writer_lock


def _progress(database: Path) -> list[tuple[str, int]]:
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        try:
            rows = connection.execute("SELECT status, frames_done FROM index_progress").fetchall()
        except sqlite3.OperationalError:
            return []
    return [(str(status), int(done or 0)) for status, done in rows]


def _kill_indexer_midway(home: Path, vtest_path: Path) -> None:
    env = {**os.environ, "VIGIL_HOME": str(home), "VIGIL_EMBEDDER__NAME": "fake"}
    cli = [sys.executable, "-m", "vigil.cli.main"]
    subprocess.run(
        [*cli, "source", "add", str(vtest_path), "--name", "walkway"], env=env, check=True
    )
    process = subprocess.Popen(
        [*cli, "index", "--interval", "0.1", "--dedup", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(done >= 50 for _, done in _progress(home / "catalog.db")):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the indexer must be killed part-way"
    assert [status for status, _ in _progress(home / "catalog.db")] == ["running"]


def test_server_start_marks_indexing_left_running_by_a_dead_process(
    tmp_path: Path, vtest_path: Path
) -> None:
    """Before: after a kill, the source's health said ``running`` for good."""
    home = tmp_path / "home"
    _kill_indexer_midway(home, vtest_path)
    with TestClient(create_app(api_settings(home, vtest_path.parent))) as client:
        [source] = client.get("/api/v1/sources").json()
    [health] = source["health"]
    assert health["status"] == "partial"
    assert "interrupted" in health["last_error"]


def test_server_start_leaves_a_live_indexer_running(tmp_path: Path, vtest_path: Path) -> None:
    home = tmp_path / "home"
    _kill_indexer_midway(home, vtest_path)
    # A live process holds the source while the server starts.
    with (
        source_writer_lock(home, 1),
        TestClient(create_app(api_settings(home, vtest_path.parent))) as client,
    ):
        [source] = client.get("/api/v1/sources").json()
    [health] = source["health"]
    assert health["status"] == "running"

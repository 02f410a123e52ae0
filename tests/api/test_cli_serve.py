"""``vigil api-key create|list|revoke`` and ``vigil serve`` refusing an unsafe bind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api.conftest import api_settings
from vigil.api import create_app
from vigil.cli.main import app


def test_key_lifecycle_from_the_command_line(tmp_path: Path, vtest_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    created = runner.invoke(app, ["--home", str(home), "api-key", "create", "--role", "admin"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("vgl_")
    listed = runner.invoke(app, ["--home", str(home), "api-key", "list"])
    assert "admin" in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    with TestClient(create_app(api_settings(home, vtest_path.parent))) as client:
        assert client.get("/api/v1/status").status_code == 401
        assert client.get("/api/v1/status", headers={"X-API-Key": token}).status_code == 200
    prefix = token.split("_")[1]
    revoked = runner.invoke(app, ["--home", str(home), "api-key", "revoke", prefix])
    assert revoked.exit_code == 0 and "revoked key 1" in revoked.stdout
    unknown = runner.invoke(app, ["--home", str(home), "api-key", "revoke", "77"])
    assert unknown.exit_code == 1 and "no API key with id or prefix '77'" in unknown.stderr
    bad_role = runner.invoke(app, ["--home", str(home), "api-key", "create", "--role", "root"])
    assert bad_role.exit_code == 2


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "serve", "--host", "0.0.0.0", "--port", "9"]
    )
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0" in result.stderr


def test_serve_prints_its_url_once_it_listens(tmp_path: Path) -> None:
    """The printed URL answers at once (port 0: the real port is the one printed)."""
    env = {**os.environ, "VIGIL_HOME": str(tmp_path / "home"), "VIGIL_EMBEDDER__NAME": "fake"}
    with subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as server:
        try:
            assert server.stderr is not None
            line = server.stderr.readline()
            found = re.search(r"console: (http://127\.0\.0\.1:(\d+)/)", line)
            assert found and int(found.group(2)) > 0, line
            response = httpx.get(found.group(1) + "api/v1/status", timeout=10)
            assert response.status_code == 200, response.text
        finally:
            server.terminate()
            server.wait(timeout=30)

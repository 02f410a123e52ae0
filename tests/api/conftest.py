"""Fixtures for the REST API: real SQLite catalogs over the real clip, a fast fake-model
app for logic tests, the real bundled model (loaded once) for the real-model tests,
and a real uvicorn server on a free loopback port for the browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import REPO_ROOT
from vigil.api import create_app
from vigil.embedders.base import Embedder, create_embedder
from vigil.settings import ApiSettings, EmbedderSettings, Settings
from vigil.workspace import Workspace

ARTIFACTS = REPO_ROOT / "test-artifacts" / "api"


def api_settings(home: Path, media_root: Path, embedder: str = "fake", **api: object) -> Settings:
    return Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder),
        api=ApiSettings(media_roots=[media_root], **api),
    )


def wait_for_job(client: TestClient, job_id: int, timeout_s: float = 120.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.1)


def index_vtest(client: TestClient, vtest_path: Path, frames: int) -> dict[str, object]:
    """Register the real clip and index ``frames`` one-second samples through the API."""
    source = client.post("/api/v1/sources", json={"location": str(vtest_path), "name": "walkway"})
    assert source.status_code == 201, source.text
    job = client.post(
        "/api/v1/jobs/index", json={"sources": [source.json()["id"]], "max_frames": frames}
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(client, job.json()["id"])
    assert done["status"] == "succeeded", done
    return done


@pytest.fixture
def fake_client(tmp_path: Path, vtest_path: Path) -> Iterator[TestClient]:
    """A fresh app over an empty workspace with the fast fake embedder."""
    app = create_app(api_settings(tmp_path / "home", vtest_path.parent))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def indexed_fake_client(
    tmp_path_factory: pytest.TempPathFactory, vtest_path: Path
) -> Iterator[TestClient]:
    """One app per module with 12 s of the real clip indexed by the fake embedder."""
    home = tmp_path_factory.mktemp("indexed") / "home"
    app = create_app(api_settings(home, vtest_path.parent))
    with TestClient(app) as client:
        index_vtest(client, vtest_path, 12)
        yield client


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real bundled image-text model, loaded once per test session."""
    return create_embedder(EmbedderSettings(name="concept-bridge"))


@pytest.fixture(scope="session")
def real_app(
    tmp_path_factory: pytest.TempPathFactory, vtest_path: Path, real_embedder: Embedder
) -> Iterator[FastAPI]:
    """The real model over a real SQLite catalog with ~25 s of the clip indexed at 1 s."""
    home = tmp_path_factory.mktemp("real") / "home"
    settings = api_settings(home, vtest_path.parent, embedder="concept-bridge")
    app = create_app(
        settings, workspace_factory=lambda s: Workspace.open(s, embedder=real_embedder)
    )
    with TestClient(app) as client:
        index_vtest(client, vtest_path, 25)
        yield app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on a free loopback port from a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # lifespan off: the app's workspace belongs to the fixture that built it.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

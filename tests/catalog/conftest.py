"""Catalog fixtures: a catalog on SQLite and on a throw-away PostgreSQL server, and real
vectors (frames of the real vtest.avi clip through the deterministic fake embedder)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.catalog.store import Catalog
from vigil.catalog.types import NewFrame
from vigil.embedders.fake import FakeEmbedder
from vigil.sources.types import Source, SourceKind, SourceSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_SCRIPT = REPO_ROOT / "scripts" / "postgres-test-server"
BUSY_TIMEOUT_S = 0.5  # small, so the locked-database test fails fast


def _have_postgres_binaries() -> bool:
    if os.environ.get("VIGIL_PG_BIN"):
        return True
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or bool(shutil.which("initdb"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server for this test session (or VIGIL_TEST_POSTGRES_URL if set)."""
    external = os.environ.get("VIGIL_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    if not _have_postgres_binaries():
        message = (
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
            "install them (apt-get install postgresql) or set VIGIL_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    started = subprocess.run(
        [str(PG_SCRIPT), "start"], capture_output=True, text=True, timeout=120, check=False
    )
    if started.returncode != 0:
        pytest.fail(f"could not start the test PostgreSQL server:\n{started.stderr}")
    values = dict(line.split("=", 1) for line in started.stdout.split())
    try:
        yield values["VIGIL_TEST_PG_URL"]
    finally:
        subprocess.run(
            [str(PG_SCRIPT), "stop", values["VIGIL_TEST_PG_DIR"]], timeout=60, check=False
        )


_database_numbers = itertools.count()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(postgres_admin_url)
    name = f"vigil_test_{os.getpid()}_{next(_database_numbers)}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests run on an SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    with Catalog.open(catalog_url, busy_timeout_s=BUSY_TIMEOUT_S) as opened:
        yield opened


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@dataclass(frozen=True)
class RealFrames:
    """Every 10th frame (one per second) of vtest.avi, as catalog rows and fake-embedder vectors."""

    frames: list[NewFrame]
    vectors: np.ndarray  # (N, 32) float32, unit norm
    model_id: str


@pytest.fixture(scope="session")
def real_frames(vtest_path: Path) -> RealFrames:
    embedder = FakeEmbedder()
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    frames, images = [], []
    with av.open(str(vtest_path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if index % 10:
                continue
            image = frame.to_ndarray(format="rgb24")
            seconds = float(frame.pts * stream.time_base) if frame.pts is not None else index / 10
            images.append(image)
            frames.append(
                NewFrame(
                    frame_index=index,
                    media_time=seconds,
                    width=image.shape[1],
                    height=image.shape[0],
                    thumbnail_path=f"thumbs/1/{index:08d}.jpg",
                    captured_at=start + timedelta(seconds=seconds),
                )
            )
    return RealFrames(frames, embedder.embed_images(images), embedder.model_id)


def walkway_spec(name: str = "walkway") -> SourceSpec:
    return SourceSpec(
        name=name,
        kind=SourceKind.VIDEO,
        location="/data/vtest.avi",
        site="campus",
        position="walkway, looking north",
        metadata={"fps": 10, "tags": ["pedestrians"]},
    )


@pytest.fixture
def walkway(catalog: Catalog) -> Source:
    return catalog.add_source(walkway_spec())

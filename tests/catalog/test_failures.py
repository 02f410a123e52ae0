"""The catalog under failure: locked, foreign, garbage or missing databases, failed writes."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.catalog.conftest import BUSY_TIMEOUT_S, RealFrames, walkway_spec
from vigil.catalog.store import Catalog
from vigil.errors import CatalogError


def test_a_locked_database_fails_clearly_after_the_busy_timeout(
    sqlite_path: Path, real_frames: RealFrames
) -> None:
    frames, vectors, model = real_frames.frames, real_frames.vectors, real_frames.model_id
    with Catalog.open(sqlite_path, busy_timeout_s=BUSY_TIMEOUT_S) as catalog:
        source = catalog.add_source(walkway_spec())
        stored = catalog.add_frames(source.id, model, frames[:40], vectors[:40])

        other = sqlite3.connect(sqlite_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        try:
            started = time.monotonic()
            with pytest.raises(CatalogError, match="locked by another process") as caught:
                catalog.add_frames(source.id, model, frames[40:], vectors[40:])
            waited = time.monotonic() - started
            assert BUSY_TIMEOUT_S * 0.8 <= waited < BUSY_TIMEOUT_S + 5
            assert "store frames" in str(caught.value)
            # WAL: readers are not blocked by the writer.
            assert catalog.count_embeddings(model) == 40
        finally:
            other.execute("ROLLBACK")
            other.close()

        assert catalog.add_frames(source.id, model, frames[40:], vectors[40:]) != []
        np.testing.assert_array_equal(catalog.get_vectors(stored), vectors[:40])
        assert catalog.count_embeddings(model) == 80


def test_a_failed_transaction_keeps_what_was_stored_and_stores_nothing_of_the_batch(
    sqlite_path: Path, real_frames: RealFrames
) -> None:
    frames, vectors, model = real_frames.frames, real_frames.vectors, real_frames.model_id
    with Catalog.open(sqlite_path, busy_timeout_s=BUSY_TIMEOUT_S) as catalog:
        source = catalog.add_source(walkway_spec())
        stored = catalog.add_frames(source.id, model, frames[:40], vectors[:40])
        # A real database error half-way through the batch: after its frames are written,
        # when its embeddings are inserted.
        with sqlite3.connect(sqlite_path) as other:
            other.execute(
                "CREATE TRIGGER fail_embeddings BEFORE INSERT ON embeddings "
                "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
            )
        with pytest.raises(CatalogError, match="disk quota exceeded"):
            catalog.add_frames(source.id, model, frames[40:], vectors[40:])
        stats = catalog.stats()
        assert (stats.frames, stats.embeddings) == (40, {model: 40})  # no orphan frames
        progress = catalog.get_progress(source.id, model)
        assert progress is not None and progress.frames_done == 40
        np.testing.assert_array_equal(catalog.get_vectors(stored), vectors[:40])


def test_two_writers_on_one_file_queue_instead_of_failing(
    sqlite_path: Path, real_frames: RealFrames
) -> None:
    """Two processes indexing into one SQLite catalog wait for each other's lock."""
    model = real_frames.model_id
    with Catalog.open(sqlite_path) as setup:
        ids = [setup.add_source(walkway_spec(f"cam-{n}")).id for n in range(2)]
    errors: list[BaseException] = []

    def write(source_id: int) -> None:
        try:
            with Catalog.open(sqlite_path, busy_timeout_s=30) as catalog:
                for start in range(0, 80, 8):
                    batch = slice(start, start + 8)
                    catalog.add_frames(
                        source_id, model, real_frames.frames[batch], real_frames.vectors[batch]
                    )
                    catalog.set_progress(source_id, model, status="running")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(source_id,)) for source_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with Catalog.open(sqlite_path) as catalog:
        assert catalog.stats().embeddings == {model: 160}


def test_a_file_that_is_not_a_database_is_refused(sqlite_path: Path, vtest_path: Path) -> None:
    sqlite_path.write_bytes(vtest_path.read_bytes()[:65536])  # a real file, but video
    with pytest.raises(CatalogError, match="not an SQLite database"):
        Catalog.open(sqlite_path)
    assert sqlite_path.read_bytes() == vtest_path.read_bytes()[:65536]  # left untouched


def test_a_database_of_another_application_is_refused(sqlite_path: Path) -> None:
    with sqlite3.connect(sqlite_path) as other:
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    with pytest.raises(CatalogError, match="not a Vigil catalog"):
        Catalog.open(sqlite_path)
    with sqlite3.connect(sqlite_path) as other:
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    assert tables == {"invoices"}


def test_a_catalog_from_a_newer_vigil_is_refused(sqlite_path: Path) -> None:
    Catalog.open(sqlite_path).close()
    with sqlite3.connect(sqlite_path) as other:
        other.execute("INSERT INTO alembic_version (version_num) VALUES ('0042')")
    with pytest.raises(CatalogError, match=r"revision \['0042'\].*newer Vigil"):
        Catalog.open(sqlite_path)


def test_missing_or_unusable_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="folder does not exist"):
        Catalog.open(tmp_path / "missing" / "catalog.db")
    with pytest.raises(CatalogError, match="is a folder"):
        Catalog.open(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CatalogError, match="not a folder"):
        Catalog.open(blocker / "catalog.db")
    with pytest.raises(CatalogError, match="not a database URL"):
        Catalog.open("definitely not a url")
    with pytest.raises(CatalogError, match="expected sqlite or postgresql"):
        Catalog.open("mysql://user@localhost/vigil")


def test_an_unreachable_postgres_server_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CatalogError, match=f"127.0.0.1:{port}.*(refused|connect)"):
        Catalog.open(f"postgresql+psycopg://vigil:secret@127.0.0.1:{port}/vigil", busy_timeout_s=1)
    try:
        Catalog.open(f"postgresql+psycopg://vigil:secret@127.0.0.1:{port}/vigil", busy_timeout_s=1)
    except CatalogError as error:
        assert "secret" not in str(error)

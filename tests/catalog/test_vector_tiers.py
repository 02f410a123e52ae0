"""Index kinds (flat, hnsw, ivfpq, auto) and the one-thread single query, on real vectors.

The ivfpq tests use Fashion-MNIST test images (Debian's dataset-fashion-mnist, real
photographs of clothes) as 784-d pixel vectors, centred and unit-normalised: real,
clustered data with ten classes, so recall is measured on structure that exists.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faiss
import numpy as np
import pytest

from tests.catalog.conftest import RealFrames, walkway_spec
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.types import NewFrame
from vigil.catalog.vector_index import VectorIndex, ivf_lists_for, pq_bytes_for
from vigil.errors import VectorIndexError
from vigil.evaluation import load_fashion_mnist
from vigil.settings import IndexSettings

# 16 lists need 30 x 16 = 480 vectors to train; 8 of 16 probed, 10 x k re-ranked.
IVFPQ = IndexSettings(kind="ivfpq", ivf_nlist=16, ivf_nprobe=8, pq_bytes=48, rerank=10)


@pytest.fixture(scope="module")
def fashion_vectors() -> np.ndarray:
    """2,000 Fashion-MNIST test images as centred, unit-norm pixel vectors, (2000, 784)."""
    images = load_fashion_mnist("test", limit=2000).images[..., 0]  # (N, 28, 28) grey
    vectors = images.reshape(len(images), -1).astype(np.float32)  # (N, 784)
    vectors -= vectors.mean(axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


class Store:
    """The catalog's role for the ivfpq tier: full vectors by id (here an array)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.rows = {int(i): row for i, row in zip(ids, vectors, strict=True)}
        self.calls = 0

    def get_vectors(self, ids: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.stack([self.rows[int(i)] for i in ids])


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]]  # (Q, k)


def recall(results: list[tuple[np.ndarray, np.ndarray]], truth: np.ndarray) -> float:
    hits = sum(
        len(set(found.tolist()) & set(row.tolist()))
        for (found, _), row in zip(results, truth, strict=True)
    )
    return hits / truth.size


def test_ivfpq_stays_exact_until_trained_then_recalls_real_vectors(
    fashion_vectors: np.ndarray,
) -> None:
    ids = np.arange(1, 2001, dtype=np.int64) * 5  # catalog ids, not positions
    store = Store(ids, fashion_vectors)
    index = VectorIndex.create(None, 784, IVFPQ, vector_source=store.get_vectors)
    index.add(ids[:400], fashion_vectors[:400])
    assert index.kind == "flat" and not index.trained  # 400 < 480: exact meanwhile
    queries = fashion_vectors[1900:1950]
    early = index.search(queries, 10)
    assert recall(early, exact_top(fashion_vectors[:400], ids[:400], queries, 10)) == 1.0

    index.add(ids[400:], fashion_vectors[400:])
    assert index.kind == "ivfpq" and index.trained and len(index) == 2000
    ivf = faiss.extract_index_ivf(index._index)
    assert ivf.nlist == 16
    assert index._index.code_size + 8 <= 64  # bytes per vector in RAM, id included
    assert index._index.code_size == pq_bytes_for(784, 48) == 28

    results = index.search(queries, 10)
    truth = exact_top(fashion_vectors, ids, queries, 10)
    assert recall(results, truth) >= 0.95
    for (found, scores), query in zip(results, queries, strict=True):
        exact = fashion_vectors[np.searchsorted(ids, found)] @ query
        np.testing.assert_allclose(scores, exact, atol=1e-5)  # re-ranked: exact scores
        assert np.all(np.diff(scores) <= 1e-6)
    np.testing.assert_allclose(index.reconstruct(ids[:3]), fashion_vectors[:3])


@pytest.fixture(scope="module")
def trained_file(fashion_vectors: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ivfpq index of the 2,000 vectors (ids 1..2000), trained once and saved."""
    path = tmp_path_factory.mktemp("ivfpq") / "fashion.faiss"
    ids = np.arange(1, 2001, dtype=np.int64)
    store = Store(ids, fashion_vectors)
    index = VectorIndex.open(path, 784, IVFPQ, model_id="pixels", vector_source=store.get_vectors)
    index.add(ids, fashion_vectors)
    index.save()
    return path


def copy_of(path: Path, folder: Path) -> Path:
    for file in path.parent.glob(path.name + "*"):
        shutil.copy(file, folder / file.name)
    return folder / path.name


def test_ivfpq_filters_removals_and_idempotent_reindex(
    fashion_vectors: np.ndarray, trained_file: Path, tmp_path: Path
) -> None:
    ids = np.arange(1, 2001, dtype=np.int64)
    store = Store(ids, fashion_vectors)
    index = VectorIndex.open(
        copy_of(trained_file, tmp_path), 784, IVFPQ, vector_source=store.get_vectors
    )
    assert index.kind == "ivfpq"
    assert index.add(ids[:100], fashion_vectors[:100]) == 0  # re-index: nothing twice
    assert len(index) == 2000

    query = fashion_vectors[9]
    allowed = ids[::3]  # 667 ids: answered exactly from the stored vectors
    found, _ = index.search(query, 10, allowed_ids=allowed)[0]
    assert set(found.tolist()) <= set(allowed.tolist()) and found[0] == 10
    few = ids[1000:1003]
    assert sorted(index.search(query, 10, allowed_ids=few)[0][0].tolist()) == few.tolist()

    assert index.remove(ids[:500]) == 500
    assert index.remove(ids[:500]) == 0
    assert len(index) == 1500 and index.tombstones == 0  # IVF removes in place
    assert not index.contains(ids[:3]).any()
    hits = index.search(fashion_vectors[:20], 10)
    assert all((found > 500).all() for found, _ in hits)
    assert index.add(ids[:1], fashion_vectors[:1]) == 1  # a removed id can come back
    assert index.search(fashion_vectors[0], 1)[0][0][0] == 1


def test_ivfpq_round_trip_on_disk_needs_the_stored_vectors(
    fashion_vectors: np.ndarray, trained_file: Path, tmp_path: Path
) -> None:
    ids = np.arange(1, 2001, dtype=np.int64)
    store = Store(ids, fashion_vectors)
    path = copy_of(trained_file, tmp_path)
    index = VectorIndex.open(path, 784, IVFPQ, model_id="pixels", vector_source=store.get_vectors)
    assert index.add(ids, fashion_vectors) == 0
    index.remove(ids[:10])
    before = index.search(fashion_vectors[100:110], 10)
    index.save()

    again = VectorIndex.open(path, 784, IVFPQ, model_id="pixels", vector_source=store.get_vectors)
    assert again.kind == "ivfpq" and len(again) == 1990
    np.testing.assert_array_equal(again.ids(), ids[10:])
    for (a, _), (b, _) in zip(before, again.search(fashion_vectors[100:110], 10), strict=True):
        np.testing.assert_array_equal(a, b)

    blind = VectorIndex.open(path, 784, IVFPQ, model_id="pixels")
    with pytest.raises(VectorIndexError, match="vector_source"):
        blind.search(fashion_vectors[0], 5)
    with pytest.raises(VectorIndexError, match="delete it"):
        VectorIndex.open(path, 784, IndexSettings(kind="hnsw"), model_id="pixels")


def test_auto_turns_hnsw_into_ivfpq_past_its_threshold(fashion_vectors: np.ndarray) -> None:
    ids = np.arange(1, 2001, dtype=np.int64)
    store = Store(ids, fashion_vectors)
    settings = IVFPQ.model_copy(update={"kind": "auto", "ivfpq_above": 1000})
    index = VectorIndex.create(None, 784, settings, vector_source=store.get_vectors)
    index.add(ids[:1000], fashion_vectors[:1000])
    assert index.kind == "hnsw"
    index.remove(ids[:5])  # a tombstone does not follow the vectors into the new tier
    index.add(ids[1000:], fashion_vectors[1000:])
    assert index.kind == "ivfpq" and len(index) == 1995 and index.tombstones == 0
    assert not index.contains(ids[:5]).any()
    rebuilt = VectorIndex.create(None, 784, settings, vector_source=store.get_vectors)
    batches = ((ids[i : i + 500], fashion_vectors[i : i + 500]) for i in range(0, 2000, 500))
    assert rebuilt.rebuild(batches, expected=2000) == 2000
    assert rebuilt.kind == "ivfpq"


def test_flat_is_exact_removes_in_place_and_converts_to_hnsw_on_load(
    real_frames: RealFrames, tmp_path: Path
) -> None:
    ids = np.arange(1, 81, dtype=np.int64)
    path = tmp_path / "frames.faiss"
    flat = VectorIndex.open(path, 32, IndexSettings(kind="flat"))
    flat.add(ids, real_frames.vectors)
    results = flat.search(real_frames.vectors, 5)
    truth = exact_top(real_frames.vectors, ids, real_frames.vectors, 5)
    assert recall(results, truth) == 1.0
    assert flat.remove(ids[:4]) == 4 and flat.tombstones == 0 and len(flat) == 76
    flat.save()
    graph = VectorIndex.open(path, 32, IndexSettings(kind="hnsw"))
    assert graph.kind == "hnsw" and len(graph) == 76
    assert graph.search(real_frames.vectors[9], 1)[0][0][0] == 10


@pytest.mark.parametrize("threads", [0, 1])
def test_single_query_thread_setting_leaves_the_thread_count_as_it_was(
    real_frames: RealFrames, threads: int
) -> None:
    index = VectorIndex.create(None, 32, IndexSettings(single_query_threads=threads))
    index.add(np.arange(80, dtype=np.int64), real_frames.vectors)
    before = faiss.omp_get_max_threads()
    assert index.search(real_frames.vectors[3], 1)[0][0][0] == 3
    assert len(index.search(real_frames.vectors[:4], 1)) == 4
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize(
    ("count", "lists"), [(1, 16), (10_000, 256), (1_000_000, 2048), (10_000_000, 8192)]
)
def test_ivf_lists_grow_with_the_square_root(count: int, lists: int) -> None:
    assert ivf_lists_for(count) == lists


def test_ivfpq_re_ranks_with_the_vectors_the_catalog_stores(
    catalog: Catalog, fashion_vectors: np.ndarray
) -> None:
    """The catalog (SQLite and PostgreSQL) holds the only full copy; the index only codes."""
    source = catalog.add_source(walkway_spec())
    start = datetime(2024, 5, 1, tzinfo=UTC)
    frames = [
        NewFrame(
            frame_index=i,
            media_time=i / 10,
            width=28,
            height=28,
            thumbnail_path=f"thumbs/{i}.jpg",
            captured_at=start + timedelta(seconds=i / 10),
        )
        for i in range(1000)
    ]
    catalog.add_frames(source.id, "pixels", frames, fashion_vectors[:1000])
    index = VectorIndex.create(None, 784, IVFPQ, vector_source=catalog.get_vectors)
    assert sync_with_catalog(index, catalog, "pixels").added == 1000
    assert index.kind == "ivfpq"
    ids = catalog.embedding_ids("pixels")
    queries = fashion_vectors[1900:1920]
    truth = exact_top(fashion_vectors[:1000], ids, queries, 10)
    assert recall(index.search(queries, 10), truth) >= 0.95
    catalog.remove_source(source.id)
    assert sync_with_catalog(index, catalog, "pixels").removed == 1000
    assert len(index) == 0

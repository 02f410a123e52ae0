"""The FAISS HNSW vector index: search, filters, removal, rebuild, persistence, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

import vigil.catalog.vector_index as vector_index_module
from tests.catalog.conftest import RealFrames
from vigil.catalog.vector_index import VectorIndex
from vigil.errors import InvalidInputError, VectorIndexError
from vigil.settings import IndexSettings

SETTINGS = IndexSettings(hnsw_m=16, ef_construction=64, ef_search=64)


def unit_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Synthetic random unit vectors: fine for index mechanics, where meaning plays no part."""
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]]


@pytest.fixture
def real_index(real_frames: RealFrames) -> tuple[VectorIndex, np.ndarray]:
    index = VectorIndex.create(None, 32, SETTINGS, model_id=real_frames.model_id)
    ids = np.arange(101, 181, dtype=np.int64)  # catalog ids need not start at 0
    assert index.add(ids, real_frames.vectors) == 80
    return index, ids


def test_real_frames_find_themselves_and_match_exact_search(
    real_index: tuple[VectorIndex, np.ndarray], real_frames: RealFrames
) -> None:
    index, ids = real_index
    assert len(index) == 80
    results = index.search(real_frames.vectors, 5)
    for row, (hit_ids, scores) in enumerate(results):
        assert hit_ids[0] == ids[row]
        assert scores[0] == pytest.approx(1.0, abs=1e-5)  # cosine of a unit vector with itself
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        expected = exact_top(real_frames.vectors, ids, real_frames.vectors[row], 5)
        assert set(hit_ids) == set(expected)
    single = index.search(real_frames.vectors[7], 3)  # a (D,) query is one query
    assert len(single) == 1 and single[0][0][0] == ids[7]


def test_recall_against_exact_search() -> None:
    vectors = unit_vectors(5000, 48)
    ids = np.arange(5000, dtype=np.int64) * 3 + 7
    index = VectorIndex.create(None, 48, SETTINGS)
    index.add(ids, vectors)
    queries = unit_vectors(50, 48, seed=1)
    hits = sum(
        len(set(found) & set(exact_top(vectors, ids, query, 10)))
        for query, (found, _) in zip(queries, index.search(queries, 10), strict=True)
    )
    assert hits / (50 * 10) >= 0.9


def test_k_larger_than_the_index_and_an_empty_index() -> None:
    index = VectorIndex.create(None, 8, SETTINGS)
    [(ids, scores)] = index.search(unit_vectors(1, 8)[0], 10)
    assert ids.size == 0 and scores.size == 0
    index.add(np.array([5, 6, 7]), unit_vectors(3, 8))
    [(ids, _)] = index.search(unit_vectors(1, 8, seed=2)[0], 10)
    assert sorted(ids) == [5, 6, 7]
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        index.search(unit_vectors(1, 8)[0], 0)


@pytest.mark.parametrize("exact_limit", [100_000, 10], ids=["exact-path", "graph-path"])
def test_filtered_search_returns_only_allowed_ids(
    exact_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small allowed sets are answered exactly, large ones by filtered HNSW; same answers."""
    monkeypatch.setattr(vector_index_module, "EXACT_FILTER_LIMIT", exact_limit)
    vectors = unit_vectors(3000, 32)
    ids = np.arange(3000, dtype=np.int64)
    index = VectorIndex.create(None, 32, SETTINGS)
    index.add(ids, vectors)
    allowed = ids[::10]  # 10% of the ids, like "only these cameras"
    queries = unit_vectors(20, 32, seed=3)
    recalled = 0
    for query, (found, scores) in zip(queries, index.search(queries, 10, allowed), strict=True):
        assert found.size == 10 and np.isin(found, allowed).all()
        expected = exact_top(vectors[::10], allowed, query, 10)
        recalled += len(set(found) & set(expected))
        np.testing.assert_allclose(scores, vectors[found] @ query, atol=1e-5)
    assert recalled / 200 >= (1.0 if exact_limit > 3000 else 0.9)


def test_filters_with_few_or_unknown_ids(real_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, ids = real_index
    query = index.reconstruct([ids[0]])[0]
    [(found, _)] = index.search(query, 10, allowed_ids=np.array([ids[3], ids[9], 99_999]))
    assert sorted(found) == sorted([ids[3], ids[9]])
    [(found, _)] = index.search(query, 10, allowed_ids=np.array([99_999]))
    assert found.size == 0
    [(found, _)] = index.search(query, 10, allowed_ids=np.array([], dtype=np.int64))
    assert found.size == 0


def test_removed_ids_are_never_returned(real_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, ids = real_index
    vectors = index.reconstruct(ids)
    gone = ids[:10]
    assert index.remove(gone) == 10
    assert index.remove(gone) == 0  # idempotent
    assert index.remove([424_242]) == 0  # unknown ids are ignored
    assert len(index) == 70 and index.tombstones == 10
    assert ids[0] not in index and ids[10] in index
    assert not index.contains(gone).any()
    np.testing.assert_array_equal(index.ids(), ids[10:])
    for (found, _), query in zip(index.search(vectors[:10], 5), vectors[:10], strict=True):
        assert not np.isin(found, gone).any() and found.size == 5
        assert set(found) == set(exact_top(vectors[10:], ids[10:], query, 5))
    [(found, _)] = index.search(vectors[0], 80, allowed_ids=ids[:20])
    assert sorted(found) == list(ids[10:20])


def test_many_removals_rebuild_the_graph(real_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, ids = real_index
    vectors = index.reconstruct(ids)
    index.remove(ids[:10])
    assert index.tombstones == 10  # 12.5%: below the rebuild threshold
    index.remove(ids[10:20])
    assert index.tombstones == 0 and len(index) == 60  # 25%: rebuilt without them
    np.testing.assert_array_equal(index.ids(), ids[20:])
    np.testing.assert_array_equal(index.reconstruct(ids[20:]), vectors[20:])
    [(found, _)] = index.search(vectors[30], 1)
    assert found[0] == ids[30]


def test_adding_is_idempotent_and_a_removed_id_can_come_back(
    real_index: tuple[VectorIndex, np.ndarray], real_frames: RealFrames
) -> None:
    index, ids = real_index
    assert index.add(ids[:10], real_frames.vectors[:10]) == 0
    assert len(index) == 80
    index.remove(ids[:1])
    replacement = real_frames.vectors[50:51]
    assert index.add(ids[:1], replacement) == 1
    assert len(index) == 80 and index.tombstones == 0
    np.testing.assert_array_equal(index.reconstruct(ids[:1]), replacement)


def test_rebuild_replaces_the_contents(real_frames: RealFrames) -> None:
    index = VectorIndex.create(None, 32, SETTINGS)
    index.add(np.arange(5), real_frames.vectors[:5])
    index.remove([0])
    ids = np.arange(1000, 1080, dtype=np.int64)
    batches = [(ids[:50], real_frames.vectors[:50]), (ids[50:], real_frames.vectors[50:])]
    assert index.rebuild(iter(batches)) == 80
    np.testing.assert_array_equal(index.ids(), ids)
    assert index.tombstones == 0

    def broken() -> object:
        yield ids[:10], real_frames.vectors[:10]
        raise OSError("catalog went away")

    with pytest.raises(OSError):
        index.rebuild(broken())  # type: ignore[arg-type]
    assert len(index) == 80  # the old contents keep serving


def test_save_and_reload(tmp_path: Path, real_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, ids = real_index
    path = tmp_path / "index" / "fake-32.faiss"
    index.path = path
    index.remove(ids[:5])
    index.save()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["fake-32.faiss", "fake-32.faiss.json", "fake-32.faiss.tombstones.npy"]
    meta = json.loads((path.parent / "fake-32.faiss.json").read_text())
    assert meta["dim"] == 32 and meta["model_id"] == "fake-32" and meta["count"] == 75
    assert meta["settings"] == SETTINGS.model_dump()

    reloaded = VectorIndex.open(path, 32, SETTINGS, model_id="fake-32")
    assert len(reloaded) == 75 and reloaded.tombstones == 5
    np.testing.assert_array_equal(reloaded.ids(), ids[5:])
    queries = index.reconstruct(ids[5:15])
    for (a, sa), (b, sb) in zip(index.search(queries, 5), reloaded.search(queries, 5), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(sa, sb)
    # Saving again with nothing changed writes nothing.
    before = path.stat().st_mtime_ns
    reloaded.save()
    assert path.stat().st_mtime_ns == before


def test_open_creates_an_empty_index_that_saves(tmp_path: Path) -> None:
    path = tmp_path / "new.faiss"
    index = VectorIndex.open(path, 16, SETTINGS, model_id="m")
    assert len(index) == 0 and not path.exists()
    index.save()
    assert len(VectorIndex.open(path, 16, SETTINGS, model_id="m")) == 0


def test_mismatches_and_unreadable_files_are_vector_index_errors(
    tmp_path: Path, real_index: tuple[VectorIndex, np.ndarray], vtest_path: Path
) -> None:
    index, _ = real_index
    path = tmp_path / "fake-32.faiss"
    index.path = path
    index.save()
    with pytest.raises(VectorIndexError, match="holds 32-d vectors but 64-d were expected"):
        VectorIndex.open(path, 64, SETTINGS)
    with pytest.raises(VectorIndexError, match="belongs to model 'fake-32', not 'clip'"):
        VectorIndex.open(path, 32, SETTINGS, model_id="clip")
    with pytest.raises(VectorIndexError, match=r"\(N, 32\)"):
        index.add(np.array([1]), unit_vectors(1, 16))
    with pytest.raises(VectorIndexError, match=r"\(32,\) or \(Q, 32\)"):
        index.search(unit_vectors(1, 16)[0], 5)
    with pytest.raises(InvalidInputError, match="2 ids for 1 vectors"):
        index.add(np.array([1, 2]), unit_vectors(1, 32))

    garbage = tmp_path / "garbage.faiss"
    garbage.write_bytes(vtest_path.read_bytes()[:4096])
    with pytest.raises(VectorIndexError, match="cannot read vector index"):
        VectorIndex.open(garbage, 32, SETTINGS)
    flat = tmp_path / "flat.faiss"
    faiss.write_index(faiss.IndexFlatIP(32), str(flat))
    with pytest.raises(
        VectorIndexError, match=r"expected IndexIDMap2\(IndexHNSWFlat or IndexFlatIP\)"
    ):
        VectorIndex.open(flat, 32, SETTINGS)
    truncated = tmp_path / "truncated.faiss"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(VectorIndexError, match="cannot read vector index"):
        VectorIndex.open(truncated, 32, SETTINGS)


def test_a_write_failure_is_a_vector_index_error(
    tmp_path: Path, real_index: tuple[VectorIndex, np.ndarray]
) -> None:
    index, _ = real_index
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    index.path = blocker / "index.faiss"
    with pytest.raises(VectorIndexError, match="cannot write vector index"):
        index.save()

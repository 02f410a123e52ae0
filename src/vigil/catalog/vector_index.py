"""A persistent approximate-nearest-neighbour index over unit vectors (FAISS).

Why FAISS: it is the most used, actively released ANN library. Three kinds
(``IndexSettings.kind``), one interface:

- ``hnsw`` (IndexIDMap2(IndexHNSWFlat)): needs no training, so frames can be added as
  they are indexed; milliseconds at a million vectors on two cores
  (``bench/bench_search.py``), but float32 vectors + graph in RAM (~1.8 KB at 384-d).
- ``flat`` (IndexIDMap2(IndexFlatIP)): exact, float32 in RAM, linear time.
- ``ivfpq`` (IndexIVFPQ with the catalog ids): the tier for more than RAM. Each
  vector is a ``pq_bytes`` code + an 8-byte id (<= 64 bytes); a search fetches
  ``rerank`` x k candidates by code and re-ranks them exactly with the vectors the
  catalog stores (``vector_source``), so the full vectors are kept once, in the
  catalog. It needs training: until 30 x nlist vectors are in, it stays ``flat``
  (exact), then trains once on them (``bench/bench_index_tiers.py``).

``auto`` is hnsw up to ``ivfpq_above`` vectors, then converts to ivfpq once.
Vectors are unit-norm, so inner product is cosine similarity.

HNSW cannot delete, so removed ids become tombstones (persisted beside the index)
that searches exclude with a FAISS ``IDSelectorNot``; once tombstones pass
``REBUILD_TOMBSTONE_FRACTION`` of the index it is rebuilt from its own stored
vectors. Flat and IVF indexes remove ids at once. The index is a cache of the
catalog, which also stores every vector; ``vigil.catalog.sync`` repairs it after
a crash.

Files, all written atomically (temp file + ``os.replace``)::

    <name>.faiss                 the FAISS index (one of the kinds above)
    <name>.faiss.json            dim, model_id, count, settings (for people and checks)
    <name>.faiss.tombstones.npy  removed ids still in the graph

>>> path = Path("vigil-data/index/fake-64.faiss")  # doctest: +SKIP
>>> index = VectorIndex.open(path, 64, IndexSettings(), model_id="fake-64")  # doctest: +SKIP
>>> index.add(ids, vectors)  # ids (N,) int64, vectors (N, 64) float32  # doctest: +SKIP
>>> [(hit_ids, scores)] = index.search(query, k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from vigil.errors import InvalidInputError, VectorIndexError
from vigil.settings import IndexSettings

FORMAT_VERSION = 1
# At or below this many allowed ids a filtered query is answered exactly, with one
# matrix product over their vectors: faster than filtered graph search at that size
# (measured at 100k x 384-d, 2 cores: 1k ids 0.26 ms exact vs 1.2 ms graph; 10k ids
# 8 ms exact vs 4 ms graph), and it never misses a hit.
EXACT_FILTER_LIMIT = 5_000
REBUILD_TOMBSTONE_FRACTION = 0.2
_REBUILD_CHUNK = 50_000

# IVF training: lists need ~30 vectors each for k-means to place them (FAISS warns
# below 39); PQ's 256 centroids per sub-vector need at least 256 vectors.
IVF_TRAIN_PER_LIST = 30
_IVF_TRAIN_NITER = 10  # k-means passes; 10 place lists as well as FAISS's 25 for search
_IVF_HNSW_QUANTIZER_LISTS = 1024  # from this many lists, assign through an HNSW of centroids

SearchResult = tuple[np.ndarray, np.ndarray]  # (ids (k,) int64, scores (k,) float32), best first
# Stored vectors of ids, (N, D) float32 in the given order (e.g. ``Catalog.get_vectors``).
VectorSource = Callable[[np.ndarray], np.ndarray]

_threads_lock = threading.Lock()
_threads_set = False


def set_threads(count: int | None = None) -> int:
    """Set FAISS's OpenMP thread count (default: the CPUs this process may run on).

    OpenMP otherwise starts one thread per machine core, which oversubscribes a
    container limited to fewer cores and makes every call slower.
    """
    global _threads_set
    if count is None:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        count = max(1, min(count, os.cpu_count() or 1))
    if count < 1:
        raise InvalidInputError(f"thread count must be >= 1, got {count}")
    with _threads_lock:
        faiss.omp_set_num_threads(count)
        _threads_set = True
    return count


def _ensure_threads() -> None:
    if not _threads_set:
        set_threads()


class VectorSearch(Protocol):
    """What the search and indexing stages need from a vector index, wherever it lives.

    Implemented by ``VectorIndex`` (FAISS, in this process) and by
    ``vigil.catalog.milvus_index.MilvusVectorIndex`` (a Milvus server).
    """

    dim: int
    model_id: str

    @property
    def kind(self) -> str: ...
    @property
    def tombstones(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, embedding_id: object) -> bool: ...
    def contains(self, ids: np.ndarray | Iterable[int]) -> np.ndarray: ...
    def ids(self) -> np.ndarray: ...
    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[SearchResult]: ...
    def reconstruct(self, ids: np.ndarray | Iterable[int]) -> np.ndarray: ...
    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int: ...
    def remove(self, ids: np.ndarray | Iterable[int]) -> int: ...
    def compact(self) -> None: ...
    def rebuild(
        self, batches: Iterable[tuple[np.ndarray, np.ndarray]], expected: int = 0
    ) -> int: ...
    def save(self) -> None: ...


@contextmanager
def _query_threads(count: int) -> Iterator[None]:
    """Run FAISS with ``count`` OpenMP threads inside the block (0: leave as set).

    ``omp_set_num_threads`` sets the calling thread's own OpenMP setting, so a
    search in one server thread does not change another's.
    """
    if count <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    if before == count:
        yield
        return
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def ivf_lists_for(count: int) -> int:
    """IVF lists for ``count`` vectors: the power of two at or below 4 x sqrt(count)."""
    target = max(16.0, 4.0 * float(np.sqrt(max(count, 1))))
    return int(min(65_536, 2 ** int(np.floor(np.log2(target)))))


def pq_bytes_for(dim: int, limit: int) -> int:
    """The largest divisor of ``dim`` up to ``limit``: PQ splits a vector into equal parts."""
    return max(m for m in range(1, min(limit, dim) + 1) if dim % m == 0)


def as_ids(ids: np.ndarray | Iterable[int]) -> np.ndarray:
    """Catalog ids as a 1-d int64 array (every vector store takes them so)."""
    array = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
    if array.ndim != 1:
        raise InvalidInputError(f"ids must be 1-d, got shape {array.shape}")
    return array


def checked_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """One (D,) query or a (Q, D) batch as (Q, D) float32, finite, of the store's dimension."""
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]  # (1, D)
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise VectorIndexError(
            f"queries must be ({dim},) or (Q, {dim}) for this index, got shape {queries.shape}"
        )
    if not np.isfinite(queries).all():
        raise InvalidInputError("query vectors contain NaN or infinite values")
    return queries


def checked_additions(
    ids: np.ndarray | Iterable[int], vectors: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, (N, D) contiguous float32 vectors) for an add, or one clear error."""
    ids_array = as_ids(ids)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise VectorIndexError(
            f"vectors must be (N, {dim}) for this index, got shape {vectors.shape}"
        )
    if vectors.shape[0] != ids_array.size:
        raise InvalidInputError(
            f"got {ids_array.size} ids for {vectors.shape[0]} vectors; expected one id each"
        )
    if ids_array.size and ids_array.min() < 0:
        raise InvalidInputError("ids must be >= 0")
    if np.unique(ids_array).size != ids_array.size:
        raise InvalidInputError("the same id appears twice in one add")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise InvalidInputError("vectors contain NaN or infinite values")
    return ids_array, vectors


def _empty_result() -> SearchResult:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


class VectorIndex:
    """Inner-product (cosine on unit vectors) search with int64 ids, filters and removal."""

    def __init__(
        self,
        path: Path | None,
        dim: int,
        settings: IndexSettings,
        *,
        model_id: str = "",
        vector_source: VectorSource | None = None,
        expected: int = 0,
    ) -> None:
        if dim <= 0:
            raise InvalidInputError(f"dim must be positive, got {dim}")
        _ensure_threads()
        self.path = Path(path) if path is not None else None
        self.dim = dim
        self.settings = settings
        self.model_id = model_id
        # Where the ivfpq tier reads the full vectors to re-rank (the catalog).
        self.vector_source = vector_source
        # How many vectors are on their way (a rebuild): auto picks its kind for that.
        self._expected = expected
        self._index = self._empty(self._target_kind(expected))
        self._tombstones: set[int] = set()
        self._sorted_ids: np.ndarray | None = np.empty(0, dtype=np.int64)  # cache; None = stale
        self._max_id = -1
        self._dirty = False
        self._lock = threading.RLock()  # FAISS is not safe for a search during an add
        self.read_only = False  # set by open(read_only=True): save() writes nothing

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path | None,
        dim: int,
        settings: IndexSettings,
        *,
        model_id: str = "",
        vector_source: VectorSource | None = None,
    ) -> VectorIndex:
        """A new empty index; ``save()`` writes it to ``path`` (replacing any file there)."""
        index = cls(path, dim, settings, model_id=model_id, vector_source=vector_source)
        index._dirty = True
        return index

    @classmethod
    def open(
        cls,
        path: Path,
        dim: int,
        settings: IndexSettings,
        *,
        model_id: str = "",
        read_only: bool = False,
        vector_source: VectorSource | None = None,
    ) -> VectorIndex:
        """Load the index at ``path``, or start an empty one there if there is none.

        ``read_only``: reconciled with the catalog in memory, never written back.
        ``vector_source``: the stored vectors, for the ivfpq tier's re-rank.
        """
        index = cls(path, dim, settings, model_id=model_id, vector_source=vector_source)
        index.read_only = read_only
        if Path(path).exists():
            index._load()
        else:
            index._dirty = True
        return index

    # -- kinds -----------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The kind in use now: ``flat``, ``hnsw`` or ``ivfpq``."""
        return _kind_of(self._index)

    @property
    def trained(self) -> bool:
        """False while an ivfpq index still waits (exact, flat) for enough vectors to train."""
        return not (self._target_kind(self._index.ntotal) == "ivfpq" and self.kind != "ivfpq")

    def _target_kind(self, count: int) -> str:
        kind = self.settings.kind
        if kind == "auto":
            return "ivfpq" if max(count, self._expected) > self.settings.ivfpq_above else "hnsw"
        return kind

    def _empty(self, kind: str) -> Any:
        """An empty IDMap2 index; ivfpq starts flat (exact) until it can be trained."""
        if kind == "hnsw":
            graph = faiss.IndexHNSWFlat(self.dim, self.settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = self.settings.ef_construction
            graph.hnsw.efSearch = self.settings.ef_search
            return faiss.IndexIDMap2(graph)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _train_size(self, count: int) -> tuple[int, int]:
        """(lists, vectors needed to train) for an ivfpq index about to hold ``count``."""
        lists = self.settings.ivf_nlist or ivf_lists_for(count)
        return lists, max(IVF_TRAIN_PER_LIST * lists, 256)

    def _maybe_convert(self) -> None:
        """Turn a flat/hnsw index into ivfpq once the setting asks for it and data suffices."""
        count = int(self._index.ntotal) - len(self._tombstones)
        if self.kind == "ivfpq" or self._target_kind(count) != "ivfpq":
            return
        _, needed = self._train_size(max(count, self._expected))
        if count < needed:
            return
        live = self._stored_ids()
        if self._tombstones:
            live = live[~np.isin(live, self._tombstone_array())]
        self._index = self._train_ivfpq(live, max(count, self._expected))
        self._tombstones = set()
        self._sorted_ids = live
        self._dirty = True

    def _train_ivfpq(self, ids: np.ndarray, count: int) -> Any:
        """Train an IVF-PQ index on (a sample of) the stored vectors and move them all in."""
        lists, needed = self._train_size(count)
        code = pq_bytes_for(self.dim, self.settings.pq_bytes)
        quantizer = "_HNSW32" if lists >= _IVF_HNSW_QUANTIZER_LISTS else ""
        index: Any = faiss.index_factory(
            self.dim, f"IVF{lists}{quantizer},PQ{code}", faiss.METRIC_INNER_PRODUCT
        )
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = _IVF_TRAIN_NITER
        index.pq.cp.niter = _IVF_TRAIN_NITER
        # The factory turns on polysemous training (codes ordered for Hamming search,
        # which Vigil does not use): 70x slower to train (2,000 x 784-d: 209 s vs 3 s).
        index.do_polysemous_training = False
        # We ask for 30 vectors a list; FAISS's 39-a-centroid advice is printed, not raised.
        ivf.cp.min_points_per_centroid = 1
        index.pq.cp.min_points_per_centroid = 1
        rng = np.random.default_rng(0)  # a fixed sample: the same vectors train the same index
        sample_size = min(ids.size, max(needed, 64 * lists, 20_000))
        sample = np.sort(rng.choice(ids, sample_size, replace=False))
        training = np.concatenate(
            [
                self._index.reconstruct_batch(sample[i : i + _REBUILD_CHUNK])
                for i in range(0, sample.size, _REBUILD_CHUNK)
            ]
        )
        index.train(training)  # (S, D)
        del training
        for start in range(0, ids.size, _REBUILD_CHUNK):
            chunk = ids[start : start + _REBUILD_CHUNK]
            index.add_with_ids(self._index.reconstruct_batch(chunk), chunk)
        return index

    def _files(self) -> tuple[Path, Path, Path]:
        if self.path is None:
            raise VectorIndexError("this vector index has no file path; it lives in memory only")
        return (
            self.path,
            self.path.with_name(self.path.name + ".json"),
            self.path.with_name(self.path.name + ".tombstones.npy"),
        )

    def _load(self) -> None:
        index_path, meta_path, tombstone_path = self._files()
        try:
            index: Any = faiss.read_index(str(index_path))
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            tombstones = (
                np.load(tombstone_path, allow_pickle=False)
                if tombstone_path.exists()
                else np.empty(0, dtype=np.int64)
            )
        except (RuntimeError, OSError, ValueError) as error:
            raise VectorIndexError(
                f"cannot read vector index {index_path}: {_first_line(error)}; delete it and "
                "it is rebuilt from the catalog"
            ) from error
        kind = _kind_of(index)
        if kind == "unknown":
            raise VectorIndexError(
                f"vector index {index_path} is a {type(index).__name__}, expected "
                "IndexIDMap2(IndexHNSWFlat or IndexFlatIP) or IndexIVFPQ; delete it and it "
                "is rebuilt from the catalog"
            )
        wanted = self.settings.kind
        if kind == "ivfpq" and wanted in ("flat", "hnsw"):
            raise VectorIndexError(
                f"vector index {index_path} is ivfpq but the settings ask for {wanted}; "
                "delete it and it is rebuilt from the catalog as the settings say"
            )
        if index.d != self.dim:
            raise VectorIndexError(
                f"vector index {index_path} holds {index.d}-d vectors but {self.dim}-d were "
                "expected (a different model?); delete it or pick the matching model"
            )
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise VectorIndexError(f"vector index {index_path} does not use inner product")
        stored_model = meta.get("model_id") or ""
        if self.model_id and stored_model and stored_model != self.model_id:
            raise VectorIndexError(
                f"vector index {index_path} belongs to model {stored_model!r}, "
                f"not {self.model_id!r}"
            )
        self.model_id = self.model_id or stored_model
        if kind == "hnsw":
            graph: Any = faiss.downcast_index(index.index)
            graph.hnsw.efSearch = self.settings.ef_search
        self._index = index
        self._sorted_ids = None
        stored = self._stored_ids()
        self._max_id = int(stored[-1]) if stored.size else -1
        # A crash between file replacements can leave tombstones of ids the index lost.
        tombstones = np.asarray(tombstones, dtype=np.int64)
        self._tombstones = {int(i) for i in tombstones[self._present(tombstones)]}
        self._dirty = False
        # The settings may ask for another kind than the file has (flat <-> hnsw: move
        # the stored vectors; -> ivfpq: train once there are enough).
        wanted_now = self._target_kind(self._index.ntotal)
        if kind != "ivfpq" and wanted_now in ("flat", "hnsw") and kind != wanted_now:
            self._compact(set(self._tombstones), kind=wanted_now)
        self._maybe_convert()

    # -- reads -----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Live (not removed) vectors."""
        return int(self._index.ntotal) - len(self._tombstones)

    @property
    def tombstones(self) -> int:
        """Removed vectors still in the graph (dropped by the next rebuild)."""
        return len(self._tombstones)

    def __contains__(self, embedding_id: object) -> bool:
        if not isinstance(embedding_id, int | np.integer):
            return False
        return bool(self.contains(np.asarray([embedding_id], dtype=np.int64))[0])

    def contains(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        """Boolean mask: which ids are live in the index."""
        wanted = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
        with self._lock:
            live = self._present(wanted)
            if self._tombstones:
                live &= ~np.isin(wanted, self._tombstone_array())
            return live

    def ids(self) -> np.ndarray:
        """Live ids, ascending int64."""
        with self._lock:
            stored = self._stored_ids()
            if self._tombstones:
                stored = stored[~np.isin(stored, self._tombstone_array())]
            return stored.copy()

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[SearchResult]:
        """Top-``k`` (ids, scores) per query, best first.

        ``queries`` is one (D,) vector or a (Q, D) batch; ``allowed_ids`` restricts
        the hits to those ids (e.g. the embeddings of some sources). Fewer than k
        hits come back when fewer vectors qualify.
        """
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        queries = np.ascontiguousarray(checked_queries(queries, self.dim))
        # One query: one thread. Waking idle OpenMP workers costs more than they give
        # (isolated queries, 2 loaded cores: 5.9 ms p50 with 2 threads, 0.65 ms with 1).
        threads = self.settings.single_query_threads if len(queries) == 1 else 0
        with self._lock, _query_threads(threads):
            if len(self) == 0:
                return [_empty_result() for _ in queries]
            if allowed_ids is None:
                return self._search_all(queries, k)
            allowed = np.asarray(allowed_ids, dtype=np.int64).ravel()
            if allowed.size > 1 and not (np.diff(allowed) > 0).all():
                allowed = np.unique(allowed)  # catalog ids come sorted: skip the sort then
            allowed = allowed[self._present(allowed)]
            if self._tombstones:
                allowed = allowed[~np.isin(allowed, self._tombstone_array())]
            if allowed.size == 0:
                return [_empty_result() for _ in queries]
            if allowed.size <= EXACT_FILTER_LIMIT:
                return self._exact(queries, allowed, k)
            selector = faiss.IDSelectorBatch(allowed)
            results = self._graph_search(queries, min(k, allowed.size), selector)
            # Filtered graph search can come back short; the exact answer never does.
            short = [i for i, found in enumerate(results) if found[0].size < min(k, allowed.size)]
            if short and self.kind == "ivfpq":
                # The probed lists held too few allowed ids: scan every list's codes (no
                # miss), instead of reading up to millions of vectors from the catalog.
                wider = self._graph_search(queries[short], min(k, allowed.size), selector, True)
                for i, found in zip(short, wider, strict=True):
                    results[i] = found
            elif short:
                for i, exact in zip(short, self._exact(queries[short], allowed, k), strict=True):
                    results[i] = exact
            return results

    def _search_all(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        if not self._tombstones:
            return self._graph_search(queries, min(k, len(self)), None)
        removed = faiss.IDSelectorBatch(self._tombstone_array())
        selector = faiss.IDSelectorNot(removed)  # does not own ``removed``: keep it referenced
        results = self._graph_search(queries, min(k, len(self)), selector)
        del selector, removed
        return results

    def _graph_search(
        self, queries: np.ndarray, k: int, selector: Any, every_list: bool = False
    ) -> list[SearchResult]:
        kind = self.kind
        wanted = k
        params: Any
        if kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.settings.ef_search, k))  # type: ignore[attr-defined]
        elif kind == "ivfpq":
            ivf = faiss.extract_index_ivf(self._index)
            nprobe = ivf.nlist if every_list else min(self.settings.ivf_nprobe, ivf.nlist)
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            if isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSWFlat):
                # The centroid graph must look at more than the lists it returns: at its
                # default efSearch 16, nprobe 64 found 0.75 of the neighbours instead of
                # 0.84 (100k clustered 384-d, IVF1024; 0.82 vs 0.96 at nprobe 256).
                quantizer = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
                quantizer.efSearch = max(2 * nprobe, 128)
                params.quantizer_params = quantizer
            wanted = k * self.settings.rerank  # candidates by code, re-ranked exactly below
        else:
            params = faiss.SearchParameters()  # type: ignore[attr-defined]
        if selector is not None:
            params.sel = selector
        scores, ids = self._index.search(queries, wanted, params=params)  # (Q, wanted) each
        results = []
        for row_ids, row_scores in zip(ids, scores, strict=True):
            keep = row_ids >= 0  # FAISS pads with -1 when fewer vectors qualify
            results.append((row_ids[keep].astype(np.int64), row_scores[keep].astype(np.float32)))
        if kind == "ivfpq":
            return self._rerank(queries, [found for found, _ in results], k)
        return results

    def _rerank(
        self, queries: np.ndarray, candidates: list[np.ndarray], k: int
    ) -> list[SearchResult]:
        """Exact scores of each query's candidates from the stored vectors; the top k."""
        union = np.unique(np.concatenate(candidates)) if candidates else np.empty(0, np.int64)
        if union.size == 0:
            return [_empty_result() for _ in candidates]
        vectors = self._stored_vectors(union.astype(np.int64))  # (U, D)
        results = []
        for query, found in zip(queries, candidates, strict=True):
            if found.size == 0:
                results.append(_empty_result())
                continue
            rows = np.searchsorted(union, found)
            scores = vectors[rows] @ query  # (C,)
            best = np.argsort(-scores, kind="stable")[:k]
            results.append((found[best], scores[best].astype(np.float32)))
        return results

    def _stored_vectors(self, ids: np.ndarray) -> np.ndarray:
        """Full vectors of ids in the index: its own copy, or the catalog's for ivfpq."""
        if self.kind != "ivfpq":
            return np.asarray(self._index.reconstruct_batch(ids), dtype=np.float32)
        if self.vector_source is None:
            raise VectorIndexError(
                "this ivfpq index holds only compressed codes and was opened without the "
                "stored vectors (vector_source) that it re-ranks with; open it through the "
                "workspace, or pass vector_source=catalog.get_vectors"
            )
        vectors = np.asarray(self.vector_source(ids), dtype=np.float32)
        if vectors.shape != (ids.size, self.dim):
            raise VectorIndexError(
                f"the vector source returned shape {vectors.shape} for {ids.size} ids, "
                f"expected ({ids.size}, {self.dim})"
            )
        return vectors

    def _exact(self, queries: np.ndarray, allowed: np.ndarray, k: int) -> list[SearchResult]:
        vectors = self._stored_vectors(allowed)  # (A, D)
        all_scores = queries @ vectors.T  # (Q, A)
        top = min(k, allowed.size)
        results = []
        for scores in all_scores:
            best = np.argpartition(-scores, top - 1)[:top]
            best = best[np.argsort(-scores[best], kind="stable")]
            results.append((allowed[best].astype(np.int64), scores[best].astype(np.float32)))
        return results

    def reconstruct(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        """Stored vectors of live ids, (N, D) float32."""
        wanted = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
        live = self.contains(wanted)
        if not live.all():
            raise VectorIndexError(f"ids not in the index: {wanted[~live][:5].tolist()}")
        with self._lock:
            return self._stored_vectors(wanted)

    # -- writes ----------------------------------------------------------------------------

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int:
        """Add vectors under their catalog ids; ids already present are skipped.

        Returns how many were added. An id removed earlier and added again replaces
        its old vector (the graph is rebuilt without the old copy first).
        """
        ids_array, vectors = checked_additions(ids, vectors, self.dim)
        if ids_array.size == 0:
            return 0
        with self._lock:
            # Catalog ids only grow, so the usual batch is all new: skip the lookup then.
            if int(ids_array.min()) <= self._max_id:
                if self._tombstones:
                    revived = {int(i) for i in ids_array} & self._tombstones
                    if revived:
                        self._compact(revived)
                present = self._present(ids_array)
                ids_array, vectors = ids_array[~present], vectors[~present]
                if ids_array.size == 0:
                    return 0
            self._index.add_with_ids(vectors, ids_array)
            self._sorted_ids = None
            self._max_id = max(self._max_id, int(ids_array.max()))
            self._dirty = True
            self._maybe_convert()
            return int(ids_array.size)

    def remove(self, ids: np.ndarray | Iterable[int]) -> int:
        """Forget ids; returns how many were live. Rebuilds once tombstones are many."""
        wanted = np.unique(
            np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
        )
        with self._lock:
            present = wanted[self._present(wanted)]
            fresh = {int(i) for i in present} - self._tombstones
            if not fresh:
                return 0
            if self.kind != "hnsw":  # flat and IVF remove in place: no tombstones
                self._index.remove_ids(faiss.IDSelectorBatch(present))
                self._sorted_ids = None
                self._dirty = True
                return len(fresh)
            self._tombstones |= fresh
            self._dirty = True
            if len(self._tombstones) > REBUILD_TOMBSTONE_FRACTION * self._index.ntotal:
                self._compact(set(self._tombstones))
            return len(fresh)

    def compact(self) -> None:
        """Rebuild the graph without the removed vectors."""
        with self._lock:
            if self._tombstones:
                self._compact(set(self._tombstones))

    def _compact(self, removed: set[int], kind: str | None = None) -> None:
        stored = self._stored_ids()
        keep = stored[~np.isin(stored, np.fromiter(removed, np.int64, len(removed)))]
        fresh = self._empty(kind or self.kind)
        for start in range(0, keep.size, _REBUILD_CHUNK):
            chunk = keep[start : start + _REBUILD_CHUNK]
            fresh.add_with_ids(self._index.reconstruct_batch(chunk), chunk)
        self._index = fresh
        self._tombstones -= removed
        self._sorted_ids = keep
        self._dirty = True

    def rebuild(self, batches: Iterable[tuple[np.ndarray, np.ndarray]], expected: int = 0) -> int:
        """Replace the whole index with the given (ids, vectors) batches; returns the count.

        The old index keeps serving until the new one is complete, and stays if
        building fails (e.g. ``rebuild(catalog.iter_vectors(model_id))``).
        ``expected``: how many vectors will come, so that ``auto`` builds the kind
        for that size from the start (no HNSW of millions built only to be converted).
        """
        fresh = VectorIndex(
            None,
            self.dim,
            self.settings,
            model_id=self.model_id,
            vector_source=self.vector_source,
            expected=expected,
        )
        for ids, vectors in batches:
            fresh.add(ids, vectors)
        with self._lock:
            self._index = fresh._index
            self._tombstones = set()
            self._sorted_ids = None
            self._max_id = fresh._max_id
            self._dirty = True
            return len(self)

    def save(self) -> None:
        """Write atomically (temp file, then rename): a crash never leaves half an index."""
        if self.path is None or self.read_only:
            return
        with self._lock:
            if not self._dirty and self.path.exists():
                return
            index_path, meta_path, tombstone_path = self._files()
            meta = {
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "faiss": _describe(self._index),
                "trained": self.trained,
                "model_id": self.model_id,
                "dim": self.dim,
                "count": len(self),
                "stored": int(self._index.ntotal),
                "tombstones": len(self._tombstones),
                "settings": self.settings.model_dump(mode="json"),
            }
            try:
                index_path.parent.mkdir(parents=True, exist_ok=True)
                _replace_with(index_path, lambda tmp: faiss.write_index(self._index, str(tmp)))
                _replace_with(
                    tombstone_path,
                    lambda tmp: _save_npy(tmp, self._tombstone_array()),
                )
                _replace_with(
                    meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n")
                )
            except (RuntimeError, OSError) as error:
                raise VectorIndexError(
                    f"cannot write vector index {index_path}: {_first_line(error)}"
                ) from error
            self._dirty = False

    # -- internals -------------------------------------------------------------------------

    def _stored_ids(self) -> np.ndarray:
        """Every id in the graph (tombstoned too), ascending; cached until the next add."""
        if self._sorted_ids is None:
            if self.kind == "ivfpq":
                self._sorted_ids = np.sort(_ivf_ids(self._index))
            else:
                self._sorted_ids = np.sort(
                    faiss.vector_to_array(self._index.id_map).astype(np.int64)
                )
        return self._sorted_ids

    def _present(self, ids: np.ndarray) -> np.ndarray:
        """Which ids are in the graph (tombstoned too): binary search in the sorted ids."""
        stored = self._stored_ids()
        if stored.size == 0 or ids.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        positions = np.clip(np.searchsorted(stored, ids), 0, stored.size - 1)
        return np.asarray(stored[positions] == ids)

    def _tombstone_array(self) -> np.ndarray:
        return np.sort(np.fromiter(self._tombstones, np.int64, len(self._tombstones)))


def _kind_of(index: Any) -> str:
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSWFlat):
            return "hnsw"
        if isinstance(inner, faiss.IndexFlat):
            return "flat"
        return "unknown"
    if isinstance(index, faiss.IndexIVFPQ):
        return "ivfpq"
    return "unknown"


def _describe(index: Any) -> str:
    kind = _kind_of(index)
    if kind == "ivfpq":
        ivf = faiss.extract_index_ivf(index)
        return f"faiss.IndexIVFPQ(nlist={ivf.nlist}, pq={index.pq.M}x{index.pq.nbits}b, IP)"
    inner = "IndexHNSWFlat" if kind == "hnsw" else "IndexFlatIP"
    return f"faiss.IndexIDMap2({inner}, METRIC_INNER_PRODUCT)"


def _ivf_ids(index: Any) -> np.ndarray:
    """Every id stored in an IVF index's lists, (N,) int64 in list order."""
    lists: Any = faiss.extract_index_ivf(index).invlists
    parts = []
    for number in range(lists.nlist):
        size = lists.list_size(number)
        if size:
            pointer = lists.get_ids(number)
            parts.append(faiss.rev_swig_ptr(pointer, size).astype(np.int64).copy())
            lists.release_ids(number, pointer)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _replace_with(target: Path, write: Any) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__

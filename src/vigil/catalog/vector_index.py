"""A persistent approximate-nearest-neighbour index over unit vectors (FAISS HNSW).

Why FAISS HNSW: FAISS is the most used, actively released ANN library; HNSW needs
no training, so frames can be added as they are indexed, and it answers in
milliseconds at a million vectors on two cores (see ``bench/bench_search.py``).
Vectors are unit-norm, so inner product is cosine similarity.

HNSW cannot delete, so removed ids become tombstones (persisted beside the index)
that searches exclude with a FAISS ``IDSelectorNot``; once tombstones pass
``REBUILD_TOMBSTONE_FRACTION`` of the index it is rebuilt from its own stored
vectors. The index is a cache of the catalog, which also stores every vector;
``vigil.catalog.sync`` repairs it after a crash.

Files, all written atomically (temp file + ``os.replace``)::

    <name>.faiss                 the FAISS IndexIDMap2(IndexHNSWFlat)
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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

SearchResult = tuple[np.ndarray, np.ndarray]  # (ids (k,) int64, scores (k,) float32), best first

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


def _empty_result() -> SearchResult:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


class VectorIndex:
    """Inner-product (cosine on unit vectors) search with int64 ids, filters and removal."""

    def __init__(
        self, path: Path | None, dim: int, settings: IndexSettings, *, model_id: str = ""
    ) -> None:
        if dim <= 0:
            raise InvalidInputError(f"dim must be positive, got {dim}")
        _ensure_threads()
        self.path = Path(path) if path is not None else None
        self.dim = dim
        self.settings = settings
        self.model_id = model_id
        self._index = self._empty()
        self._tombstones: set[int] = set()
        self._sorted_ids: np.ndarray | None = np.empty(0, dtype=np.int64)  # cache; None = stale
        self._max_id = -1
        self._dirty = False
        self._lock = threading.RLock()  # FAISS is not safe for a search during an add
        self.read_only = False  # set by open(read_only=True): save() writes nothing

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: Path | None, dim: int, settings: IndexSettings, *, model_id: str = ""
    ) -> VectorIndex:
        """A new empty index; ``save()`` writes it to ``path`` (replacing any file there)."""
        index = cls(path, dim, settings, model_id=model_id)
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
    ) -> VectorIndex:
        """Load the index at ``path``, or start an empty one there if there is none.

        ``read_only``: reconciled with the catalog in memory, never written back.
        """
        index = cls(path, dim, settings, model_id=model_id)
        index.read_only = read_only
        if Path(path).exists():
            index._load()
        else:
            index._dirty = True
        return index

    def _empty(self) -> Any:
        graph = faiss.IndexHNSWFlat(self.dim, self.settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.settings.ef_construction
        graph.hnsw.efSearch = self.settings.ef_search
        return faiss.IndexIDMap2(graph)

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
            index = faiss.read_index(str(index_path))
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
        if not isinstance(index, faiss.IndexIDMap2) or not isinstance(
            faiss.downcast_index(index.index), faiss.IndexHNSWFlat
        ):
            raise VectorIndexError(
                f"vector index {index_path} is a {type(index).__name__}, expected "
                "IndexIDMap2(IndexHNSWFlat); delete it and it is rebuilt from the catalog"
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
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]  # (1, D)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise VectorIndexError(
                f"queries must be ({self.dim},) or (Q, {self.dim}) for this index, "
                f"got shape {queries.shape}"
            )
        if not np.isfinite(queries).all():
            raise InvalidInputError("query vectors contain NaN or infinite values")
        queries = np.ascontiguousarray(queries)
        with self._lock:
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
            if short:
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

    def _graph_search(self, queries: np.ndarray, k: int, selector: Any) -> list[SearchResult]:
        params = faiss.SearchParametersHNSW(efSearch=max(self.settings.ef_search, k))  # type: ignore[attr-defined]
        if selector is not None:
            params.sel = selector
        scores, ids = self._index.search(queries, k, params=params)  # (Q, k) each
        results = []
        for row_ids, row_scores in zip(ids, scores, strict=True):
            keep = row_ids >= 0  # FAISS pads with -1 when fewer vectors qualify
            results.append((row_ids[keep].astype(np.int64), row_scores[keep].astype(np.float32)))
        return results

    def _exact(self, queries: np.ndarray, allowed: np.ndarray, k: int) -> list[SearchResult]:
        vectors = self._index.reconstruct_batch(allowed)  # (A, D)
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
            return np.asarray(self._index.reconstruct_batch(wanted), dtype=np.float32)

    # -- writes ----------------------------------------------------------------------------

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int:
        """Add vectors under their catalog ids; ids already present are skipped.

        Returns how many were added. An id removed earlier and added again replaces
        its old vector (the graph is rebuilt without the old copy first).
        """
        ids_array = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
        vectors = np.asarray(vectors)
        if ids_array.ndim != 1:
            raise InvalidInputError(f"ids must be 1-d, got shape {ids_array.shape}")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise VectorIndexError(
                f"vectors must be (N, {self.dim}) for this index, got shape {vectors.shape}"
            )
        if vectors.shape[0] != ids_array.size:
            raise InvalidInputError(
                f"got {ids_array.size} ids for {vectors.shape[0]} vectors; expected one id each"
            )
        if ids_array.size == 0:
            return 0
        if ids_array.min() < 0:
            raise InvalidInputError("ids must be >= 0")
        if np.unique(ids_array).size != ids_array.size:
            raise InvalidInputError("the same id appears twice in one add")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise InvalidInputError("vectors contain NaN or infinite values")
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

    def _compact(self, removed: set[int]) -> None:
        stored = self._stored_ids()
        keep = stored[~np.isin(stored, np.fromiter(removed, np.int64, len(removed)))]
        fresh = self._empty()
        for start in range(0, keep.size, _REBUILD_CHUNK):
            chunk = keep[start : start + _REBUILD_CHUNK]
            fresh.add_with_ids(self._index.reconstruct_batch(chunk), chunk)
        self._index = fresh
        self._tombstones -= removed
        self._sorted_ids = keep
        self._dirty = True

    def rebuild(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> int:
        """Replace the whole index with the given (ids, vectors) batches; returns the count.

        The old index keeps serving until the new one is complete, and stays if
        building fails (e.g. ``rebuild(catalog.iter_vectors(model_id))``).
        """
        fresh = VectorIndex(None, self.dim, self.settings, model_id=self.model_id)
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
                "kind": "faiss.IndexIDMap2(IndexHNSWFlat, METRIC_INNER_PRODUCT)",
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
            self._sorted_ids = np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
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

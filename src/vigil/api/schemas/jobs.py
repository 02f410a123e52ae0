"""Background jobs: submit, follow, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.api.schemas.common import IdItem, NameItem, StrictIn
from vigil.catalog.api_store import JobRecord, JobStatus


class IndexJobIn(StrictIn):
    sources: list[IdItem | NameItem] = Field(
        default_factory=list,
        max_length=1000,
        description="Source ids or names; empty: every file and folder source.",
    )
    max_frames: int | None = Field(None, ge=1, le=10_000_000)
    max_seconds: float | None = Field(None, gt=0, le=10_000_000)


class AutolabelJobIn(StrictIn):
    """The stored input of an auto-label job: the scenario, resolved by the route."""

    scenario: NameItem
    max_items: int | None = Field(None, ge=1, le=100_000_000)
    relabel: bool = False


class DistillJobIn(StrictIn):
    scenario: NameItem
    version: int | None = Field(None, ge=1, le=1_000_000)


class JobOut(BaseModel):
    id: int
    kind: str
    status: JobStatus
    progress: float = Field(description="0..1")
    message: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            progress=job.progress,
            message=job.message,
            params=job.params,
            result=job.result,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )

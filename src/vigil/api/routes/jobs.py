"""Jobs: long work submitted here runs on worker threads; clients poll its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath
from vigil.api.schemas.jobs import IndexJobIn, JobOut
from vigil.catalog.api_store import JobStatus
from vigil.errors import InvalidInputError
from vigil.sources.types import SourceKind

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


@router.post(
    "/index",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start indexing sources in the background",
)
def start_index(body: IndexJobIn, svc: ServicesDep, _: Admin) -> JobOut:
    # Unknown sources fail now, with a 404, rather than later inside the job.
    targets = [svc.workspace.get_source(s) for s in body.sources]
    unbounded = [s.name for s in targets if s.kind == SourceKind.STREAM]
    if unbounded and body.max_frames is None and body.max_seconds is None:
        raise InvalidInputError(
            f"sources {unbounded} are live streams, which never end: give max_seconds or "
            "max_frames so the job finishes"
        )
    resolved = body.model_copy(update={"sources": [s.id for s in targets]})
    return JobOut.of(svc.jobs.submit("index", resolved))


@router.get("", response_model=list[JobOut], summary="Recent jobs, newest first")
def list_jobs(
    svc: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    status: JobStatus | None = None,
) -> list[JobOut]:
    return [JobOut.of(j) for j in svc.store.list_jobs(limit=limit, status=status)]


@router.get("/{job_id}", response_model=JobOut, summary="One job's status and progress")
def get_job(job_id: IdPath, svc: ServicesDep, _: Reader) -> JobOut:
    return JobOut.of(svc.store.get_job(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Ask a job to stop")
def cancel_job(job_id: IdPath, svc: ServicesDep, _: Admin) -> JobOut:
    return JobOut.of(svc.jobs.cancel(job_id))

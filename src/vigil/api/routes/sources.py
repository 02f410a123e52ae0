"""Sources: register, list with indexing health, remove."""

from __future__ import annotations

from fastapi import APIRouter, status

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath
from vigil.api.schemas.sources import IndexHealthOut, SourceIn, SourceOut
from vigil.sources.locations import parse_location
from vigil.sources.types import Source

router = APIRouter(prefix="/api/v1/sources", tags=["sources"], responses=ERROR_RESPONSES)


def _with_health(svc: ServicesDep, sources: list[Source]) -> list[SourceOut]:
    by_source: dict[int, list[IndexHealthOut]] = {}
    for record in svc.workspace.catalog.list_progress():
        by_source.setdefault(record.source_id, []).append(
            IndexHealthOut(
                model_id=record.model_id,
                status=str(record.status),
                frames_done=record.frames_done,
                updated_at=record.updated_at,
                last_error=record.last_error,
            )
        )
    return [SourceOut.of(s, by_source.get(s.id)) for s in sources]


@router.get("", response_model=list[SourceOut], summary="List sources with indexing health")
def list_sources(svc: ServicesDep, _: Reader) -> list[SourceOut]:
    return _with_health(svc, svc.workspace.list_sources())


@router.get("/{source_id}", response_model=SourceOut, summary="One source")
def get_source(source_id: IdPath, svc: ServicesDep, _: Reader) -> SourceOut:
    return _with_health(svc, [svc.workspace.get_source(source_id)])[0]


@router.post(
    "",
    response_model=SourceOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a video file, image folder or stream",
)
def add_source(body: SourceIn, svc: ServicesDep, _: Admin) -> SourceOut:
    # One parser decides URL or path (unknown schemes refused); every path, file:// URLs
    # included, is resolved and checked against the home and the allowed media folders.
    parsed = parse_location(body.location)
    if parsed.url is not None:
        location = parsed.url
    else:
        assert parsed.path is not None
        location = svc.allowed_location(parsed.path)
    source = svc.workspace.add_source(
        location,
        name=body.name,
        kind=body.kind,
        site=body.site,
        position=body.position,
        metadata=dict(body.metadata),
        check=body.check,
    )
    return SourceOut.of(source)


@router.delete("/{source_id}", response_model=SourceOut, summary="Forget a source and its frames")
def remove_source(source_id: IdPath, svc: ServicesDep, _: Admin) -> SourceOut:
    return SourceOut.of(svc.workspace.remove_source(source_id))

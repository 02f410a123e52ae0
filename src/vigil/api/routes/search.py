"""Search by text, by an uploaded image, or by a frame already indexed; frames by id."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import FileResponse

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdItem, IdPath
from vigil.api.schemas.search import FrameOut, HitOut, MatchOut, SearchOut
from vigil.catalog.objects import get_object
from vigil.errors import InvalidInputError, NotFoundError
from vigil.search.text import MAX_RESULTS
from vigil.search.trust import TrustedResult
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.sources.images import decode_image

router = APIRouter(prefix="/api/v1", tags=["search"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=MAX_RESULTS, description="How many hits.")]
Offset = Annotated[int, Query(ge=0, le=MAX_RESULTS - 1, description="Hits to skip (pagination).")]
SourceFilter = Annotated[
    list[IdItem] | None, Query(description="Only these source ids (repeatable).")
]


def search_filters(
    source: SourceFilter = None,
    site: Annotated[
        list[Annotated[str, Query(max_length=200, pattern=NO_CONTROL)]] | None,
        Query(description="Only sources at these sites (repeatable)."),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Captured at or after (ISO 8601 with zone).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Captured at or before (ISO 8601 with zone).")
    ] = None,
    class_name: Annotated[
        list[Annotated[str, Query(max_length=100, pattern=NO_CONTROL)]] | None,
        Query(alias="class", description="Objects of these COCO classes only (repeatable)."),
    ] = None,
    min_score: Annotated[
        float | None, Query(ge=0.0, le=1.0, description="Minimum detector score (objects).")
    ] = None,
) -> SearchFilters:
    return SearchFilters(
        sources=tuple(source) if source else None,
        sites=tuple(site) if site else None,
        since=since,
        until=until,
        classes=tuple(class_name) if class_name else None,
        min_detection_score=min_score,
    )


Filters = Annotated[SearchFilters, Depends(search_filters)]
TargetQuery = Annotated[Target, Query(description="Rank whole frames or detected objects.")]


def _answer(svc: ServicesDep, query: str, started: float, hits: list[SearchHit]) -> SearchOut:
    return SearchOut(
        query=query,
        model_id=svc.workspace.embedder.model_id,
        seconds=round(time.perf_counter() - started, 4),
        hits=[HitOut.of(h) for h in hits],
    )


def _trusted_answer(
    svc: ServicesDep, query: str, started: float, result: TrustedResult
) -> SearchOut:
    return SearchOut(
        query=query,
        model_id=svc.workspace.embedder.model_id,
        seconds=round(time.perf_counter() - started, 4),
        hits=[HitOut.trusted(found) for found in result.hits],
        confident=result.confident,
        message=result.headline(),
        semantic_query=result.semantic_query,
        predicates=result.predicates,
        unknown_words=result.unknown_words,
        notes=result.notes,
    )


def _check_sources(svc: ServicesDep, filters: SearchFilters) -> None:
    for source_id in filters.sources or ():
        svc.workspace.get_source(source_id)  # unknown ids: 404, not an empty page


@router.get("/search", response_model=SearchOut, summary="Search frames or objects with words")
def search_text(
    svc: ServicesDep,
    _: Reader,
    q: Annotated[
        str,
        Query(min_length=1, max_length=500, pattern=NO_CONTROL, description="What to look for."),
    ],
    filters: Filters,
    limit: Limit = 24,
    offset: Offset = 0,
    target: TargetQuery = Target.FRAMES,
) -> SearchOut:
    started = time.perf_counter()
    _check_sources(svc, filters)
    result = svc.workspace.archive.search_trusted(
        q, limit=limit, offset=offset, target=target, filters=filters
    )
    return _trusted_answer(svc, q, started, result)


@router.post(
    "/search/image",
    response_model=SearchOut,
    summary="Search frames or objects that look like a picture",
)
def search_image(
    svc: ServicesDep,
    _: Reader,
    file: Annotated[UploadFile, File(description="A JPEG/PNG/WebP/BMP picture.")],
    filters: Filters,
    limit: Limit = 24,
    offset: Offset = 0,
    target: TargetQuery = Target.FRAMES,
) -> SearchOut:
    started = time.perf_counter()
    data = file.file.read()
    if not data:
        raise InvalidInputError("the uploaded file is empty; expected a JPEG or PNG image")
    # The one guarded decoder: the declared size is checked before pixels are allocated.
    image = decode_image(data, what=f"the upload ({file.content_type or 'unknown type'})")
    _check_sources(svc, filters)
    result = svc.workspace.archive.search_trusted(
        image, limit=limit, offset=offset, target=target, filters=filters
    )
    return _trusted_answer(svc, "image upload", started, result)


@router.get(
    "/search/similar/{frame_id}",
    response_model=SearchOut,
    summary="More like this: frames similar to an indexed frame",
)
def search_similar(
    frame_id: IdPath,
    svc: ServicesDep,
    _: Reader,
    filters: Filters,
    limit: Limit = 24,
    offset: Offset = 0,
) -> SearchOut:
    started = time.perf_counter()
    _check_sources(svc, filters)
    hits = svc.workspace.more_like(frame_id=frame_id, limit=limit, offset=offset, filters=filters)
    return _answer(svc, f"frame {frame_id}", started, hits)


@router.get(
    "/search/similar-object/{object_id}",
    response_model=SearchOut,
    summary="More like this: objects similar to a detected object",
)
def search_similar_object(
    object_id: IdPath,
    svc: ServicesDep,
    _: Reader,
    filters: Filters,
    limit: Limit = 24,
    offset: Offset = 0,
) -> SearchOut:
    started = time.perf_counter()
    _check_sources(svc, filters)
    hits = svc.workspace.more_like(object_id=object_id, limit=limit, offset=offset, filters=filters)
    return _answer(svc, f"object {object_id}", started, hits)


@router.get(
    "/objects/{object_id}/matches",
    response_model=list[MatchOut],
    summary="The same-looking object on other cameras, ordered by time",
)
def object_matches(
    object_id: IdPath, svc: ServicesDep, _: Reader, filters: Filters, limit: Limit = 10
) -> list[MatchOut]:
    _check_sources(svc, filters)
    matches = svc.workspace.match_object(object_id, limit=limit, filters=filters)
    return [MatchOut.of(match) for match in matches]


@router.get(
    "/objects/{object_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="An object's crop thumbnail (by id)",
)
def object_thumbnail(object_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    obj = get_object(svc.workspace.catalog, object_id)
    path = svc.inside_home(obj.thumbnail_path)
    if not path.is_file():
        raise NotFoundError(f"crop thumbnail of object {object_id} is missing from the workspace")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get("/frames/{frame_id}", response_model=FrameOut, summary="One frame's record")
def get_frame(frame_id: IdPath, svc: ServicesDep, _: Reader) -> FrameOut:
    frame = svc.workspace.catalog.get_frame(frame_id)
    return FrameOut(
        id=frame.id,
        source_id=frame.source_id,
        frame_index=frame.frame_index,
        media_time=frame.media_time,
        captured_at=frame.captured_at,
        width=frame.width,
        height=frame.height,
        thumbnail_url=f"/api/v1/frames/{frame.id}/thumbnail",
    )


@router.get(
    "/frames/{frame_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A frame's stored thumbnail (by id; paths never come from the client)",
)
def frame_thumbnail(frame_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    frame = svc.workspace.catalog.get_frame(frame_id)
    path = svc.inside_home(frame.thumbnail_path)
    if not path.is_file():
        raise NotFoundError(f"thumbnail of frame {frame_id} is missing from the workspace")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

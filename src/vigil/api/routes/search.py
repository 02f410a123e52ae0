"""Search by text, by an uploaded image, or by a frame already indexed; frames by id."""

from __future__ import annotations

import time
from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import FileResponse

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdItem, IdPath
from vigil.api.schemas.search import FrameOut, HitOut, SearchOut
from vigil.errors import InvalidInputError, NotFoundError
from vigil.search.text import MAX_RESULTS, search_by_vector
from vigil.search.types import SearchHit

router = APIRouter(prefix="/api/v1", tags=["search"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=MAX_RESULTS, description="How many hits.")]
SourceFilter = Annotated[
    list[IdItem] | None, Query(description="Only these source ids (repeatable).")
]


class UnsupportedImageError(InvalidInputError):
    """The upload is not an image the decoder understands (answered with 415)."""


def _vector_search(
    svc: ServicesDep, vector: np.ndarray, limit: int, sources: list[int] | None
) -> list[SearchHit]:
    workspace = svc.workspace
    return search_by_vector(
        vector,
        catalog=workspace.catalog,
        vector_index=workspace.vector_index,
        model_id=workspace.embedder.model_id,
        limit=limit,
        source_ids=[workspace.get_source(s).id for s in sources] if sources else None,
    )


def _answer(svc: ServicesDep, query: str, started: float, hits: list[SearchHit]) -> SearchOut:
    return SearchOut(
        query=query,
        model_id=svc.workspace.embedder.model_id,
        seconds=round(time.perf_counter() - started, 4),
        hits=[HitOut.of(h) for h in hits],
    )


@router.get("/search", response_model=SearchOut, summary="Search frames with plain words")
def search_text(
    svc: ServicesDep,
    _: Reader,
    q: Annotated[
        str,
        Query(min_length=1, max_length=500, pattern=NO_CONTROL, description="What to look for."),
    ],
    limit: Limit = 24,
    source: SourceFilter = None,
) -> SearchOut:
    started = time.perf_counter()
    hits = svc.workspace.search(q, limit=limit, sources=source or None)
    return _answer(svc, q, started, hits)


@router.post(
    "/search/image", response_model=SearchOut, summary="Search frames that look like a picture"
)
def search_image(
    svc: ServicesDep,
    _: Reader,
    file: Annotated[UploadFile, File(description="A JPEG/PNG/WebP/BMP picture.")],
    limit: Limit = 24,
    source: SourceFilter = None,
) -> SearchOut:
    started = time.perf_counter()
    data = file.file.read()
    if not data:
        raise InvalidInputError("the uploaded file is empty; expected a JPEG or PNG image")
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise UnsupportedImageError(
            f"the upload ({file.content_type or 'unknown type'}, {len(data)} bytes) is not an "
            "image the decoder understands; expected JPEG, PNG, WebP or BMP"
        )
    image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)  # (H, W, 3) uint8 RGB
    vector = svc.workspace.embedder.embed_images([image])[0]
    return _answer(svc, "image upload", started, _vector_search(svc, vector, limit, source))


@router.get(
    "/search/similar/{frame_id}",
    response_model=SearchOut,
    summary="More like this: frames similar to an indexed frame",
)
def search_similar(
    frame_id: IdPath, svc: ServicesDep, _: Reader, limit: Limit = 24, source: SourceFilter = None
) -> SearchOut:
    started = time.perf_counter()
    workspace = svc.workspace
    embedding_id = svc.store.frame_embedding_id(frame_id, workspace.embedder.model_id)
    vector = workspace.vector_index.reconstruct([embedding_id])[0]
    hits = _vector_search(svc, vector, limit, source)
    return _answer(svc, f"frame {frame_id}", started, hits)


@router.get("/frames/{frame_id}", response_model=FrameOut, summary="One frame's record")
def get_frame(frame_id: IdPath, svc: ServicesDep, _: Reader) -> FrameOut:
    frame = svc.store.frame(frame_id)
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
    frame = svc.store.frame(frame_id)
    path = svc.inside_home(frame.thumbnail_path)
    if not path.is_file():
        raise NotFoundError(f"thumbnail of frame {frame_id} is missing from the workspace")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

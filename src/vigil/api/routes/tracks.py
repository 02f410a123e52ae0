"""Tracks of a source, search by words (one hit per tracked object), cross-camera matches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdPath
from vigil.api.schemas.tracks import TrackHitOut, TrackOut
from vigil.errors import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["tracks"], responses=ERROR_RESPONSES)

Label = Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_CONTROL)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/tracks", response_model=list[TrackOut], summary="Tracks of a source, in time order")
def tracks(
    svc: ServicesDep,
    _: Reader,
    source: Annotated[int, Query(ge=1, le=2**63 - 1)],
    class_name: Label = None,
    limit: Limit = 100,
) -> list[TrackOut]:
    rows = svc.workspace.tracks.of(source, label=class_name, limit=limit)
    return [TrackOut.of(t) for t in rows]


@router.get("/tracks/search", response_model=list[TrackHitOut], summary="Tracks for words")
def tracks_search(
    svc: ServicesDep,
    _: Reader,
    q: Annotated[str, Query(min_length=1, max_length=500, pattern=NO_CONTROL)],
    class_name: Label = None,
    limit: Limit = 10,
) -> list[TrackHitOut]:
    hits = svc.workspace.tracks.search(q, limit=limit, label=class_name)
    return [TrackHitOut.of(h) for h in hits]


@router.get("/tracks/{track_id}", response_model=TrackOut, summary="One track")
def track(track_id: IdPath, svc: ServicesDep, _: Reader) -> TrackOut:
    return TrackOut.of(svc.workspace.tracks.get(track_id))


@router.get(
    "/tracks/{track_id}/matches",
    response_model=list[TrackHitOut],
    summary="The same-looking track on other sources (vector + colours)",
)
def track_matches(
    track_id: IdPath, svc: ServicesDep, _: Reader, limit: Limit = 10
) -> list[TrackHitOut]:
    hits = svc.workspace.tracks.match(track_id, limit=limit)
    return [TrackHitOut.of(h) for h in hits]


@router.get(
    "/tracks/{track_id}/crop",
    response_class=FileResponse,
    summary="The track's best crop (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def track_crop(track_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    path = svc.workspace.home / svc.workspace.tracks.get(track_id).thumbnail_path
    if not path.is_file():
        raise NotFoundError(f"the crop of track {track_id} is missing")
    return FileResponse(path, media_type="image/jpeg")

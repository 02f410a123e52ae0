"""Zones drawn on a source, the pictures of its tracks, and the site plan with its cameras."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import cv2
from fastapi import APIRouter, File, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath
from vigil.errors import NotFoundError, VigilError
from vigil.tracks.site import DEFAULT_MIN_SCORE, DEFAULT_WINDOW_S
from vigil.tracks.zones import ZoneSet

router = APIRouter(prefix="/api/v1", tags=["zones and site"], responses=ERROR_RESPONSES)

PlanName = Annotated[
    str,
    PathParam(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$", description="Plan name."),
]
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}


class CameraIn(BaseModel):
    x: float = Field(ge=0, le=100_000, description="Plan pixels from the left.")
    y: float = Field(ge=0, le=100_000, description="Plan pixels from the top.")
    direction_deg: float = Field(0.0, ge=-360, le=720, description="0 = right, 90 = down.")


def _jpeg(image: Any) -> Response:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VigilError("could not encode the image")
    return Response(encoded.tobytes(), media_type="image/jpeg")


@router.get(
    "/sources/{source_id}/background",
    response_class=Response,
    responses=JPEG,
    summary="A frame of the source to draw zones on (JPEG, full size)",
)
def background(source_id: IdPath, svc: ServicesDep, _: Reader) -> Response:
    return _jpeg(svc.workspace.tracks.background(source_id))


@router.get(
    "/sources/{source_id}/tracks/plot",
    response_class=Response,
    responses=PNG,
    summary="Presence heatmap, trajectories and counts over time of the source's tracks (PNG)",
)
def tracks_plot(source_id: IdPath, svc: ServicesDep, _: Reader) -> Response:
    with tempfile.TemporaryDirectory() as folder:
        path = svc.workspace.tracks.plot(source_id, Path(folder) / "tracks.png")
        return Response(path.read_bytes(), media_type="image/png")


@router.get("/sources/{source_id}/zones", response_model=ZoneSet, summary="The source's zones")
def get_zones(source_id: IdPath, svc: ServicesDep, _: Reader) -> ZoneSet:
    found = svc.workspace.tracks.stored_zones(source_id)
    if found is None:
        raise NotFoundError(f"source {source_id} has no zones yet")
    return found


@router.put(
    "/sources/{source_id}/zones",
    response_model=ZoneSet,
    summary="Replace the source's zones and lines (checked against its frame size)",
)
def put_zones(source_id: IdPath, body: ZoneSet, svc: ServicesDep, _: Admin) -> ZoneSet:
    return svc.workspace.tracks.save_zones(source_id, body)


@router.delete("/sources/{source_id}/zones", status_code=204, summary="Forget the source's zones")
def delete_zones(source_id: IdPath, svc: ServicesDep, _: Admin) -> Response:
    if not svc.workspace.tracks.delete_zones(source_id):
        raise NotFoundError(f"source {source_id} has no zones")
    return Response(status_code=204)


@router.post(
    "/sources/{source_id}/zones/count",
    summary="Counts, dwell and zone events over the source's tracks (events stored once)",
)
def count_zones(source_id: IdPath, svc: ServicesDep, _: Admin) -> dict[str, Any]:
    return svc.workspace.tracks.zones(source_id).to_dict()


@router.get("/site/plans", summary="Names of the site plans")
def plans(svc: ServicesDep, _: Reader) -> list[str]:
    return svc.workspace.tracks.plans()


@router.put("/site/plans/{name}", summary="Upload (or replace) a site's plan image")
def put_plan(
    name: PlanName,
    svc: ServicesDep,
    _: Admin,
    file: Annotated[UploadFile, File(description="The floor plan or map: JPEG/PNG.")],
) -> dict[str, Any]:
    plan = svc.workspace.tracks.set_plan(name, file.file.read())
    return svc.workspace.tracks.site(plan.name).to_dict()


@router.get("/site/plans/{name}", summary="Cameras on the plan, their counts and handovers")
def get_plan(
    name: PlanName,
    svc: ServicesDep,
    _: Reader,
    min_score: Annotated[float, Query(gt=0, le=1)] = DEFAULT_MIN_SCORE,
    window_s: Annotated[float, Query(gt=0, le=86_400)] = DEFAULT_WINDOW_S,
) -> dict[str, Any]:
    return svc.workspace.tracks.site(name, min_score=min_score, window_s=window_s).to_dict()


@router.get(
    "/site/plans/{name}/image",
    response_class=FileResponse,
    responses=JPEG,
    summary="The plan image as uploaded (scaled to at most 2400 px)",
)
def plan_image(name: PlanName, svc: ServicesDep, _: Reader) -> FileResponse:
    plan = svc.workspace.tracks.plan(name)
    path = svc.workspace.home / plan.image_path
    if not path.is_file():
        raise NotFoundError(f"the image of plan {name!r} is missing")
    return FileResponse(path, media_type="image/jpeg")


@router.put("/site/plans/{name}/cameras/{source_id}", summary="Place a source's camera on the plan")
def put_camera(
    name: PlanName, source_id: IdPath, body: CameraIn, svc: ServicesDep, _: Admin
) -> dict[str, Any]:
    svc.workspace.tracks.place(name, source_id, body.x, body.y, body.direction_deg)
    return svc.workspace.tracks.site(name).to_dict()


@router.delete(
    "/site/plans/{name}/cameras/{source_id}", summary="Take a source's camera off the plan"
)
def delete_camera(name: PlanName, source_id: IdPath, svc: ServicesDep, _: Admin) -> dict[str, Any]:
    svc.workspace.tracks.unplace(name, source_id)
    return svc.workspace.tracks.site(name).to_dict()

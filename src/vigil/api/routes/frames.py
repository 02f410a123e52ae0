"""A frame looked at closely: its record with the objects on it, the original pixels, and
a short clip around it (the console's large view and review page); the classes detected."""

from __future__ import annotations

import io
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response
from PIL import Image

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath
from vigil.api.schemas.frames import ClassCountOut, FrameViewOut
from vigil.catalog.objects import count_objects, frame_scanned, get_object, objects_on_frame
from vigil.catalog.types import FrameRecord
from vigil.errors import NotFoundError
from vigil.sources.clips import MAX_CLIP_SECONDS, ClipWindow, read_frame
from vigil.sources.images import read_image
from vigil.sources.types import Source, SourceKind

router = APIRouter(prefix="/api/v1", tags=["search"], responses=ERROR_RESPONSES)

JPEG_QUALITY = 90
ClipSeconds = Annotated[float, Query(ge=0.0, le=MAX_CLIP_SECONDS)]


def _frame_and_source(svc: ServicesDep, frame_id: int) -> tuple[FrameRecord, Source]:
    frame = svc.workspace.catalog.get_frame(frame_id)
    return frame, svc.workspace.catalog.get_source(frame.source_id)


@router.get(
    "/frames/{frame_id}/view",
    response_model=FrameViewOut,
    summary="A frame for a close look: camera, times, detected objects, image and clip URLs",
)
def frame_view(frame_id: IdPath, svc: ServicesDep, _: Reader) -> FrameViewOut:
    frame, source = _frame_and_source(svc, frame_id)
    objects = objects_on_frame(svc.workspace.catalog, frame_id)
    scanned = frame_scanned(svc.workspace.catalog, frame_id)
    return FrameViewOut.of(frame, source, objects, scanned=scanned)


@router.get(
    "/objects/{object_id}/view",
    response_model=FrameViewOut,
    summary="The frame an object was detected on, as /frames/{id}/view, the object first",
)
def object_view(object_id: IdPath, svc: ServicesDep, _: Reader) -> FrameViewOut:
    obj = get_object(svc.workspace.catalog, object_id)
    frame, source = _frame_and_source(svc, obj.frame_id)
    others = [o for o in objects_on_frame(svc.workspace.catalog, obj.frame_id) if o.id != obj.id]
    return FrameViewOut.of(frame, source, [obj, *others], scanned=True)


@router.get(
    "/objects/classes",
    response_model=list[ClassCountOut],
    summary="Detected object classes with how many objects of each (for class filters)",
)
def object_classes(svc: ServicesDep, _: Reader) -> list[ClassCountOut]:
    counts = count_objects(svc.workspace.catalog)
    return [
        ClassCountOut(name=name, count=count)
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


@router.get(
    "/frames/{frame_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A frame at full resolution, decoded again from its source (thumbnail for streams)",
)
async def frame_image(frame_id: IdPath, svc: ServicesDep, _: Reader) -> Response:
    frame, source = _frame_and_source(svc, frame_id)

    def encode() -> bytes:
        if source.kind == SourceKind.STREAM:  # cannot be read again: the best there is
            pixels = read_image(svc.inside_home(frame.thumbnail_path), what="the thumbnail")
        else:
            pixels = read_frame(source, frame_index=frame.frame_index, media_time=frame.media_time)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()

    data = await anyio.to_thread.run_sync(encode)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get(
    "/frames/{frame_id}/clip",
    response_class=FileResponse,
    responses={200: {"content": {"video/webm": {}}}},
    summary="A short WebM clip around a frame of a video file (cut once, then cached)",
)
async def frame_clip(
    frame_id: IdPath,
    svc: ServicesDep,
    _: Reader,
    before_s: ClipSeconds = 2.0,
    after_s: ClipSeconds = 2.0,
) -> FileResponse:
    """422 for frames of image folders and live streams (nothing to cut), and for a window
    longer than the cap; 404 for an unknown frame."""
    frame, source = _frame_and_source(svc, frame_id)
    window = ClipWindow(before_s=before_s, after_s=after_s)

    def cut() -> FileResponse:
        path = svc.clips.clip(
            source, key=f"frame-{frame.id}", media_time=frame.media_time, window=window
        )
        if not path.is_file():  # trimmed by a concurrent request between cut and send
            raise NotFoundError(f"the clip of frame {frame_id} was evicted; ask again")
        return FileResponse(
            path, media_type="video/webm", headers={"Cache-Control": "max-age=3600"}
        )

    return await anyio.to_thread.run_sync(cut)

"""A frame looked at closely (the console's large view and review page)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.api.schemas.search import ObjectOut
from vigil.catalog.objects import ObjectRecord
from vigil.catalog.types import FrameRecord
from vigil.sources.types import Source, SourceKind


class FrameViewOut(BaseModel):
    id: int
    source_id: int
    source: str = Field(description="The camera: the source's name.")
    kind: str = Field(description="video, images or stream.")
    frame_index: int
    media_time: float = Field(description="Seconds from the start of the media.")
    captured_at: datetime | None = Field(
        description="Wall-clock capture time when the source says it (stream, EXIF, file date)."
    )
    width: int = Field(description="Full-resolution width in pixels (the boxes' frame).")
    height: int
    objects: list[ObjectOut] = Field(description="Detected objects, best score first.")
    scanned: bool = Field(
        description="Whether the object pass has looked at this frame (no objects: none found)."
    )
    thumbnail_url: str
    image_url: str = Field(description="The frame at full resolution (JPEG).")
    clip_url: str | None = Field(description="A few seconds around it (WebM); video files only.")

    @classmethod
    def of(
        cls, frame: FrameRecord, source: Source, objects: list[ObjectRecord], *, scanned: bool
    ) -> FrameViewOut:
        return cls(
            id=frame.id,
            source_id=source.id,
            source=source.name,
            kind=str(source.kind),
            frame_index=frame.frame_index,
            media_time=frame.media_time,
            captured_at=frame.captured_at,
            width=frame.width,
            height=frame.height,
            objects=[ObjectOut.of(obj) for obj in objects],
            scanned=scanned or bool(objects),
            thumbnail_url=f"/api/v1/frames/{frame.id}/thumbnail",
            image_url=f"/api/v1/frames/{frame.id}/image",
            clip_url=f"/api/v1/frames/{frame.id}/clip" if source.kind == SourceKind.VIDEO else None,
        )


class ClassCountOut(BaseModel):
    name: str = Field(description="COCO class from the detector.")
    count: int = Field(description="Objects of this class in the catalog.")

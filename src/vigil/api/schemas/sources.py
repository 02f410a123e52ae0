"""Sources: cameras and archives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.api.schemas.common import NO_CONTROL, MetaKey, MetaText, StrictIn
from vigil.sources.types import Source, SourceKind


class SourceIn(StrictIn):
    location: str = Field(
        min_length=1,
        pattern=NO_CONTROL,
        max_length=4096,
        description="Video file or image folder inside the workspace home or an allowed "
        "media folder, or an rtsp/http stream URL.",
    )
    name: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    kind: SourceKind | None = None
    site: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    position: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    metadata: dict[MetaKey, MetaText | int | float | bool | None] = Field(
        default_factory=dict, max_length=100
    )
    check: bool = Field(True, description="Open the source before registering it.")


class IndexHealthOut(BaseModel):
    model_id: str
    status: str
    frames_done: int
    updated_at: datetime
    last_error: str | None


class SourceOut(BaseModel):
    id: int
    name: str
    kind: SourceKind
    location: str
    site: str | None
    position: str | None
    metadata: dict[str, Any]
    created_at: datetime | None
    health: list[IndexHealthOut] = Field(
        default_factory=list, description="Indexing state per model (empty: never indexed)."
    )

    @classmethod
    def of(cls, source: Source, health: list[IndexHealthOut] | None = None) -> SourceOut:
        return cls(
            id=source.id,
            name=source.name,
            kind=source.kind,
            location=source.location,
            site=source.site,
            position=source.position,
            metadata=dict(source.metadata),
            created_at=source.created_at,
            health=health or [],
        )

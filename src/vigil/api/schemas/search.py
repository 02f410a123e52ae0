"""Search: by text, by uploaded image, by a frame already indexed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.search.types import SearchHit


class HitOut(BaseModel):
    rank: int
    score: float = Field(description="Cosine similarity, -1..1.")
    frame_id: int
    source_id: int
    source: str
    media_time: float
    frame_index: int
    captured_at: datetime | None
    thumbnail_url: str = Field(description="Served by frame id, never by file path.")

    @classmethod
    def of(cls, hit: SearchHit) -> HitOut:
        return cls(
            rank=hit.rank,
            score=round(hit.score, 5),
            frame_id=hit.frame.id,
            source_id=hit.source.id,
            source=hit.source.name,
            media_time=hit.frame.media_time,
            frame_index=hit.frame.frame_index,
            captured_at=hit.frame.captured_at,
            thumbnail_url=f"/api/v1/frames/{hit.frame.id}/thumbnail",
        )


class SearchOut(BaseModel):
    query: str = Field(description="The text, 'image upload', or 'frame N'.")
    model_id: str
    seconds: float
    hits: list[HitOut]


class FrameOut(BaseModel):
    id: int
    source_id: int
    frame_index: int
    media_time: float
    captured_at: datetime | None
    width: int
    height: int
    thumbnail_url: str

"""Tracks: one record per tracked object, and ranked tracks for a query or a match."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.catalog.tracks_store import TrackRecord
from vigil.tracks.search import TrackHit


class TrackOut(BaseModel):
    id: int
    source_id: int
    label: str
    mean_score: float
    observations: int
    first_media_time: float
    last_media_time: float
    first_captured_at: datetime | None
    last_captured_at: datetime | None
    frame_wh: tuple[int, int]
    trajectory: list[list[float]] = Field(
        description="[media time, x1, y1, x2, y2] in frame pixels, downsampled."
    )
    best_box: list[float]
    colours: dict[str, Any]
    speed_px_s: float
    direction_deg: float | None = Field(description="0 = right, 90 = down the image.")
    crop_url: str

    @classmethod
    def of(cls, track: TrackRecord) -> TrackOut:
        data = track.to_dict()
        data.pop("thumbnail_path")
        data.pop("best_media_time")
        return cls(**data, crop_url=f"/api/v1/tracks/{track.id}/crop")


class TrackHitOut(BaseModel):
    rank: int
    score: float
    source: str
    track: TrackOut
    appearance: float | None = None
    combined: float | None = None

    @classmethod
    def of(cls, hit: TrackHit) -> TrackHitOut:
        return cls(
            rank=hit.rank,
            score=hit.score,
            source=hit.source.name,
            track=TrackOut.of(hit.track),
            appearance=hit.appearance,
            combined=hit.combined,
        )

"""Search: by text, by uploaded image, by a frame already indexed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.catalog.objects import ObjectRecord
from vigil.search.matching import ObjectMatch
from vigil.search.trust import TrustedHit
from vigil.search.types import SearchHit


class ObjectOut(BaseModel):
    id: int
    label: str = Field(description="COCO class from the detector.")
    score: float = Field(description="Detector confidence, 0..1.")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels.")
    thumbnail_url: str

    @classmethod
    def of(cls, obj: ObjectRecord) -> ObjectOut:
        return cls(
            id=obj.id,
            label=obj.label,
            score=round(obj.score, 4),
            box=obj.xyxy,
            thumbnail_url=f"/api/v1/objects/{obj.id}/thumbnail",
        )


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
    object: ObjectOut | None = Field(None, description="The object, for object searches.")
    confidence: float | None = Field(
        None,
        description=(
            "Calibrated chance, 0..1, that this item shows what was asked (text and image "
            "searches); comparable across queries, unlike the cosine."
        ),
    )
    why: dict[str, Any] | None = Field(
        None,
        description=(
            "What made the score: concepts with their share of the cosine, detected classes, "
            "colour/brightness attributes, and each parsed predicate with its factor."
        ),
    )

    @classmethod
    def trusted(cls, found: TrustedHit) -> HitOut:
        return cls.of(found.hit).model_copy(
            update={"confidence": found.confidence, "why": found.why.to_dict()}
        )

    @classmethod
    def of(cls, hit: SearchHit) -> HitOut:
        return cls(
            object=ObjectOut.of(hit.object) if hit.object is not None else None,
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


class MatchOut(BaseModel):
    hit: HitOut
    appearance: float = Field(description="Colour-histogram similarity of the crops, 0..1.")
    combined: float = Field(description="What matches are chosen by (semantic + appearance).")

    @classmethod
    def of(cls, match: ObjectMatch) -> MatchOut:
        return cls(
            hit=HitOut.of(match.hit),
            appearance=round(match.appearance, 5),
            combined=round(match.combined, 5),
        )


class SearchOut(BaseModel):
    query: str = Field(description="The text, 'image upload', or 'frame N'.")
    model_id: str
    seconds: float
    hits: list[HitOut]
    confident: bool | None = Field(
        None,
        description=(
            "Whether anything matches confidently (best hit's confidence >= 0.5). False: the "
            "hits are only the nearest items. None for more-like-this searches."
        ),
    )
    message: str | None = Field(
        None, description="One line, e.g. \"no confident match for 'a dog'; nearest: ...\"."
    )
    semantic_query: str | None = Field(
        None, description="The words that were embedded, after counts/colours/time were parsed."
    )
    predicates: list[str] = Field(
        default_factory=list, description="Parsed counts, colours, negation and time of day."
    )
    unknown_words: list[str] = Field(
        default_factory=list, description="Query words the model has no concept for."
    )
    notes: list[str] = Field(
        default_factory=list, description="Unknown words, contradictions, ignored parts."
    )


class FrameOut(BaseModel):
    id: int
    source_id: int
    frame_index: int
    media_time: float
    captured_at: datetime | None
    width: int
    height: int
    thumbnail_url: str

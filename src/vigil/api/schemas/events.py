"""Events raised by runners, their evidence and alert deliveries; runner status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from vigil.api.schemas.common import NO_CONTROL, IdItem, NameItem, StrictIn
from vigil.catalog.feedback_store import FeedbackRecord
from vigil.runtime.types import DeliveryRecord, EventRecord


class EventOut(BaseModel):
    id: int
    source_id: int
    source: str
    model_id: str
    model_version: str | None = Field(
        None, description="The registry model that raised it (None: a file or zero-shot)."
    )
    registry_model_id: int | None = None
    scenario: str
    class_name: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    last_seen_at: datetime
    peak_score: float
    peak_at: datetime
    frames: int
    thumbnail_url: str | None = Field(description="Evidence frame at the peak, by event id.")
    strip_url: str | None = Field(description="Evidence strip around the peak, by event id.")
    heatmap_url: str | None = Field(
        None, description="Anomaly models: the anomaly heatmap over the peak frame, by event id."
    )
    details: dict[str, Any]
    reviewed_at: datetime | None = Field(
        None, description="Triage: when an operator marked the event reviewed (null: not yet)."
    )
    reviewed_by: str | None = Field(None, description="Who marked it, when known.")

    @classmethod
    def of(cls, event: EventRecord) -> EventOut:
        base = f"/api/v1/events/{event.id}"
        return cls(
            id=event.id,
            source_id=event.source_id,
            source=event.source_name,
            model_id=event.model_id,
            model_version=event.model_version,
            registry_model_id=event.registry_model_id,
            scenario=event.scenario,
            class_name=event.class_name,
            status=event.status,
            started_at=event.started_at,
            ended_at=event.ended_at,
            last_seen_at=event.last_seen_at,
            peak_score=round(event.peak_score, 5),
            peak_at=event.peak_at,
            frames=event.frames,
            thumbnail_url=f"{base}/thumbnail" if event.thumbnail_path else None,
            strip_url=f"{base}/strip" if event.strip_path else None,
            heatmap_url=f"{base}/heatmap"
            if event.details.get("evidence", {}).get("heatmap")
            else None,
            details=event.details,
            reviewed_at=event.reviewed_at,
            reviewed_by=event.reviewed_by,
        )


class EventReviewIn(StrictIn):
    """Triage: mark an event reviewed (true) or back to unreviewed (false)."""

    reviewed: bool
    by: str | None = Field(
        None, min_length=1, max_length=200, pattern=NO_CONTROL, description="Reviewer's name."
    )


class DeliveryOut(BaseModel):
    id: int
    kind: str
    target: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=delivery.id,
            kind=delivery.kind,
            # Webhook URLs can carry tokens in their query: only scheme, host and path leave.
            target=delivery.target.split("?", 1)[0],
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
        )


class EventDetailOut(EventOut):
    deliveries: list[DeliveryOut]
    feedback: FeedbackOut | None = None


class RunJobIn(StrictIn):
    models: list[Annotated[str, Field(min_length=1, max_length=500, pattern=NO_CONTROL)]] = Field(
        min_length=1,
        max_length=16,
        description="'scenario:NAME', a registry id, or an ONNX file inside the workspace.",
    )
    sources: list[IdItem | NameItem] = Field(min_length=1, max_length=64)
    classes: list[NameItem] = Field(default_factory=list, max_length=100)
    duration_s: float = Field(60.0, gt=0, le=7 * 24 * 3600, description="Stop after this long.")
    realtime: bool = Field(False, description="Drop frames to keep up (live streams).")
    threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Score that starts an event (default: the scenario's alert_threshold).",
    )


class FeedbackIn(StrictIn):
    """A verdict on an event: ``confirm``, or the ``label`` it really shows."""

    label: str | None = Field(
        None, min_length=1, max_length=200, pattern=NO_CONTROL, description="A correction."
    )
    confirm: bool = Field(False, description="The event's class was right.")
    replace: bool = Field(False, description="Replace an earlier verdict on this event.")
    annotator: str | None = Field(None, min_length=1, max_length=100, pattern=NO_CONTROL)


class HitFeedbackIn(StrictIn):
    """'Label this as ...' on a search hit."""

    item: str = Field(
        pattern=r"^(frame|object):\d{1,18}$", description="'frame:ID' or 'object:ID'."
    )
    label: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL)
    annotator: str | None = Field(None, min_length=1, max_length=100, pattern=NO_CONTROL)


class FeedbackOut(BaseModel):
    id: int
    event_id: int | None
    scenario: str
    item: str = Field(description="The labeled item, 'frame:ID' or 'object:ID'.")
    verdict: str = Field(description="confirmed or corrected")
    label: str
    predicted: str | None = Field(description="The event's class, when on an event.")
    model_id: str | None
    model_version: str | None = Field(description="The registry model that raised the event.")
    origin: str = Field(description="event or search")
    annotator: str
    created_at: datetime

    @classmethod
    def of(cls, record: FeedbackRecord) -> FeedbackOut:
        return cls(**record.to_dict())


class RunnerOut(BaseModel):
    job_id: int
    sources: list[dict[str, Any]]

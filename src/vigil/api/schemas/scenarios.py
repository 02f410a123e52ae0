"""Scenarios, auto-label jobs, the review queue and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.api.schemas.common import NO_CONTROL, StrictIn
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec, spec_to_yaml
from vigil.scenarios.types import ReviewItem


class ScenarioSummaryOut(BaseModel):
    name: str
    version: int
    versions: int
    classes: list[str]
    target: str
    created_at: datetime

    @classmethod
    def of(cls, record: ScenarioRecord) -> ScenarioSummaryOut:
        return cls(
            name=record.name,
            version=record.version,
            versions=record.versions,
            classes=list(record.spec.class_names),
            target=str(record.spec.target.kind),
            created_at=record.created_at,
        )


class ScenarioOut(ScenarioSummaryOut):
    spec: dict[str, Any] = Field(description="The spec as JSON (same fields as the YAML).")
    yaml: str

    @classmethod
    def of(cls, record: ScenarioRecord) -> ScenarioOut:
        return cls(
            **ScenarioSummaryOut.of(record).model_dump(),
            spec=record.spec.model_dump(mode="json"),
            yaml=spec_to_yaml(record.spec),
        )


class ScenarioIn(StrictIn):
    """A new scenario: the spec as JSON, or as YAML text (exactly one)."""

    spec: ScenarioSpec | None = None
    yaml: str | None = Field(None, max_length=200_000)


class ScenarioEditIn(ScenarioIn):
    """An edit: saved as a new version only if nobody saved one since ``base_version``."""

    base_version: int = Field(
        ge=1, le=1_000_000, description="The version the edit was made from (optimistic lock)."
    )


class AutolabelIn(StrictIn):
    max_items: int | None = Field(None, ge=1, le=100_000_000)
    relabel: bool = False


class ReviewItemOut(BaseModel):
    item: str = Field(description="'frame:ID' or 'object:ID'.")
    thumbnail_url: str
    label: str
    confidence: float
    margin: float
    entropy: float
    zero_shot_label: str
    disagree: bool
    priority: float
    false_positive: bool = Field(
        False, description="Inside the time span of an event a person corrected: asked first."
    )
    heatmap_url: str | None = Field(
        None, description="Anomaly scenarios: the item's anomaly heatmap over its image."
    )

    @classmethod
    def of(cls, item: ReviewItem, scenario: str = "") -> ReviewItemOut:
        return cls(
            item=item.item,
            thumbnail_url=f"/api/v1/items/{item.kind.value}/{item.id}/thumbnail",
            label=item.label,
            confidence=round(item.confidence, 4),
            margin=round(item.margin, 4),
            entropy=round(item.entropy, 4),
            zero_shot_label=item.zero_shot_label,
            disagree=item.disagree,
            priority=round(item.priority, 4),
            false_positive=item.false_positive,
            heatmap_url=(
                f"/api/v1/scenarios/{scenario}/heatmaps/{item.kind.value}/{item.id}"
                if item.heatmap_path and scenario
                else None
            ),
        )


class ReviewOut(BaseModel):
    scenario: str
    version: int
    classes: list[str]
    items: list[ReviewItemOut]


class AnswerIn(StrictIn):
    item: str = Field(
        pattern=r"^(frame|object):\d{1,18}$", description="'frame:ID' or 'object:ID'."
    )
    label: str = Field(min_length=1, max_length=100, pattern=NO_CONTROL)
    annotator: str | None = Field(None, min_length=1, max_length=100, pattern=NO_CONTROL)


class AnswerOut(BaseModel):
    scenario: str
    item: str
    label: str
    annotator: str

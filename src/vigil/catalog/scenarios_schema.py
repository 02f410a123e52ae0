"""ORM tables of long-tail scenarios: versioned specs, machine labels, human labels.

Created only by revision ``scenarios_0001`` (``migrations/versions/0003_scenarios.py``);
keep both in step. A label points at exactly one item, a frame or an object, through
two nullable foreign keys and a CHECK, so deleting a source cascades to its labels
on every backend (a polymorphic id could not cascade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow

# Exactly one of frame_id / object_id is set.
ONE_ITEM = "(frame_id IS NULL) <> (object_id IS NULL)"


class ScenarioRow(Base):
    """A scenario by name; its specs live in ``scenario_versions``."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScenarioVersionRow(Base):
    """One immutable version of a scenario spec (editing adds a version, never rewrites)."""

    __tablename__ = "scenario_versions"
    __table_args__ = (
        UniqueConstraint("scenario_id", "version", name="uq_scenario_versions_scenario_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    spec_json: Mapped[dict[str, Any]] = mapped_column("spec", JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScenarioLabelRow(Base):
    """A machine label of one item under one scenario version, with its provenance."""

    __tablename__ = "scenario_labels"
    __table_args__ = (
        CheckConstraint(ONE_ITEM, name="ck_scenario_labels_one_item"),
        UniqueConstraint("scenario_id", "version", "frame_id", name="uq_scenario_labels_frame"),
        UniqueConstraint("scenario_id", "version", "object_id", name="uq_scenario_labels_object"),
        Index("ix_scenario_labels_scenario_version", "scenario_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    # Class probabilities in the version's class order (soft targets for distillation).
    probabilities: Mapped[list[float]] = mapped_column(JSON)
    model_id: Mapped[str] = mapped_column(String(300))  # embedder model id + method
    method: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScenarioHumanLabelRow(Base):
    """A person's answer for one item; it overrides any machine label of the scenario."""

    __tablename__ = "scenario_human_labels"
    __table_args__ = (
        CheckConstraint(ONE_ITEM, name="ck_scenario_human_labels_one_item"),
        UniqueConstraint("scenario_id", "frame_id", name="uq_scenario_human_labels_frame"),
        UniqueConstraint("scenario_id", "object_id", name="uq_scenario_human_labels_object"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    annotator: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)  # the version the person answered under
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

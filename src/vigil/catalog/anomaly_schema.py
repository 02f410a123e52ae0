"""ORM table of anomaly scores (one per item per anomaly-scenario version).

Created only by revision ``anomaly_0001`` (``migrations/versions/anomaly_0001_scores.py``);
keep both in step.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow

_ONE_ITEM = "(frame_id IS NULL) <> (object_id IS NULL)"


class AnomalyScoreRow(Base):
    """One item's anomaly score under one scenario version."""

    __tablename__ = "anomaly_scores"
    __table_args__ = (
        CheckConstraint(_ONE_ITEM, name="ck_anomaly_scores_one_item"),
        UniqueConstraint("scenario_id", "version", "frame_id", name="uq_anomaly_scores_frame"),
        UniqueConstraint("scenario_id", "version", "object_id", name="uq_anomaly_scores_object"),
        Index("ix_anomaly_scores_scenario_version", "scenario_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    distance: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    anomalous: Mapped[bool] = mapped_column(Boolean)
    heatmap_path: Mapped[str | None] = mapped_column(Text)  # relative to the workspace home
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

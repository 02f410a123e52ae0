"""ORM table of the model registry (small models distilled per scenario).

Created only by revision ``models_0001`` (``migrations/versions/0004_models.py``);
keep both in step. The runtime finds a model here by id or name and serves it
only when ``status`` is ``ready``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow


class ModelRow(Base):
    """One produced model file and how it was made."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("name", name="uq_models_name"),
        Index("ix_models_scenario", "scenario", "scenario_version"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scenario: Mapped[str] = mapped_column(String(200))
    scenario_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    architecture: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelPromotionRow(Base):
    """One change of a scenario's champion: a promotion or a rollback, never edited.

    The champion is the model of the newest row; replaying the rows (promote pushes,
    rollback pops) gives the stack a rollback returns along. ``seq`` counts per
    scenario and is unique with it, so two promotions racing on a database without a
    write lock cannot both win: the second one fails instead of being lost.
    """

    __tablename__ = "model_promotions"
    __table_args__ = (
        UniqueConstraint("scenario", "seq", name="uq_model_promotions_seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[int] = mapped_column(Integer)  # the champion after this change
    action: Mapped[str] = mapped_column(String(16))  # promote / rollback
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelEvalItemRow(Base):
    """A person-labelled item's fixed place in its scenario's evaluation split.

    Assigned once, the first time a distillation sees the answer, and never moved:
    ``split`` ``eval`` items are held out of every version's training, so every
    version is scored on them; ``train`` items may be trained on.
    """

    __tablename__ = "model_eval_items"
    __table_args__ = (
        UniqueConstraint("scenario", "item", name="uq_model_eval_items_item"),
        Index("ix_model_eval_items_scenario", "scenario", "split"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario: Mapped[str] = mapped_column(String(200))
    item: Mapped[str] = mapped_column(String(64))  # "frame:12" / "object:3"
    class_name: Mapped[str] = mapped_column(String(200))  # the answer when it was assigned
    split: Mapped[str] = mapped_column(String(8))  # eval / train
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

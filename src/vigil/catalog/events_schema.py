"""ORM tables of the runtime: events found on live streams and their alert outbox.

Created only by revision ``events_0001`` (``migrations/versions/0005_events.py``);
keep both in step. Deliveries live in their own table (a transactional outbox):
the event and one pending delivery per alert target are written in the same
transaction, so a webhook that is down, or a process that is killed, can delay
an alert but never lose it.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow


class EventRow(Base):
    """One event: a class scored above threshold on one source by one model."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_source_started", "source_id", "started_at"),
        Index("ix_events_scenario_started", "scenario", "started_at"),
        Index("ix_events_status", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(300))
    # The registry model that raised it (revision feedback_0001); None for files and zero-shot.
    model_version: Mapped[str | None] = mapped_column(String(300))
    registry_model_id: Mapped[int | None] = mapped_column(Integer)
    scenario: Mapped[str] = mapped_column(String(200))
    class_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | closed | interrupted
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    peak_score: Mapped[float] = mapped_column(Float)
    peak_at: Mapped[datetime] = mapped_column(UTCDateTime)
    frames: Mapped[int] = mapped_column(Integer)  # processed frames at or above off-threshold
    thumbnail_path: Mapped[str | None] = mapped_column(Text)  # relative to the workspace
    strip_path: Mapped[str | None] = mapped_column(Text)
    details_json: Mapped[dict[str, Any]] = mapped_column("details", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Triage (revision triage_0001): set when an operator marks the event reviewed.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AlertDeliveryRow(Base):
    """One alert message to one target; pending until delivered or out of attempts."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_event", "event_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # event.started | event.ended
    target: Mapped[str] = mapped_column(Text)  # webhook URL, or "log"
    payload_json: Mapped[dict[str, Any]] = mapped_column("payload", JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventFeedbackRow(Base):
    """A person's verdict on an event or a search hit, with where it came from.

    Created by revision ``feedback_0001``. The label itself is stored as the item's
    human label of the scenario (same transaction); this row keeps the provenance:
    which event, which model version raised it, what it predicted.
    """

    __tablename__ = "event_feedback"
    __table_args__ = (
        CheckConstraint(
            "(frame_id IS NULL) <> (object_id IS NULL)", name="ck_event_feedback_one_item"
        ),
        UniqueConstraint("event_id", name="uq_event_feedback_event"),
        Index("ix_event_feedback_scenario", "scenario"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    scenario: Mapped[str] = mapped_column(String(200))
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(16))  # confirmed | corrected
    label: Mapped[str] = mapped_column(String(200))  # the class the person says is right
    predicted: Mapped[str | None] = mapped_column(String(200))  # the event's class
    model_id: Mapped[str | None] = mapped_column(String(300))
    model_version: Mapped[str | None] = mapped_column(String(300))
    origin: Mapped[str] = mapped_column(String(16))  # event | search
    annotator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

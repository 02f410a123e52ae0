"""ORM tables of the tracks stage: tracks, their pooled vectors, tracking progress.

Created only by revision ``tracks_0001`` (``migrations/versions/0007_tracks.py``);
keep both in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow


class TrackRow(Base):
    """One tracked object on one source, from first to last sighting."""

    __tablename__ = "tracks"
    __table_args__ = (
        Index("ix_tracks_source_first", "source_id", "first_media_time"),
        Index("ix_tracks_source_label", "source_id", "label"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    detector_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(100))
    class_id: Mapped[int] = mapped_column(Integer)
    mean_score: Mapped[float] = mapped_column(Float)
    observations: Mapped[int] = mapped_column(Integer)
    first_media_time: Mapped[float] = mapped_column(Float)
    last_media_time: Mapped[float] = mapped_column(Float)
    first_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    frame_width: Mapped[int] = mapped_column(Integer)
    frame_height: Mapped[int] = mapped_column(Integer)
    trajectory_json: Mapped[list[list[float]]] = mapped_column("trajectory", JSON)
    best_media_time: Mapped[float] = mapped_column(Float)
    best_box_json: Mapped[list[float]] = mapped_column("best_box", JSON)
    thumbnail_path: Mapped[str] = mapped_column(Text)
    colours_json: Mapped[dict[str, Any]] = mapped_column("colours", JSON)
    speed_px_s: Mapped[float] = mapped_column(Float)
    direction_deg: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackEmbeddingRow(Base):
    """A track's one vector: the normalised mean of up to N crop vectors."""

    __tablename__ = "track_embeddings"
    __table_args__ = (
        UniqueConstraint("track_id", "model_id", name="uq_track_embeddings_track_model"),
        Index("ix_track_embeddings_model", "model_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    crops: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit norm
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackProgressRow(Base):
    """Where tracking of a source stands (see ``vigil.catalog.tracks_store``)."""

    __tablename__ = "track_progress"
    __table_args__ = (
        UniqueConstraint("source_id", "detector_id", name="uq_track_progress_source_detector"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    detector_id: Mapped[str] = mapped_column(String(200))
    resume_media_time: Mapped[float] = mapped_column(Float)
    checkpoint_media_time: Mapped[float] = mapped_column(Float)
    finished: Mapped[bool] = mapped_column(Boolean)
    settings_json: Mapped[dict[str, Any]] = mapped_column("settings", JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""ORM tables of the catalog.

These classes describe the schema for queries; the schema itself is created
only by the Alembic revisions in ``migrations/versions`` (keep both in step).

Ids of ``sources`` and ``embeddings`` are never reused (SQLite AUTOINCREMENT,
PostgreSQL sequences): an embedding id is also the vector's id in the FAISS
index, and a reused id could resurrect a removed vector there. Embeddings are
per frame; objects have their own table of vectors (``object_embeddings``) and
their own FAISS index, so frame and object search never mix id spaces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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

from vigil.catalog.base import Base as Base
from vigil.catalog.base import UTCDateTime as UTCDateTime
from vigil.catalog.base import utcnow as utcnow


class SourceRow(Base):
    __tablename__ = "sources"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(200))
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FrameRow(Base):
    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("source_id", "frame_index", name="uq_frames_source_index"),
        Index("ix_frames_source_time", "source_id", "media_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    # 64-bit: stream frames are identified by wall-clock milliseconds.
    frame_index: Mapped[int] = mapped_column(BigInteger)
    media_time: Mapped[float] = mapped_column(Float)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumbnail_path: Mapped[str] = mapped_column(Text)  # relative to the workspace folder
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmbeddingRow(Base):
    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("frame_id", "model_id", name="uq_embeddings_frame_model"),
        Index("ix_embeddings_model", "model_id"),
        {"sqlite_autoincrement": True},
    )

    # This id is also the vector's id in the FAISS index.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit norm
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndexProgressRow(Base):
    __tablename__ = "index_progress"
    __table_args__ = (UniqueConstraint("source_id", "model_id", name="uq_progress_source_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    last_frame_index: Mapped[int | None] = mapped_column(BigInteger)
    settings_json: Mapped[dict[str, Any] | None] = mapped_column("settings", JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ObjectRow(Base):
    """One detected object (box, class, score, crop thumbnail), linked to its frame."""

    __tablename__ = "objects"
    __table_args__ = (
        Index("ix_objects_frame", "frame_id"),
        Index("ix_objects_source_label", "source_id", "label"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    detector_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(100))
    class_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    thumbnail_path: Mapped[str] = mapped_column(Text)  # relative to the workspace folder
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ObjectEmbeddingRow(Base):
    __tablename__ = "object_embeddings"
    __table_args__ = (
        UniqueConstraint("object_id", "model_id", name="uq_object_embeddings_object_model"),
        Index("ix_object_embeddings_model", "model_id"),
        {"sqlite_autoincrement": True},
    )

    # This id is also the vector's id in the objects' FAISS index.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit norm
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ObjectScanRow(Base):
    """A frame a detector has looked at, even if it found nothing (makes resuming cheap)."""

    __tablename__ = "object_scans"
    __table_args__ = (
        UniqueConstraint("frame_id", "detector_id", name="uq_object_scans_frame_detector"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    detector_id: Mapped[str] = mapped_column(String(200))
    objects_found: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


from vigil.catalog import (  # noqa: E402  (after Base: each module adds its tables)
    anomaly_schema,  # noqa: F401  (revision anomaly_0001)
    api_schema,  # noqa: F401  (revision api_0001)
    attributes_schema,  # noqa: F401  (revision attributes_0001)
    events_schema,  # noqa: F401  (revisions events_0001, feedback_0001)
    models_schema,  # noqa: F401  (revision models_0001)
    scenarios_schema,  # noqa: F401  (revision scenarios_0001)
    site_schema,  # noqa: F401  (revision site_0001)
    tracks_schema,  # noqa: F401  (revision tracks_0001)
)

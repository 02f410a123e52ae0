"""Sources, frames, embeddings and indexing progress.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out by hand rather than imported from ``schema.py``: a revision must keep
describing the schema as it was, whatever the ORM classes become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("site", sa.String(200)),
        sa.Column("position", sa.String(200)),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("name", name="uq_sources_name"),
        sqlite_autoincrement=True,  # ids are never reused (thumbnail folders are per id)
    )
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_frames_source"),
            nullable=False,
        ),
        sa.Column("frame_index", sa.BigInteger, nullable=False),
        sa.Column("media_time", sa.Float, nullable=False),
        sa.Column("captured_at", _UTC_TIME),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("thumbnail_path", sa.Text, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("source_id", "frame_index", name="uq_frames_source_index"),
    )
    op.create_index("ix_frames_source_time", "frames", ["source_id", "media_time"])
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name="fk_embeddings_frame"),
            nullable=False,
        ),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("frame_id", "model_id", name="uq_embeddings_frame_model"),
        sqlite_autoincrement=True,  # the id is the FAISS id: a reused one could revive a vector
    )
    op.create_index("ix_embeddings_model", "embeddings", ["model_id"])
    op.create_table(
        "index_progress",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_progress_source"),
            nullable=False,
        ),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frames_done", sa.Integer, nullable=False),
        sa.Column("last_frame_index", sa.BigInteger),
        sa.Column("settings", sa.JSON),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("source_id", "model_id", name="uq_progress_source_model"),
    )


def downgrade() -> None:
    op.drop_table("index_progress")
    op.drop_index("ix_embeddings_model", table_name="embeddings")
    op.drop_table("embeddings")
    op.drop_index("ix_frames_source_time", table_name="frames")
    op.drop_table("frames")
    op.drop_table("sources")

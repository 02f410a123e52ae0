"""Tracks: one record per tracked object, its pooled vector, and tracking progress per source.

Revision ID: tracks_0001
Revises: 0002
Create Date: 2026-11-26

The tracks stage's own branch of revisions, rooted in the objects revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tracks_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_tracks_source"),
            nullable=False,
        ),
        sa.Column("detector_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("class_id", sa.Integer, nullable=False),
        sa.Column("mean_score", sa.Float, nullable=False),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("first_media_time", sa.Float, nullable=False),
        sa.Column("last_media_time", sa.Float, nullable=False),
        sa.Column("first_captured_at", _UTC_TIME, nullable=True),
        sa.Column("last_captured_at", _UTC_TIME, nullable=True),
        # Frame size the boxes are in: a source whose resolution changes starts new tracks.
        sa.Column("frame_width", sa.Integer, nullable=False),
        sa.Column("frame_height", sa.Integer, nullable=False),
        # [[media_time, x1, y1, x2, y2], ...] downsampled, first and last kept.
        sa.Column("trajectory", sa.JSON, nullable=False),
        sa.Column("best_media_time", sa.Float, nullable=False),
        sa.Column("best_box", sa.JSON, nullable=False),
        sa.Column("thumbnail_path", sa.Text, nullable=False),
        sa.Column("colours", sa.JSON, nullable=False),
        sa.Column("speed_px_s", sa.Float, nullable=False),
        sa.Column("direction_deg", sa.Float, nullable=True),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tracks_source_first", "tracks", ["source_id", "first_media_time"])
    op.create_index("ix_tracks_source_label", "tracks", ["source_id", "label"])
    op.create_table(
        "track_embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("tracks.id", ondelete="CASCADE", name="fk_track_embeddings_track"),
            nullable=False,
        ),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("crops", sa.Integer, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("track_id", "model_id", name="uq_track_embeddings_track_model"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_track_embeddings_model", "track_embeddings", ["model_id"])
    # Where tracking of a source stands: a resumed run tracks again from
    # ``resume_media_time`` (the start of the oldest track open at the checkpoint) and
    # keeps only the tracks still open at ``checkpoint_media_time``.
    op.create_table(
        "track_progress",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_track_progress_source"),
            nullable=False,
        ),
        sa.Column("detector_id", sa.String(200), nullable=False),
        sa.Column("resume_media_time", sa.Float, nullable=False),
        sa.Column("checkpoint_media_time", sa.Float, nullable=False),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("source_id", "detector_id", name="uq_track_progress_source_detector"),
    )


def downgrade() -> None:
    op.drop_table("track_progress")
    op.drop_index("ix_track_embeddings_model", "track_embeddings")
    op.drop_table("track_embeddings")
    op.drop_index("ix_tracks_source_label", "tracks")
    op.drop_index("ix_tracks_source_first", "tracks")
    op.drop_table("tracks")

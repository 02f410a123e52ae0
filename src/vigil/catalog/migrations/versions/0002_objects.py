"""Objects detected in frames, their image-text vectors, and which frames were scanned.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Later stages (scenarios, models, events, api) each start their own branch from
this revision; ``vigil.catalog.db.migrate`` upgrades to every head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name="fk_objects_frame"),
            nullable=False,
        ),
        # Denormalised from the frame so that filters by source and class need no join.
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_objects_source"),
            nullable=False,
        ),
        sa.Column("detector_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("class_id", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        # Box in pixels of the original frame, x1 < x2 and y1 < y2.
        sa.Column("x1", sa.Float, nullable=False),
        sa.Column("y1", sa.Float, nullable=False),
        sa.Column("x2", sa.Float, nullable=False),
        sa.Column("y2", sa.Float, nullable=False),
        sa.Column("thumbnail_path", sa.Text, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_objects_frame", "objects", ["frame_id"])
    op.create_index("ix_objects_source_label", "objects", ["source_id", "label"])
    op.create_table(
        "object_embeddings",
        # This id is also the vector's id in the objects' FAISS index.
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "object_id",
            sa.Integer,
            sa.ForeignKey("objects.id", ondelete="CASCADE", name="fk_object_embeddings_object"),
            nullable=False,
        ),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("object_id", "model_id", name="uq_object_embeddings_object_model"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_object_embeddings_model", "object_embeddings", ["model_id"])
    # A frame scanned by a detector, even when it found nothing: what makes object
    # structuring resumable without re-running the detector on empty frames.
    op.create_table(
        "object_scans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name="fk_object_scans_frame"),
            nullable=False,
        ),
        sa.Column("detector_id", sa.String(200), nullable=False),
        sa.Column("objects_found", sa.Integer, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("frame_id", "detector_id", name="uq_object_scans_frame_detector"),
    )


def downgrade() -> None:
    op.drop_table("object_scans")
    op.drop_index("ix_object_embeddings_model", "object_embeddings")
    op.drop_table("object_embeddings")
    op.drop_index("ix_objects_source_label", "objects")
    op.drop_index("ix_objects_frame", "objects")
    op.drop_table("objects")

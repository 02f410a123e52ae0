"""Anomaly scenarios: one score per item per scenario version, with its heatmap.

Revision ID: anomaly_0001
Revises: scenarios_0001
Create Date: 2026-11-26

Scores live beside the scenario labels (which keep the normal/anomalous label
for the review queue and exports) because a distance to the normals is not a
class probability and must not be stored as one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "anomaly_0001"
down_revision = "scenarios_0001"
branch_labels = None
depends_on = None

_ONE_ITEM = "(frame_id IS NULL) <> (object_id IS NULL)"


def upgrade() -> None:
    op.create_table(
        "anomaly_scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "scenario_id",
            sa.Integer,
            sa.ForeignKey("scenarios.id", ondelete="CASCADE", name="fk_anomaly_scores_scenario"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name="fk_anomaly_scores_frame"),
            nullable=True,
        ),
        sa.Column(
            "object_id",
            sa.Integer,
            sa.ForeignKey("objects.id", ondelete="CASCADE", name="fk_anomaly_scores_object"),
            nullable=True,
        ),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("distance", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("anomalous", sa.Boolean, nullable=False),
        sa.Column("heatmap_path", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_ONE_ITEM, name="ck_anomaly_scores_one_item"),
        sa.UniqueConstraint("scenario_id", "version", "frame_id", name="uq_anomaly_scores_frame"),
        sa.UniqueConstraint("scenario_id", "version", "object_id", name="uq_anomaly_scores_object"),
    )
    op.create_index(
        "ix_anomaly_scores_scenario_version", "anomaly_scores", ["scenario_id", "version"]
    )


def downgrade() -> None:
    op.drop_index("ix_anomaly_scores_scenario_version", table_name="anomaly_scores")
    op.drop_table("anomaly_scores")

"""Long-tail scenarios: versioned specs, machine labels with provenance, human labels.

Revision ID: scenarios_0001
Revises: 0002
Create Date: 2026-11-23

The scenarios stage's own branch of revisions, rooted in the objects revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scenarios_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)
_ONE_ITEM = "(frame_id IS NULL) <> (object_id IS NULL)"


def _item_columns(table: str) -> list[sa.Column[int]]:
    """Two nullable item references; a CHECK makes exactly one of them set."""
    return [
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name=f"fk_{table}_frame"),
            nullable=True,
        ),
        sa.Column(
            "object_id",
            sa.Integer,
            sa.ForeignKey("objects.id", ondelete="CASCADE", name=f"fk_{table}_object"),
            nullable=True,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", _UTC_TIME, nullable=False),
    )
    op.create_table(
        "scenario_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "scenario_id",
            sa.Integer,
            sa.ForeignKey("scenarios.id", ondelete="CASCADE", name="fk_scenario_versions_scenario"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("scenario_id", "version", name="uq_scenario_versions_scenario_version"),
    )
    op.create_table(
        "scenario_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "scenario_id",
            sa.Integer,
            sa.ForeignKey("scenarios.id", ondelete="CASCADE", name="fk_scenario_labels_scenario"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        *_item_columns("scenario_labels"),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        # Class probabilities in the version's class order: soft targets for distillation.
        sa.Column("probabilities", sa.JSON, nullable=False),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.CheckConstraint(_ONE_ITEM, name="ck_scenario_labels_one_item"),
        # NULLs are distinct in UNIQUE on SQLite and PostgreSQL, so each constraint
        # only bites for its own kind of item.
        sa.UniqueConstraint("scenario_id", "version", "frame_id", name="uq_scenario_labels_frame"),
        sa.UniqueConstraint(
            "scenario_id", "version", "object_id", name="uq_scenario_labels_object"
        ),
    )
    op.create_index(
        "ix_scenario_labels_scenario_version", "scenario_labels", ["scenario_id", "version"]
    )
    op.create_table(
        "scenario_human_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "scenario_id",
            sa.Integer,
            sa.ForeignKey(
                "scenarios.id", ondelete="CASCADE", name="fk_scenario_human_labels_scenario"
            ),
            nullable=False,
        ),
        *_item_columns("scenario_human_labels"),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.CheckConstraint(_ONE_ITEM, name="ck_scenario_human_labels_one_item"),
        sa.UniqueConstraint("scenario_id", "frame_id", name="uq_scenario_human_labels_frame"),
        sa.UniqueConstraint("scenario_id", "object_id", name="uq_scenario_human_labels_object"),
    )


def downgrade() -> None:
    op.drop_table("scenario_human_labels")
    op.drop_index("ix_scenario_labels_scenario_version", "scenario_labels")
    op.drop_table("scenario_labels")
    op.drop_table("scenario_versions")
    op.drop_table("scenarios")

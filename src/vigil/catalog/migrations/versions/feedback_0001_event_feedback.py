"""Operator feedback on events and search hits; the model version on every event.

Revision ID: feedback_0001
Revises: triage_0001
Create Date: 2026-11-26

``events`` gains the registry model (id and name) that raised each event, so a
false positive can be traced to the version that made it after a hot swap.
``event_feedback`` keeps each confirmation or correction with its provenance;
the label itself goes to ``scenario_human_labels`` in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0001"
down_revision = "triage_0001"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)
_ONE_ITEM = "(frame_id IS NULL) <> (object_id IS NULL)"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("model_version", sa.String(300), nullable=True))
        batch.add_column(sa.Column("registry_model_id", sa.Integer, nullable=True))
    op.create_table(
        "event_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "event_id",
            sa.Integer,
            sa.ForeignKey("events.id", ondelete="CASCADE", name="fk_event_feedback_event"),
            nullable=True,
        ),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE", name="fk_event_feedback_frame"),
            nullable=True,
        ),
        sa.Column(
            "object_id",
            sa.Integer,
            sa.ForeignKey("objects.id", ondelete="CASCADE", name="fk_event_feedback_object"),
            nullable=True,
        ),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("predicted", sa.String(200), nullable=True),
        sa.Column("model_id", sa.String(300), nullable=True),
        sa.Column("model_version", sa.String(300), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.CheckConstraint(_ONE_ITEM, name="ck_event_feedback_one_item"),
        sa.UniqueConstraint("event_id", name="uq_event_feedback_event"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_feedback_scenario", "event_feedback", ["scenario"])


def downgrade() -> None:
    op.drop_index("ix_event_feedback_scenario", "event_feedback")
    op.drop_table("event_feedback")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("registry_model_id")
        batch.drop_column("model_version")

"""Runtime events found on live streams, and the outbox of their alert deliveries.

Revision ID: events_0001
Revises: 0002
Create Date: 2026-11-23

The runtime stage's own branch of revisions, rooted in the objects revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "events_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_events_source"),
            nullable=False,
        ),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("class_name", sa.String(200), nullable=False),
        # open (still above threshold), closed (quiet period passed), interrupted
        # (left open by a process that stopped; ended_at is the last time it was seen).
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _UTC_TIME, nullable=False),
        sa.Column("ended_at", _UTC_TIME, nullable=True),
        sa.Column("last_seen_at", _UTC_TIME, nullable=False),
        sa.Column("peak_score", sa.Float, nullable=False),
        sa.Column("peak_at", _UTC_TIME, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("thumbnail_path", sa.Text, nullable=True),
        sa.Column("strip_path", sa.Text, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_source_started", "events", ["source_id", "started_at"])
    op.create_index("ix_events_scenario_started", "events", ["scenario", "started_at"])
    op.create_index("ix_events_status", "events", ["status"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "event_id",
            sa.Integer,
            sa.ForeignKey("events.id", ondelete="CASCADE", name="fk_alert_deliveries_event"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _UTC_TIME, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", _UTC_TIME, nullable=True),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_alert_deliveries_status_next", "alert_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index("ix_alert_deliveries_event", "alert_deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_event", "alert_deliveries")
    op.drop_index("ix_alert_deliveries_status_next", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_events_status", "events")
    op.drop_index("ix_events_scenario_started", "events")
    op.drop_index("ix_events_source_started", "events")
    op.drop_table("events")

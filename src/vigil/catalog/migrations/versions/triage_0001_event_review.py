"""Event triage: when (and by whom) an operator marked an event reviewed.

Revision ID: triage_0001
Revises: events_0001
Create Date: 2026-11-26

Two nullable columns on ``events``; an event not reviewed has both NULL. Batch mode
so SQLite (which cannot add a column with every constraint in place) rebuilds the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "triage_0001"
down_revision = "events_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("reviewed_by")
        batch.drop_column("reviewed_at")

"""REST API: hashed API keys and persisted background jobs.

Revision ID: api_0001
Revises: 0002
Create Date: 2026-11-23

Written out by hand rather than imported from ``api_schema.py``: a revision must
keep describing the schema as it was, whatever the ORM classes become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        # Public, non-secret part of the key: finds the row without scanning every hash.
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("salt", sa.LargeBinary, nullable=False),
        sa.Column("key_hash", sa.LargeBinary, nullable=False),  # scrypt(secret, salt)
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.Column("revoked_at", _UTC_TIME),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),  # 0..1
        sa.Column("message", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.Column("started_at", _UTC_TIME),
        sa.Column("finished_at", _UTC_TIME),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status", "jobs")
    op.drop_table("jobs")
    op.drop_table("api_keys")

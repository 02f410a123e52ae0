"""Colour and brightness attributes of objects and frames (trustworthy search).

Revision ID: attributes_0001
Revises: 0002
Create Date: 2026-11-26

Written out by hand rather than imported from ``attributes_schema.py``: a revision
must keep describing the schema as it was, whatever the ORM classes become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "attributes_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "object_attributes",
        sa.Column(
            "object_id",
            sa.Integer,
            sa.ForeignKey("objects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("colour", sa.String(16)),
        sa.Column("upper_colour", sa.String(16)),
        sa.Column("lower_colour", sa.String(16)),
        sa.Column("shares", sa.JSON, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
    )
    op.create_table(
        "frame_attributes",
        sa.Column(
            "frame_id",
            sa.Integer,
            sa.ForeignKey("frames.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("brightness", sa.Float, nullable=False),
        sa.Column("shares", sa.JSON, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("frame_attributes")
    op.drop_table("object_attributes")

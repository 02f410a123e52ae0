"""Zones drawn per source, site plans and where each camera stands on them.

Revision ID: site_0001
Revises: tracks_0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "site_0001"
down_revision = "tracks_0001"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "zone_sets",
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_zone_sets_source"),
            primary_key=True,
        ),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
    )
    op.create_table(
        "site_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("image_path", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
    )
    op.create_table(
        "site_placements",
        sa.Column(
            "plan_id",
            sa.Integer,
            sa.ForeignKey("site_plans.id", ondelete="CASCADE", name="fk_site_placements_plan"),
            primary_key=True,
        ),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE", name="fk_site_placements_source"),
            primary_key=True,
        ),
        sa.Column("x", sa.Float, nullable=False),
        sa.Column("y", sa.Float, nullable=False),
        sa.Column("direction_deg", sa.Float, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_placements")
    op.drop_table("site_plans")
    op.drop_table("zone_sets")

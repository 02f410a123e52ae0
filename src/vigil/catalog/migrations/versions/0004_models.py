"""Model registry: small models distilled from a scenario, versioned with their provenance.

Revision ID: models_0001
Revises: 0002
Create Date: 2026-11-23

Written out by hand rather than imported from ``models_schema.py``: a revision must
keep describing the schema as it was, whatever the ORM classes become later. The
scenario is stored by name and version as plain columns (no foreign key): a model
file stays meaningful, and listed, after its scenario is edited or removed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "models_0001"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("scenario_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # float / pruned / int8
        sa.Column("parent_id", sa.Integer),  # the float model a pruned/int8 one came from
        sa.Column("architecture", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # training / ready / failed
        sa.Column("path", sa.Text),  # the ONNX file, set once it is complete
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.Integer),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=False),  # item ids + label hash
        sa.Column("error", sa.Text),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("name", name="uq_models_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_models_scenario", "models", ["scenario", "scenario_version"])


def downgrade() -> None:
    op.drop_index("ix_models_scenario", "models")
    op.drop_table("models")

"""Champion history and the frozen evaluation split of each scenario's models.

Revision ID: models_0002
Revises: models_0001
Create Date: 2026-11-26

``model_promotions`` is append-only: each promotion or rollback is a row, so the
champion and every earlier one can be replayed. ``model_eval_items`` fixes, once
and for good, whether a person-labelled item is held out for evaluation. Like the
models table, both name the scenario as plain text (no foreign key). The new model
status ``rejected`` needs no schema change (``status`` is a String(16)).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "models_0002"
down_revision = "models_0001"
branch_labels = None
depends_on = None

_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, ... per scenario
        sa.Column("model_id", sa.Integer, nullable=False),  # champion after this row
        sa.Column("action", sa.String(16), nullable=False),  # promote / rollback
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("scenario", "seq", name="uq_model_promotions_seq"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "model_eval_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),  # frame:12 / object:3
        sa.Column("class_name", sa.String(200), nullable=False),
        sa.Column("split", sa.String(8), nullable=False),  # eval / train
        sa.Column("created_at", _UTC_TIME, nullable=False),
        sa.UniqueConstraint("scenario", "item", name="uq_model_eval_items_item"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_model_eval_items_scenario", "model_eval_items", ["scenario", "split"])


def downgrade() -> None:
    op.drop_index("ix_model_eval_items_scenario", "model_eval_items")
    op.drop_table("model_eval_items")
    op.drop_table("model_promotions")

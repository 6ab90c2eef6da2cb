"""Model champions and challengers: every promotion of a registered model version (the latest
of each role is in force), and the challenger's shadow scores beside the champion's decisions.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_champions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
    )

    op.create_table(
        "shadow_scores",
        sa.Column("transaction_id", sa.String(length=128), primary_key=True),
        sa.Column("version", sa.String(length=80), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_shadow_scores_decided_at", "shadow_scores", ["decided_at"])


def downgrade() -> None:
    op.drop_table("shadow_scores")
    op.drop_table("model_champions")

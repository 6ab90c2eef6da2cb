"""Rules and lists: every ruleset version, named lists with their entries, and on each
decision the ruleset version it was made with.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("ruleset_version", sa.BigInteger(), nullable=True))
    op.create_table(
        "rulesets",
        sa.Column(
            "version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
    )
    op.create_table(
        "lists",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "list_entries",
        sa.Column("list_name", sa.String(length=64), sa.ForeignKey("lists.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("value", sa.String(length=128), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
    )
    revision_table = op.create_table(
        "policy_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lists", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(revision_table, [{"id": 1, "lists": 0}])


def downgrade() -> None:
    for table in ("policy_revision", "list_entries", "lists", "rulesets"):
        op.drop_table(table)
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_column("ruleset_version")

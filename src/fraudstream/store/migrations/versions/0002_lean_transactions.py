"""Drop the transactions table's secondary indexes: unused by queries, costly on every insert.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_transactions_customer_id": ["customer_id"],
    "ix_transactions_merchant_id": ["merchant_id"],
    "ix_transactions_timestamp": ["timestamp"],
}


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)

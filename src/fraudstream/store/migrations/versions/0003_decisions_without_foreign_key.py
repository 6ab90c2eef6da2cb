"""Drop the decisions -> transactions foreign key: a check per inserted decision.

A decision is only ever written together with its transaction, in one database
transaction (`Store.save_decisions`), so the key guaranteed nothing the code does not;
checking it was a quarter of PostgreSQL's time for each batch of decisions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no names: batch mode finds this one by the convention's name.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _name() -> str:
    return (
        "decisions_transaction_id_fkey"
        if op.get_bind().dialect.name == "postgresql"
        else ("fk_decisions_transaction_id_transactions")
    )


def upgrade() -> None:
    with op.batch_alter_table("decisions", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(_name(), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("decisions", naming_convention=NAMING) as batch_op:
        batch_op.create_foreign_key(_name(), "transactions", ["transaction_id"], ["transaction_id"])

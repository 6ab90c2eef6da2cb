"""Who gave each label and review: the id of the API key (the start of its digest).

An audit trail for feedback that changes features and, later, training: who confirmed
fraud, and when. Labels and reviews that came without a key (an open API, a stream)
have none.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("labels", "reviews"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in ("labels", "reviews"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("key_id")

"""a failed refund remembers the refund that retried it

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.add_column(sa.Column("retried_as", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.drop_column("retried_as")

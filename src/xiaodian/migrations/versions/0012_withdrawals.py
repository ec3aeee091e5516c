"""the ledger's withdrawals (提现)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

STATUSES = ("requested", "approved", "paid", "failed", "rejected")


def upgrade() -> None:
    op.create_table(
        "ledger_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="withdrawalstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("requested_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_withdrawals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_ledger_withdrawals_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_ledger_withdrawals_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_ledger_withdrawals_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_withdrawals")),
    )
    op.create_index(
        "ix_ledger_withdrawals_shop_day",
        "ledger_withdrawals",
        ["shop_id", "business_day"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_withdrawals_status", "ledger_withdrawals", ["status", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_withdrawals_status", table_name="ledger_withdrawals")
    op.drop_index("ix_ledger_withdrawals_shop_day", table_name="ledger_withdrawals")
    op.drop_table("ledger_withdrawals")

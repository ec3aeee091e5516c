"""profit sharing (分账): payments made to be split, the ledger's requests and the holds
they come from, the sandbox's receivers and orders

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column("profit_sharing", sa.Boolean(), server_default="0", nullable=False)
        )
    op.create_index("ix_payments_sharing", "payments", ["profit_sharing", "paid_at"])
    with op.batch_alter_table("sandbox_trades") as batch:
        batch.add_column(
            sa.Column("profit_sharing", sa.Boolean(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("unfrozen_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("ledger_holds") as batch:
        batch.add_column(sa.Column("share_state", sa.String(length=8), nullable=True))
    op.create_index("ix_ledger_holds_share", "ledger_holds", ["share_state", "status"])
    op.create_table(
        "ledger_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_order_no", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("order_no", sa.String(length=24), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "processing",
                "finished",
                "failed",
                name="sharestatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provider_order_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_shares")),
        sa.UniqueConstraint("out_order_no", name=op.f("uq_ledger_shares_out_order_no")),
    )
    op.create_index("ix_ledger_shares_due", "ledger_shares", ["status", "next_try_at"])
    op.create_index(op.f("ix_ledger_shares_order_id"), "ledger_shares", ["order_id"])
    op.create_index(op.f("ix_ledger_shares_out_trade_no"), "ledger_shares", ["out_trade_no"])
    op.create_table(
        "sandbox_sharing_receivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_sharing_receivers")),
        sa.UniqueConstraint(
            "type", "account", name=op.f("uq_sandbox_sharing_receivers_type_account")
        ),
    )
    op.create_table(
        "sandbox_sharing_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_order_no", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("unfreeze", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_sharing_orders")),
        sa.UniqueConstraint("out_order_no", name=op.f("uq_sandbox_sharing_orders_out_order_no")),
        sa.UniqueConstraint("order_id", name=op.f("uq_sandbox_sharing_orders_order_id")),
    )
    op.create_index(
        op.f("ix_sandbox_sharing_orders_transaction_id"),
        "sandbox_sharing_orders",
        ["transaction_id"],
    )


def downgrade() -> None:
    op.drop_table("sandbox_sharing_orders")
    op.drop_table("sandbox_sharing_receivers")
    op.drop_table("ledger_shares")
    op.drop_index("ix_ledger_holds_share", table_name="ledger_holds")
    with op.batch_alter_table("ledger_holds") as batch:
        batch.drop_column("share_state")
    with op.batch_alter_table("sandbox_trades") as batch:
        batch.drop_column("unfrozen_at")
        batch.drop_column("profit_sharing")
    op.drop_index("ix_payments_sharing", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("profit_sharing")

"""payments: payments, their orders, refunds, events, notification log; the sandbox tables

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_notification_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "accepted",
                "duplicate",
                "ignored",
                "refused",
                "error",
                name="notificationoutcome",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=True),
        sa.Column("out_refund_no", sa.String(length=64), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_notification_log")),
    )
    op.create_index(
        op.f("ix_payment_notification_log_notification_id"),
        "payment_notification_log",
        ["notification_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_notification_log_out_trade_no"),
        "payment_notification_log",
        ["out_trade_no"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_notification_log_received_at"),
        "payment_notification_log",
        ["received_at"],
        unique=False,
    )
    op.create_table(
        "payment_processed_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("processed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_processed_notifications")),
        sa.UniqueConstraint(
            "notification_id", name=op.f("uq_payment_processed_notifications_notification_id")
        ),
    )
    op.create_table(
        "sandbox_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="deliverystatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_deliveries")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_sandbox_deliveries_notification_id")),
    )
    op.create_index(
        op.f("ix_sandbox_deliveries_next_attempt_at"),
        "sandbox_deliveries",
        ["next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sandbox_deliveries_out_trade_no"),
        "sandbox_deliveries",
        ["out_trade_no"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sandbox_deliveries_status"), "sandbox_deliveries", ["status"], unique=False
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PROCESSING",
                "SUCCESS",
                "CLOSED",
                "ABNORMAL",
                name="sandboxrefundstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("notify_url", sa.String(length=300), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("success_time", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_sandbox_refunds_out_refund_no")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_sandbox_refunds_refund_id")),
    )
    op.create_index(
        op.f("ix_sandbox_refunds_out_trade_no"), "sandbox_refunds", ["out_trade_no"], unique=False
    )
    op.create_table(
        "sandbox_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("trade_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("notify_url", sa.String(length=300), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "NOTPAY",
                "SUCCESS",
                "CLOSED",
                "REFUND",
                name="sandboxtradestate",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("payer_openid", sa.String(length=64), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("time_expire", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("success_time", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_trades")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_sandbox_trades_out_trade_no")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_sandbox_trades_transaction_id")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "native", "jsapi", "sandbox", name="paymentmethod", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("open", "paid", "closed", name="paymentstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("open_key", sa.String(length=300), nullable=True),
        sa.Column("prepay", sa.JSON(), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("payer_total_fen", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_payments_buyer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("open_key", name=op.f("uq_payments_open_key")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_payments_out_trade_no")),
    )
    op.create_index(op.f("ix_payments_buyer_id"), "payments", ["buyer_id"], unique=False)
    op.create_index(op.f("ix_payments_created_at"), "payments", ["created_at"], unique=False)
    op.create_index(op.f("ix_payments_status"), "payments", ["status"], unique=False)
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_orders_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_orders")),
        sa.UniqueConstraint(
            "payment_id", "order_id", name=op.f("uq_payment_orders_payment_id_order_id")
        ),
    )
    op.create_index(
        op.f("ix_payment_orders_order_id"), "payment_orders", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_orders_payment_id"), "payment_orders", ["payment_id"], unique=False
    )
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("settles_order", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "processing",
                "succeeded",
                "failed",
                name="refundstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_payment_refunds_out_refund_no")),
        sa.UniqueConstraint(
            "payment_id", "order_id", "ref", name=op.f("uq_payment_refunds_payment_id_order_id_ref")
        ),
    )
    op.create_index(
        op.f("ix_payment_refunds_order_id"), "payment_refunds", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_refunds_payment_id"), "payment_refunds", ["payment_id"], unique=False
    )
    op.create_index(op.f("ix_payment_refunds_status"), "payment_refunds", ["status"], unique=False)
    op.create_table(
        "payment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_payment_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_events_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["payment_refunds.id"],
            name=op.f("fk_payment_events_refund_id_payment_refunds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    op.create_index(
        op.f("ix_payment_events_payment_id"), "payment_events", ["payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_events_refund_id"), "payment_events", ["refund_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_events_refund_id"), table_name="payment_events")
    op.drop_index(op.f("ix_payment_events_payment_id"), table_name="payment_events")
    op.drop_table("payment_events")
    op.drop_index(op.f("ix_payment_refunds_status"), table_name="payment_refunds")
    op.drop_index(op.f("ix_payment_refunds_payment_id"), table_name="payment_refunds")
    op.drop_index(op.f("ix_payment_refunds_order_id"), table_name="payment_refunds")
    op.drop_table("payment_refunds")
    op.drop_index(op.f("ix_payment_orders_payment_id"), table_name="payment_orders")
    op.drop_index(op.f("ix_payment_orders_order_id"), table_name="payment_orders")
    op.drop_table("payment_orders")
    op.drop_index(op.f("ix_payments_status"), table_name="payments")
    op.drop_index(op.f("ix_payments_created_at"), table_name="payments")
    op.drop_index(op.f("ix_payments_buyer_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_table("sandbox_trades")
    op.drop_index(op.f("ix_sandbox_refunds_out_trade_no"), table_name="sandbox_refunds")
    op.drop_table("sandbox_refunds")
    op.drop_index(op.f("ix_sandbox_deliveries_status"), table_name="sandbox_deliveries")
    op.drop_index(op.f("ix_sandbox_deliveries_out_trade_no"), table_name="sandbox_deliveries")
    op.drop_index(op.f("ix_sandbox_deliveries_next_attempt_at"), table_name="sandbox_deliveries")
    op.drop_table("sandbox_deliveries")
    op.drop_table("payment_processed_notifications")
    op.drop_index(
        op.f("ix_payment_notification_log_received_at"), table_name="payment_notification_log"
    )
    op.drop_index(
        op.f("ix_payment_notification_log_out_trade_no"), table_name="payment_notification_log"
    )
    op.drop_index(
        op.f("ix_payment_notification_log_notification_id"), table_name="payment_notification_log"
    )
    op.drop_table("payment_notification_log")

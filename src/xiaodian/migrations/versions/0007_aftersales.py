"""after-sales cases and their events

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aftersale_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("open_key", sa.String(length=40), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "refund_only",
                "return_refund",
                "exchange",
                name="casekind",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "rejected",
                "escalated",
                "awaiting_return",
                "returned",
                "refunding",
                "refunded",
                "reshipped",
                "completed",
                "closed",
                "cancelled",
                name="casestatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "no_longer_wanted",
                "wrong_item_ordered",
                "quality",
                "not_as_described",
                "missing_items",
                "other",
                name="casereason",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("spec_text", sa.String(length=200), nullable=False),
        sa.Column("thumb_path", sa.String(length=300), nullable=True),
        sa.Column("requested_fen", sa.Integer(), nullable=False),
        sa.Column("approved_fen", sa.Integer(), nullable=True),
        sa.Column("refunded_fen", sa.Integer(), nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("return_carrier", sa.String(length=20), nullable=True),
        sa.Column("return_tracking_no", sa.String(length=40), nullable=True),
        sa.Column("reship_carrier", sa.String(length=20), nullable=True),
        sa.Column("reship_tracking_no", sa.String(length=40), nullable=True),
        sa.Column("restocked", sa.Boolean(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("respond_by", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rejected_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reshipped_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "approved_fen IS NULL OR approved_fen >= 0",
            name=op.f("ck_aftersale_cases_approved_nonnegative"),
        ),
        sa.CheckConstraint(
            "quantity IS NULL OR quantity > 0", name=op.f("ck_aftersale_cases_quantity_positive")
        ),
        sa.CheckConstraint(
            "refunded_fen >= 0", name=op.f("ck_aftersale_cases_refunded_nonnegative")
        ),
        sa.CheckConstraint(
            "requested_fen >= 0", name=op.f("ck_aftersale_cases_requested_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_aftersale_cases_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_aftersale_cases_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_aftersale_cases_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_aftersale_cases_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersale_cases")),
        sa.UniqueConstraint("open_key", name=op.f("uq_aftersale_cases_open_key")),
    )
    op.create_index(
        "ix_aftersale_cases_buyer_created",
        "aftersale_cases",
        ["buyer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_aftersale_cases_line_id"), "aftersale_cases", ["line_id"], unique=False
    )
    op.create_index(
        op.f("ix_aftersale_cases_order_id"), "aftersale_cases", ["order_id"], unique=False
    )
    op.create_index(
        "ix_aftersale_cases_shop_status_created",
        "aftersale_cases",
        ["shop_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_aftersale_cases_status_respond_by",
        "aftersale_cases",
        ["status", "respond_by"],
        unique=False,
    )
    op.create_table(
        "aftersale_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=True),
        sa.Column("to_status", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_aftersale_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersale_cases.id"],
            name=op.f("fk_aftersale_events_case_id_aftersale_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersale_events")),
    )
    op.create_index(
        op.f("ix_aftersale_events_case_id"), "aftersale_events", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_aftersale_events_case_id"), table_name="aftersale_events")
    op.drop_table("aftersale_events")
    op.drop_index("ix_aftersale_cases_status_respond_by", table_name="aftersale_cases")
    op.drop_index("ix_aftersale_cases_shop_status_created", table_name="aftersale_cases")
    op.drop_index(op.f("ix_aftersale_cases_order_id"), table_name="aftersale_cases")
    op.drop_index(op.f("ix_aftersale_cases_line_id"), table_name="aftersale_cases")
    op.drop_index("ix_aftersale_cases_buyer_created", table_name="aftersale_cases")
    op.drop_table("aftersale_cases")

"""carts, addresses, orders, order lines and events, checkout keys, applied refunds

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("province", sa.String(length=20), nullable=False),
        sa.Column("city", sa.String(length=20), nullable=False),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=120), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_addresses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_user_id"), "addresses", ["user_id"], unique=False)
    op.create_table(
        "checkout_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["users.id"],
            name=op.f("fk_checkout_requests_buyer_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_requests")),
        sa.UniqueConstraint("buyer_id", "key", name=op.f("uq_checkout_requests_buyer_id_key")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending_payment",
                "paid",
                "shipped",
                "completed",
                "cancelled",
                "closed",
                name="orderstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("items_fen", sa.Integer(), nullable=False),
        sa.Column("shipping_fen", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.Integer(), nullable=False),
        sa.Column("refunded_fen", sa.Integer(), nullable=False),
        sa.Column("aftersale_open", sa.Boolean(), nullable=False),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("channel_ref_id", sa.Integer(), nullable=True),
        sa.Column("promoter_id", sa.Integer(), nullable=True),
        sa.Column("carrier", sa.String(length=20), nullable=True),
        sa.Column("tracking_no", sa.String(length=40), nullable=True),
        sa.Column("pay_deadline", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("items_fen >= 0", name=op.f("ck_orders_items_nonnegative")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= paid_fen", name=op.f("ck_orders_refund_capped")
        ),
        sa.CheckConstraint("shipping_fen >= 0", name=op.f("ck_orders_shipping_nonnegative")),
        sa.CheckConstraint(
            "total_fen = items_fen + shipping_fen", name=op.f("ck_orders_total_sum")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_orders_buyer_id_users")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_orders_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_no", name=op.f("uq_orders_order_no")),
    )
    op.create_index("ix_orders_buyer_created", "orders", ["buyer_id", "created_at"], unique=False)
    op.create_index(
        "ix_orders_shop_status_created", "orders", ["shop_id", "status", "created_at"], unique=False
    )
    op.create_index("ix_orders_status_deadline", "orders", ["status", "pay_deadline"], unique=False)
    op.create_index("ix_orders_status_shipped", "orders", ["status", "shipped_at"], unique=False)
    op.create_table(
        "order_applied_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("refund_ref", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_order_applied_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_applied_refunds_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_applied_refunds")),
        sa.UniqueConstraint(
            "order_id", "refund_ref", name=op.f("uq_order_applied_refunds_order_id_refund_ref")
        ),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=True),
        sa.Column("to_status", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_order_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"], unique=False)
    op.create_table(
        "cart_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("selected", sa.Boolean(), nullable=False),
        sa.Column("added_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_items_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["users.id"],
            name=op.f("fk_cart_items_buyer_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_cart_items_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_items")),
        sa.UniqueConstraint("buyer_id", "sku_id", name=op.f("uq_cart_items_buyer_id_sku_id")),
    )
    op.create_index(op.f("ix_cart_items_buyer_id"), "cart_items", ["buyer_id"], unique=False)
    op.create_index(op.f("ix_cart_items_sku_id"), "cart_items", ["sku_id"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("spec_text", sa.String(length=200), nullable=False),
        sa.Column("thumb_path", sa.String(length=300), nullable=True),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "unit_price_fen >= 0", name=op.f("ck_order_lines_unit_price_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_order_lines_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_order_id"), "order_lines", ["order_id"], unique=False)
    op.create_index(op.f("ix_order_lines_product_id"), "order_lines", ["product_id"], unique=False)
    op.create_index(op.f("ix_order_lines_sku_id"), "order_lines", ["sku_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_order_lines_sku_id"), table_name="order_lines")
    op.drop_index(op.f("ix_order_lines_product_id"), table_name="order_lines")
    op.drop_index(op.f("ix_order_lines_order_id"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index(op.f("ix_cart_items_sku_id"), table_name="cart_items")
    op.drop_index(op.f("ix_cart_items_buyer_id"), table_name="cart_items")
    op.drop_table("cart_items")
    op.drop_index(op.f("ix_order_events_order_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("order_applied_refunds")
    op.drop_index("ix_orders_status_shipped", table_name="orders")
    op.drop_index("ix_orders_status_deadline", table_name="orders")
    op.drop_index("ix_orders_shop_status_created", table_name="orders")
    op.drop_index("ix_orders_buyer_created", table_name="orders")
    op.drop_table("orders")
    op.drop_table("checkout_requests")
    op.drop_index(op.f("ix_addresses_user_id"), table_name="addresses")
    op.drop_table("addresses")

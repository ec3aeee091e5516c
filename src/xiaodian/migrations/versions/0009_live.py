"""live rooms, their products, events and comments, flash sales, the event outbox, stats

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_events")),
    )
    op.create_index(op.f("ix_live_events_created_at"), "live_events", ["created_at"], unique=False)
    op.create_table(
        "live_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("cover_path", sa.String(length=300), nullable=True),
        sa.Column("cover_thumb_path", sa.String(length=300), nullable=True),
        sa.Column("scheduled_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stream_url", sa.String(length=500), nullable=True),
        sa.Column("replay_url", sa.String(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum("scheduled", "live", "ended", name="roomstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("pinned_product_id", sa.Integer(), nullable=True),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("peak_viewers >= 0", name=op.f("ck_live_rooms_peak_nonnegative")),
        sa.ForeignKeyConstraint(
            ["host_id"], ["users.id"], name=op.f("fk_live_rooms_host_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["pinned_product_id"],
            ["products.id"],
            name=op.f("fk_live_rooms_pinned_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_live_rooms_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_rooms")),
    )
    op.create_index("ix_live_rooms_host_status", "live_rooms", ["host_id", "status"], unique=False)
    op.create_index(op.f("ix_live_rooms_shop_id"), "live_rooms", ["shop_id"], unique=False)
    op.create_index(
        "ix_live_rooms_status_scheduled", "live_rooms", ["status", "scheduled_at"], unique=False
    )
    op.create_table(
        "flash_sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("regular_price_fen", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "running", "stopped", name="salestatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("per_buyer_limit > 0", name=op.f("ck_flash_sales_limit_positive")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_flash_sales_price_positive")),
        sa.CheckConstraint(
            "quantity = sold + remaining", name=op.f("ck_flash_sales_quantity_balanced")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_flash_sales_quantity_nonnegative")),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_flash_sales_remaining_nonnegative")),
        sa.CheckConstraint("sold >= 0", name=op.f("ck_flash_sales_sold_nonnegative")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_flash_sales_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_flash_sales_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_flash_sales_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_flash_sales_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sales")),
    )
    op.create_index(op.f("ix_flash_sales_room_id"), "flash_sales", ["room_id"], unique=False)
    op.create_index(op.f("ix_flash_sales_sku_id"), "flash_sales", ["sku_id"], unique=False)
    op.create_table(
        "live_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=40), nullable=False),
        sa.Column("body", sa.String(length=200), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_comments_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_live_comments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_comments")),
    )
    op.create_index("ix_live_comments_room_id_id", "live_comments", ["room_id", "id"], unique=False)
    op.create_table(
        "live_product_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_live_product_stats_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_product_stats_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_product_stats")),
        sa.UniqueConstraint(
            "room_id", "product_id", name=op.f("uq_live_product_stats_room_id_product_id")
        ),
    )
    op.create_table(
        "live_room_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_live_room_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_room_events_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_room_events")),
    )
    op.create_index(
        op.f("ix_live_room_events_room_id"), "live_room_events", ["room_id"], unique=False
    )
    op.create_table(
        "live_room_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_live_room_products_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_room_products_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_room_products")),
        sa.UniqueConstraint(
            "room_id", "product_id", name=op.f("uq_live_room_products_room_id_product_id")
        ),
    )
    op.create_index(
        op.f("ix_live_room_products_product_id"), "live_room_products", ["product_id"], unique=False
    )
    op.create_table(
        "live_viewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("watch_seconds", sa.Integer(), nullable=False),
        sa.Column("first_seen", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_viewers_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_live_viewers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_viewers")),
        sa.UniqueConstraint(
            "room_id", "viewer_key", name=op.f("uq_live_viewers_room_id_viewer_key")
        ),
    )
    op.create_table(
        "flash_sale_buyers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("bought", sa.Integer(), nullable=False),
        sa.CheckConstraint("bought >= 0", name=op.f("ck_flash_sale_buyers_bought_nonnegative")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_flash_sale_buyers_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["flash_sales.id"],
            name=op.f("fk_flash_sale_buyers_sale_id_flash_sales"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sale_buyers")),
        sa.UniqueConstraint(
            "sale_id", "buyer_id", name=op.f("uq_flash_sale_buyers_sale_id_buyer_id")
        ),
    )
    op.create_index(
        op.f("ix_flash_sale_buyers_buyer_id"), "flash_sale_buyers", ["buyer_id"], unique=False
    )
    op.create_table(
        "flash_sale_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "live", "paid", "returned", name="flashorderstate", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_flash_sale_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_flash_sale_orders_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_flash_sale_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_flash_sale_orders_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["flash_sales.id"],
            name=op.f("fk_flash_sale_orders_sale_id_flash_sales"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sale_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_flash_sale_orders_order_id")),
    )
    op.create_index(
        op.f("ix_flash_sale_orders_sale_id"), "flash_sale_orders", ["sale_id"], unique=False
    )
    op.create_index(
        "ix_flash_sale_orders_state_created",
        "flash_sale_orders",
        ["state", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("live_product_stats")
    op.drop_table("live_viewers")
    op.drop_table("flash_sale_orders")
    op.drop_table("flash_sale_buyers")
    op.drop_table("live_comments")
    op.drop_table("live_room_events")
    op.drop_table("live_room_products")
    op.drop_table("flash_sales")
    op.drop_table("live_rooms")
    op.drop_table("live_events")

"""limited-time discounts (限时折扣): a shop's discounts and their SKUs

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("starts_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "cancelled", name="discountstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_discounts_window_ordered")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_discounts_created_by_users")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_discounts_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discounts")),
    )
    op.create_index("ix_discounts_shop_id", "discounts", ["shop_id", "id"])
    op.create_table(
        "discount_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discount_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("rate_percent", sa.Integer(), nullable=True),
        sa.Column("price_fen", sa.Integer(), nullable=True),
        sa.Column("starts_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(rate_percent IS NULL) <> (price_fen IS NULL)",
            name=op.f("ck_discount_items_rate_or_price"),
        ),
        sa.CheckConstraint(
            "rate_percent IS NULL OR (rate_percent >= 20 AND rate_percent <= 99)",
            name=op.f("ck_discount_items_rate_within_floor"),
        ),
        sa.CheckConstraint(
            "price_fen IS NULL OR price_fen > 0", name=op.f("ck_discount_items_price_positive")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_discount_items_window_ordered")),
        sa.ForeignKeyConstraint(
            ["discount_id"], ["discounts.id"], name=op.f("fk_discount_items_discount_id_discounts")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_discount_items_sku_id_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_items")),
        sa.UniqueConstraint(
            "discount_id", "sku_id", name=op.f("uq_discount_items_discount_id_sku_id")
        ),
    )
    op.create_index("ix_discount_items_sku", "discount_items", ["sku_id", "ends_at"])


def downgrade() -> None:
    op.drop_table("discount_items")
    op.drop_table("discounts")

"""price governance: every price a SKU has had (today's prices recorded as of now), and
flags of discounts priced above a SKU's 30-day lowest

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sku_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_sku_prices_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku_prices")),
    )
    op.create_index("ix_sku_prices_sku_at", "sku_prices", ["sku_id", "at"])
    op.execute(
        "INSERT INTO sku_prices (sku_id, price_fen, at) "
        "SELECT id, price_fen, CURRENT_TIMESTAMP FROM skus"
    )
    op.create_table(
        "price_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("lowest_fen", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_price_flags_resolved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_price_flags_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_price_flags_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_flags")),
    )
    op.create_index("ix_price_flags_open", "price_flags", ["resolved_at", "id"])
    op.create_index(op.f("ix_price_flags_shop_id"), "price_flags", ["shop_id"])


def downgrade() -> None:
    op.drop_table("price_flags")
    op.drop_table("sku_prices")

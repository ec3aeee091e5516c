"""checkout discounts: order lines and orders keep their discount and the platform's part;
coupons remember the orders they were used on

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("orders", "order_lines"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("discount_fen", sa.Integer(), server_default="0", nullable=False)
            )
            batch.add_column(
                sa.Column("subsidy_fen", sa.Integer(), server_default="0", nullable=False)
            )
    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("discount_fen", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("returned_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "discount_fen >= 0", name=op.f("ck_coupon_redemptions_discount_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_redemptions_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupon_redemptions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_coupon_redemptions_buyer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
        sa.UniqueConstraint(
            "coupon_id", "order_id", name=op.f("uq_coupon_redemptions_coupon_id_order_id")
        ),
    )
    op.create_index("ix_coupon_redemptions_order_id", "coupon_redemptions", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_coupon_redemptions_order_id", table_name="coupon_redemptions")
    op.drop_table("coupon_redemptions")
    for table in ("order_lines", "orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("subsidy_fen")
            batch.drop_column("discount_fen")

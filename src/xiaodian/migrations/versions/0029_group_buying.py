"""group buying (拼团): offers, groups and their members; orders held while a group forms

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "group_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "stopped", name="groupofferstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("hours >= 1 AND hours <= 72", name=op.f("ck_group_offers_hours_range")),
        sa.CheckConstraint("per_buyer_limit >= 1", name=op.f("ck_group_offers_limit_positive")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_group_offers_price_positive")),
        sa.CheckConstraint("size >= 2 AND size <= 10", name=op.f("ck_group_offers_size_range")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_group_offers_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_group_offers_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_group_offers_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_offers")),
    )
    op.create_index("ix_group_offers_product", "group_offers", ["product_id", "status"])
    op.create_index(op.f("ix_group_offers_shop_id"), "group_offers", ["shop_id"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("leader_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "succeeded", "expired", name="groupstatus", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("paid >= 0 AND paid <= size", name=op.f("ck_groups_paid_within_size")),
        sa.ForeignKeyConstraint(
            ["leader_id"], ["users.id"], name=op.f("fk_groups_leader_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["group_offers.id"], name=op.f("fk_groups_offer_id_group_offers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_index("ix_groups_due", "groups", ["status", "expires_at"])
    op.create_index("ix_groups_offer", "groups", ["offer_id", "status"])
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "paid",
                "late",
                "refunding",
                "cancelled",
                name="memberstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("joined_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_group_members_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_group_members_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_members")),
        sa.UniqueConstraint(
            "group_id", "buyer_id", name=op.f("uq_group_members_group_id_buyer_id")
        ),
        sa.UniqueConstraint("order_id", name=op.f("uq_group_members_order_id")),
    )
    op.create_index("ix_group_members_status", "group_members", ["status", "group_id"])
    op.create_index(op.f("ix_group_members_offer_id"), "group_members", ["offer_id"])


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("group_offers")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("held")

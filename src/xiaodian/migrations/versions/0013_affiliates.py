"""affiliates: plans, links, clicks, locks, rules, touches

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "affiliate_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("product", "shop", "content", name="linkkind", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promoter_id"], ["users.id"], name=op.f("fk_affiliate_links_promoter_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_affiliate_links_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_links")),
        sa.UniqueConstraint("code", name=op.f("uq_affiliate_links_code")),
        sa.UniqueConstraint(
            "promoter_id",
            "shop_id",
            "product_id",
            "kind",
            name=op.f("uq_affiliate_links_promoter_id_shop_id_product_id_kind"),
        ),
    )
    op.create_table(
        "affiliate_shop_rules",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_days", sa.Integer(), nullable=False),
        sa.Column("product_order_days", sa.Integer(), nullable=False),
        sa.Column("content_days", sa.Integer(), nullable=False),
        sa.Column("content_order_days", sa.Integer(), nullable=False),
        sa.Column("allow_self_purchase", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_affiliate_shop_rules_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_affiliate_shop_rules")),
    )
    op.create_table(
        "affiliate_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=40), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["affiliate_links.id"],
            name=op.f("fk_affiliate_clicks_link_id_affiliate_links"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_clicks")),
    )
    op.create_index(
        "ix_affiliate_clicks_link_visitor",
        "affiliate_clicks",
        ["link_id", "visitor", "at"],
        unique=False,
    )
    op.create_table(
        "affiliate_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("product", "shop", "content", name="linkkind", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("clicked_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["affiliate_links.id"],
            name=op.f("fk_affiliate_locks_link_id_affiliate_links"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_locks")),
        sa.UniqueConstraint(
            "visitor",
            "shop_id",
            "product_id",
            name=op.f("uq_affiliate_locks_visitor_shop_id_product_id"),
        ),
    )
    op.create_table(
        "affiliate_order_touches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("lock_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("rate_pct", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("extends_until", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_affiliate_order_touches_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_order_touches")),
        sa.UniqueConstraint(
            "order_id", "product_id", name=op.f("uq_affiliate_order_touches_order_id_product_id")
        ),
    )
    op.create_index(
        "ix_affiliate_order_touches_lock_id",
        "affiliate_order_touches",
        ["lock_id", "extends_until"],
        unique=False,
    )
    op.create_index(
        "ix_affiliate_order_touches_promoter_id",
        "affiliate_order_touches",
        ["promoter_id", "id"],
        unique=False,
    )
    op.create_table(
        "affiliate_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("open", "targeted", "exclusive", name="plankind", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("rate_pct", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_pct >= 0 AND rate_pct <= 90", name=op.f("ck_affiliate_plans_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_affiliate_plans_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["promoter_id"], ["users.id"], name=op.f("fk_affiliate_plans_promoter_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_affiliate_plans_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_plans")),
        sa.UniqueConstraint("product_id", "kind", name=op.f("uq_affiliate_plans_product_id_kind")),
    )
    op.create_index(
        "ix_affiliate_plans_shop_id", "affiliate_plans", ["shop_id", "id"], unique=False
    )
    op.create_table(
        "affiliate_plan_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=False),
        sa.Column("rate_pct", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_pct >= 0 AND rate_pct <= 90", name=op.f("ck_affiliate_plan_invites_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["affiliate_plans.id"],
            name=op.f("fk_affiliate_plan_invites_plan_id_affiliate_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["promoter_id"], ["users.id"], name=op.f("fk_affiliate_plan_invites_promoter_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_plan_invites")),
        sa.UniqueConstraint(
            "plan_id", "promoter_id", name=op.f("uq_affiliate_plan_invites_plan_id_promoter_id")
        ),
    )
    op.create_table(
        "affiliate_commissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("paid_fen", sa.Integer(), nullable=False),
        sa.Column("full_fen", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("clawed_fen", sa.Integer(), nullable=False),
        sa.Column("refunded_fen", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "released", "void", name="commissionstatus", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("expected_available_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount_fen >= 0 AND full_fen >= amount_fen",
            name=op.f("ck_affiliate_commissions_amount_range"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_affiliate_commissions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["promoter_id"], ["users.id"], name=op.f("fk_affiliate_commissions_promoter_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_commissions")),
        sa.UniqueConstraint(
            "order_id", "promoter_id", name=op.f("uq_affiliate_commissions_order_id_promoter_id")
        ),
    )
    op.create_index(
        "ix_affiliate_commissions_promoter_id",
        "affiliate_commissions",
        ["promoter_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("affiliate_commissions")
    op.drop_table("affiliate_plan_invites")
    op.drop_table("affiliate_plans")
    op.drop_table("affiliate_order_touches")
    op.drop_table("affiliate_locks")
    op.drop_table("affiliate_clicks")
    op.drop_table("affiliate_shop_rules")
    op.drop_table("affiliate_links")

"""campaigns: coupon templates, claimers and coupons

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "threshold",
                "percent",
                "no_threshold",
                name="couponkind",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "level",
            sa.Enum(
                "product", "shop", "platform", name="couponlevel", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("off_fen", sa.Integer(), nullable=False),
        sa.Column("rate_percent", sa.Integer(), nullable=False),
        sa.Column("cap_fen", sa.Integer(), nullable=False),
        sa.Column("min_spend_fen", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "all", "categories", "products", name="couponscope", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("scope_ids", sa.JSON(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column("budget_fen", sa.Integer(), nullable=True),
        sa.Column("committed_fen", sa.Integer(), nullable=False),
        sa.Column("starts_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "stopped", name="templatestatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "budget_fen IS NULL OR committed_fen <= budget_fen",
            name=op.f("ck_coupon_templates_committed_within_budget"),
        ),
        sa.CheckConstraint("cap_fen >= 0", name=op.f("ck_coupon_templates_cap_nonnegative")),
        sa.CheckConstraint(
            "committed_fen >= 0", name=op.f("ck_coupon_templates_committed_nonnegative")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_coupon_templates_window_ordered")),
        sa.CheckConstraint(
            "issued >= 0 AND issued <= quantity",
            name=op.f("ck_coupon_templates_issued_within_quantity"),
        ),
        sa.CheckConstraint(
            "min_spend_fen >= 0", name=op.f("ck_coupon_templates_min_spend_nonnegative")
        ),
        sa.CheckConstraint(
            "off_fen >= 0 AND off_fen <= 20000", name=op.f("ck_coupon_templates_off_within_floor")
        ),
        sa.CheckConstraint("per_buyer_limit > 0", name=op.f("ck_coupon_templates_limit_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_coupon_templates_quantity_positive")),
        sa.CheckConstraint(
            "rate_percent >= 20 AND rate_percent <= 100",
            name=op.f("ck_coupon_templates_rate_within_floor"),
        ),
        sa.CheckConstraint(
            "valid_days IS NULL OR valid_days > 0",
            name=op.f("ck_coupon_templates_valid_days_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_coupon_templates_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_coupon_templates_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
    )
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_templates_shop_id", ["shop_id", "id"], unique=False)

    op.create_table(
        "coupon_claimers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.CheckConstraint("claimed > 0", name=op.f("ck_coupon_claimers_claimed_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_coupon_claimers_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupon_claimers_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_claimers")),
        sa.UniqueConstraint(
            "template_id", "buyer_id", name=op.f("uq_coupon_claimers_template_id_buyer_id")
        ),
    )
    with op.batch_alter_table("coupon_claimers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupon_claimers_buyer_id"), ["buyer_id"], unique=False)

    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("unused", "used", name="couponstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("claimed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_from", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_coupons_buyer_id_users")),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupons_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index("ix_coupons_buyer_status", ["buyer_id", "status"], unique=False)
        batch_op.create_index("ix_coupons_template_id", ["template_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_coupons_template_id")
        batch_op.drop_index("ix_coupons_buyer_status")

    op.drop_table("coupons")
    with op.batch_alter_table("coupon_claimers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_claimers_buyer_id"))

    op.drop_table("coupon_claimers")
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_templates_shop_id")

    op.drop_table("coupon_templates")

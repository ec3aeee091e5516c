"""buyer reviews (评价), their figures per product and shop, and merchant health (体验分)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_health",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("window_start", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("lowered_by", sa.JSON(), nullable=False),
        sa.Column("computed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_shop_health_score_range")),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shop_health_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_health")),
    )
    op.create_index("ix_shop_health_score", "shop_health", ["score"], unique=False)

    op.create_table(
        "shop_review_figures",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("service_star_sum", sa.Integer(), nullable=False),
        sa.Column("logistics_star_sum", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("product_star_sum", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "logistics_star_sum BETWEEN review_count AND 5 * review_count",
            name=op.f("ck_shop_review_figures_logistics_sum_range"),
        ),
        sa.CheckConstraint(
            "product_star_sum BETWEEN item_count AND 5 * item_count",
            name=op.f("ck_shop_review_figures_product_sum_range"),
        ),
        sa.CheckConstraint(
            "service_star_sum BETWEEN review_count AND 5 * review_count",
            name=op.f("ck_shop_review_figures_service_sum_range"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shop_review_figures_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_review_figures")),
    )
    op.create_table(
        "product_review_figures",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("star_sum", sa.Integer(), nullable=False),
        sa.Column("photo_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "photo_count >= 0 AND photo_count <= review_count",
            name=op.f("ck_product_review_figures_photo_count_range"),
        ),
        sa.CheckConstraint(
            "star_sum BETWEEN review_count AND 5 * review_count",
            name=op.f("ck_product_review_figures_star_sum_range"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_review_figures_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_review_figures")),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("author_name", sa.String(length=40), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("service_stars", sa.Integer(), nullable=False),
        sa.Column("logistics_stars", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "logistics_stars BETWEEN 1 AND 5", name=op.f("ck_reviews_logistics_stars_range")
        ),
        sa.CheckConstraint(
            "service_stars BETWEEN 1 AND 5", name=op.f("ck_reviews_service_stars_range")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_reviews_buyer_id_users")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reviews_order_id_orders")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_reviews_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("order_id", name=op.f("uq_reviews_order_id")),
    )
    op.create_index("ix_reviews_buyer_id", "reviews", ["buyer_id"], unique=False)
    op.create_index("ix_reviews_shop_created", "reviews", ["shop_id", "created_at"], unique=False)

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("spec_text", sa.String(length=200), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("has_photos", sa.Boolean(), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.Column("follow_up_text", sa.Text(), nullable=True),
        sa.Column("follow_up_photos", sa.JSON(), nullable=False),
        sa.Column("follow_up_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("reply_by", sa.Integer(), nullable=True),
        sa.Column("reply_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("helpful_count", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("helpful_count >= 0", name=op.f("ck_review_items_helpful_nonnegative")),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_review_items_stars_range")),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_review_items_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_review_items_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["reply_by"], ["users.id"], name=op.f("fk_review_items_reply_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_items_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_review_items_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("order_line_id", name=op.f("uq_review_items_order_line_id")),
    )
    op.create_index(
        "ix_review_items_product_created",
        "review_items",
        ["product_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_review_items_product_helpful",
        "review_items",
        ["product_id", "helpful_count"],
        unique=False,
    )
    op.create_index("ix_review_items_review_id", "review_items", ["review_id"], unique=False)
    op.create_index(
        "ix_review_items_shop_created", "review_items", ["shop_id", "created_at"], unique=False
    )

    op.create_table(
        "review_helpful_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_review_helpful_votes_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_review_helpful_votes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_helpful_votes")),
        sa.UniqueConstraint(
            "item_id", "user_id", name=op.f("uq_review_helpful_votes_item_id_user_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("review_helpful_votes")
    for name in (
        "ix_review_items_shop_created",
        "ix_review_items_review_id",
        "ix_review_items_product_helpful",
        "ix_review_items_product_created",
    ):
        op.drop_index(name, table_name="review_items")
    op.drop_table("review_items")
    op.drop_index("ix_reviews_shop_created", table_name="reviews")
    op.drop_index("ix_reviews_buyer_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("product_review_figures")
    op.drop_table("shop_review_figures")
    op.drop_index("ix_shop_health_score", table_name="shop_health")
    op.drop_table("shop_health")

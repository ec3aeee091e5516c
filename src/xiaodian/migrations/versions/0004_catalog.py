"""products, specs, images, SKUs, stock log, product events

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "under_review",
                "on_sale",
                "off_shelf",
                "rejected",
                name="productstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("screening_hits", sa.JSON(), nullable=False),
        sa.Column("purchase_limit", sa.Integer(), nullable=True),
        sa.Column("return_days", sa.Integer(), nullable=False),
        sa.Column("min_price_fen", sa.Integer(), nullable=False),
        sa.Column("sales_count", sa.Integer(), nullable=False),
        sa.Column("cover_path", sa.String(length=300), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_products_category_id_categories")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_products_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index("ix_products_category_id", "products", ["category_id"], unique=False)
    op.create_index("ix_products_shop_id", "products", ["shop_id"], unique=False)
    op.create_index("ix_products_shop_status", "products", ["shop_id", "status"], unique=False)
    op.create_index(
        "ix_products_status_created", "products", ["status", "created_at"], unique=False
    )
    op.create_table(
        "product_specs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_specs_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_specs")),
    )
    op.create_index("ix_product_specs_product_id", "product_specs", ["product_id"], unique=False)
    op.create_table(
        "product_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("thumb_path", sa.String(length=300), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_images_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_images")),
    )
    op.create_index("ix_product_images_product_id", "product_images", ["product_id"], unique=False)
    op.create_table(
        "skus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("spec_values", sa.JSON(), nullable=False),
        sa.Column("spec_key", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("list_price_fen", sa.Integer(), nullable=True),
        sa.Column("weight_g", sa.Integer(), nullable=False),
        sa.Column("stock_on_hand", sa.Integer(), nullable=False),
        sa.Column("stock_reserved", sa.Integer(), nullable=False),
        sa.Column("stock_sold", sa.Integer(), nullable=False),
        sa.Column("stock_received", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_skus_price_positive")),
        sa.CheckConstraint("stock_on_hand >= 0", name=op.f("ck_skus_stock_on_hand_nonnegative")),
        sa.CheckConstraint("stock_reserved >= 0", name=op.f("ck_skus_stock_reserved_nonnegative")),
        sa.CheckConstraint("stock_sold >= 0", name=op.f("ck_skus_stock_sold_nonnegative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_skus_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skus")),
        sa.UniqueConstraint("product_id", "spec_key", name=op.f("uq_skus_product_id_spec_key")),
    )
    op.create_index("ix_skus_product_id", "skus", ["product_id"], unique=False)
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_stock_movements_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_stock_movements_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index("ix_stock_movements_sku_id", "stock_movements", ["sku_id"], unique=False)
    op.create_table(
        "product_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_product_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_events_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_events")),
    )
    op.create_index("ix_product_events_product_id", "product_events", ["product_id"], unique=False)
    _create_search_index()


def _create_search_index() -> None:
    """Chinese text search: FTS5 trigram on SQLite, pg_trgm (for ILIKE) on PostgreSQL.

    Trigrams match any substring of 3+ characters, so 连衣裙 finds 夏季碎花连衣裙
    without a word segmenter.
    """
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE products_fts USING fts5("
            "title, description, content='products', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN "
            "INSERT INTO products_fts(rowid, title, description) "
            "VALUES (new.id, new.title, new.description); END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN "
            "INSERT INTO products_fts(products_fts, rowid, title, description) "
            "VALUES ('delete', old.id, old.title, old.description); END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_au AFTER UPDATE OF title, description ON products BEGIN "
            "INSERT INTO products_fts(products_fts, rowid, title, description) "
            "VALUES ('delete', old.id, old.title, old.description); "
            "INSERT INTO products_fts(rowid, title, description) "
            "VALUES (new.id, new.title, new.description); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_products_title_trgm ON products USING gin (title gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS products_fts")
    op.drop_table("product_events")
    op.drop_table("stock_movements")
    op.drop_table("skus")
    op.drop_table("product_images")
    op.drop_table("product_specs")
    op.drop_table("products")

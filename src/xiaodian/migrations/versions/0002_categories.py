"""the two-level category tree

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Reference data every deployment needs: a two-level retail category tree.
TREE = [
    (
        "womens-apparel",
        "女装",
        "Women's Apparel",
        [
            ("dresses", "连衣裙", "Dresses"),
            ("womens-tops", "T恤/上衣", "Tops & T-shirts"),
            ("womens-coats", "外套", "Coats & Jackets"),
            ("skirts", "半身裙", "Skirts"),
        ],
    ),
    (
        "mens-apparel",
        "男装",
        "Men's Apparel",
        [
            ("mens-tshirts", "T恤", "T-shirts"),
            ("mens-shirts", "衬衫", "Shirts"),
            ("mens-pants", "裤子", "Trousers"),
            ("mens-coats", "夹克/外套", "Jackets & Coats"),
        ],
    ),
    (
        "food",
        "食品生鲜",
        "Food & Fresh",
        [
            ("tea", "茶叶", "Tea"),
            ("snacks", "休闲零食", "Snacks"),
            ("fruit", "新鲜水果", "Fresh Fruit"),
            ("grain-oil", "米面粮油", "Rice, Flour & Oil"),
        ],
    ),
    (
        "beauty",
        "美妆护肤",
        "Beauty & Skincare",
        [
            ("skincare", "面部护肤", "Skincare"),
            ("makeup", "彩妆", "Makeup"),
            ("fragrance", "香水", "Fragrance"),
        ],
    ),
    (
        "home",
        "家居家纺",
        "Home & Textiles",
        [
            ("bedding", "床上用品", "Bedding"),
            ("kitchenware", "厨房用具", "Kitchenware"),
            ("storage", "收纳整理", "Storage"),
        ],
    ),
    (
        "digital",
        "数码家电",
        "Electronics",
        [
            ("phone-accessories", "手机配件", "Phone Accessories"),
            ("audio", "耳机音箱", "Audio"),
            ("small-appliances", "生活电器", "Small Appliances"),
        ],
    ),
    (
        "mother-baby",
        "母婴",
        "Mother & Baby",
        [
            ("baby-clothing", "童装", "Kids' Clothing"),
            ("toys", "玩具", "Toys"),
        ],
    ),
    (
        "crafts",
        "文创手作",
        "Crafts & Stationery",
        [
            ("stationery", "文具", "Stationery"),
            ("handmade", "手工艺品", "Handmade"),
            ("ceramics", "陶瓷茶具", "Ceramics & Teaware"),
        ],
    ),
]

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name_zh", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["categories.id"], name=op.f("fk_categories_parent_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    op.create_index("ix_categories_parent_id", "categories", ["parent_id"], unique=False)
    categories = sa.table(
        "categories",
        sa.column("id", sa.Integer),
        sa.column("parent_id", sa.Integer),
        sa.column("slug", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("position", sa.Integer),
    )
    rows, next_id = [], 1
    for top_pos, (slug, zh, en, leaves) in enumerate(TREE):
        top_id = next_id
        rows.append(
            dict(id=top_id, parent_id=None, slug=slug, name_zh=zh, name_en=en, position=top_pos)
        )
        next_id += 1
        for pos, (leaf_slug, leaf_zh, leaf_en) in enumerate(leaves):
            rows.append(
                dict(
                    id=next_id,
                    parent_id=top_id,
                    slug=leaf_slug,
                    name_zh=leaf_zh,
                    name_en=leaf_en,
                    position=pos,
                )
            )
            next_id += 1
    op.bulk_insert(categories, rows)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('categories', 'id'), {next_id - 1})")


def downgrade() -> None:
    op.drop_table("categories")

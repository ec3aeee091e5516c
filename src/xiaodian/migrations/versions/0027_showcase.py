"""creators' showcases (橱窗): the products each creator picked, with their tracked link

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "showcase_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_showcase_items_creator_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["affiliate_links.id"],
            name=op.f("fk_showcase_items_link_id_affiliate_links"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_showcase_items_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_showcase_items")),
        sa.UniqueConstraint(
            "creator_id", "product_id", name=op.f("uq_showcase_items_creator_id_product_id")
        ),
    )
    op.create_index("ix_showcase_items_creator", "showcase_items", ["creator_id", "position"])


def downgrade() -> None:
    op.drop_table("showcase_items")

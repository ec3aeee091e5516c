"""samples: a creator's request for a sample of a product in a plan (寄样), answered by the
shop; approved, a zero-price order

Revision ID: 0035
Revises: 0034
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'requested'")


def upgrade() -> None:
    op.create_table(
        "sample_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "declined",
                name="samplestatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_sample_requests_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_sample_requests_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_sample_requests_creator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_sample_requests_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_requests")),
    )
    op.create_index("ix_sample_requests_shop", "sample_requests", ["shop_id", "id"])
    op.create_index("ix_sample_requests_creator", "sample_requests", ["creator_id", "id"])
    op.create_index(
        "uq_sample_requests_open",
        "sample_requests",
        ["creator_id", "product_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_table("sample_requests")

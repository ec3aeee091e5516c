"""shipping templates (运费模板) of shops, and the template a product ships by

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logistics_shipping_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("first_units", sa.Integer(), nullable=False),
        sa.Column("first_fen", sa.Integer(), nullable=False),
        sa.Column("extra_units", sa.Integer(), nullable=False),
        sa.Column("extra_fen", sa.Integer(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("free_over_fen", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "free_over_fen IS NULL OR free_over_fen >= 1",
            name=op.f("ck_logistics_shipping_templates_free_over_positive"),
        ),
        sa.CheckConstraint(
            "method IN ('piece', 'weight')",
            name=op.f("ck_logistics_shipping_templates_method_known"),
        ),
        sa.CheckConstraint(
            "first_units >= 1 AND extra_units >= 1 AND first_fen >= 0 AND extra_fen >= 0",
            name=op.f("ck_logistics_shipping_templates_rule_sane"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_logistics_shipping_templates_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_shipping_templates")),
    )
    op.create_index(
        op.f("ix_logistics_shipping_templates_shop_id"),
        "logistics_shipping_templates",
        ["shop_id"],
    )
    op.create_index(
        "uq_logistics_shipping_templates_default",
        "logistics_shipping_templates",
        ["shop_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("shipping_template_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("shipping_template_id")
    op.drop_index("uq_logistics_shipping_templates_default", "logistics_shipping_templates")
    op.drop_index(op.f("ix_logistics_shipping_templates_shop_id"), "logistics_shipping_templates")
    op.drop_table("logistics_shipping_templates")

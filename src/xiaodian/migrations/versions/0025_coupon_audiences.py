"""coupons' audiences: everyone, new buyers only, or one live room's viewers while it is
on air

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coupon_templates") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(length=12), server_default="everyone", nullable=False)
        )
        batch.add_column(sa.Column("room_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_coupon_templates_room_id"), "coupon_templates", ["room_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_coupon_templates_room_id"), table_name="coupon_templates")
    with op.batch_alter_table("coupon_templates") as batch:
        batch.drop_column("room_id")
        batch.drop_column("audience")

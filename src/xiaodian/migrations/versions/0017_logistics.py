"""logistics: parcels and their tracking events; orders.delivered_at (签收)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("delivered_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_orders_status_delivered", "orders", ["status", "delivered_at"], unique=False
    )
    op.create_table(
        "logistics_parcels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=20), nullable=False),
        sa.Column("tracking_no", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=4), nullable=True),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("signed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_logistics_parcels_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_logistics_parcels_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_parcels")),
        sa.UniqueConstraint("order_id", name=op.f("uq_logistics_parcels_order_id")),
    )
    op.create_index(
        "ix_logistics_parcels_tracking",
        "logistics_parcels",
        ["carrier", "tracking_no"],
        unique=False,
    )
    op.create_index(
        "ix_logistics_parcels_shop_open",
        "logistics_parcels",
        ["shop_id", "finished", "last_event_at"],
        unique=False,
    )
    op.create_table(
        "logistics_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parcel_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parcel_id"],
            ["logistics_parcels.id"],
            name=op.f("fk_logistics_events_parcel_id_logistics_parcels"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistics_events")),
        sa.UniqueConstraint("parcel_id", "key", name=op.f("uq_logistics_events_parcel_id_key")),
    )
    op.create_index(
        op.f("ix_logistics_events_parcel_id"), "logistics_events", ["parcel_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_logistics_events_parcel_id"), table_name="logistics_events")
    op.drop_table("logistics_events")
    op.drop_index("ix_logistics_parcels_shop_open", table_name="logistics_parcels")
    op.drop_index("ix_logistics_parcels_tracking", table_name="logistics_parcels")
    op.drop_table("logistics_parcels")
    op.drop_index("ix_orders_status_delivered", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("delivered_at")

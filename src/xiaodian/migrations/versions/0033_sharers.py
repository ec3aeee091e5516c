"""sharers (分享员): a shop's invitations (to an account, or an invite QR code valid 15
days) and its bound sharers; agencies (机构) and their member creators

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_BOUND = sa.text("unbound_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "sharer_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_sharer_invites_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_sharer_invites_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sharer_invites_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharer_invites")),
        sa.UniqueConstraint("code", name=op.f("uq_sharer_invites_code")),
    )
    op.create_index("ix_sharer_invites_user", "sharer_invites", ["user_id", "expires_at"])
    op.create_index("ix_sharer_invites_shop", "sharer_invites", ["shop_id", "id"])
    op.create_table(
        "shop_sharers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("bound_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unbound_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unbound_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["sharer_invites.id"],
            name=op.f("fk_shop_sharers_invite_id_sharer_invites"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_shop_sharers_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unbound_by"], ["users.id"], name=op.f("fk_shop_sharers_unbound_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_shop_sharers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_sharers")),
    )
    op.create_index(
        "uq_shop_sharers_bound",
        "shop_sharers",
        ["shop_id", "user_id"],
        unique=True,
        sqlite_where=_BOUND,
        postgresql_where=_BOUND,
    )
    op.create_index("ix_shop_sharers_user", "shop_sharers", ["user_id", "unbound_at"])
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("share_pct", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "share_pct >= 0 AND share_pct <= 50", name=op.f("ck_agencies_share_range")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_agencies_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("owner_id", name=op.f("uq_agencies_owner_id")),
    )
    op.create_table(
        "agency_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("invited_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_agency_members_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_agency_members_creator_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_members")),
    )
    _current = sa.text("joined_at IS NOT NULL AND left_at IS NULL")
    op.create_index(
        "uq_agency_members_current",
        "agency_members",
        ["creator_id"],
        unique=True,
        sqlite_where=_current,
        postgresql_where=_current,
    )
    op.create_index("ix_agency_members_agency", "agency_members", ["agency_id", "left_at"])


def downgrade() -> None:
    op.drop_index("ix_agency_members_agency", table_name="agency_members")
    op.drop_index("uq_agency_members_current", table_name="agency_members")
    op.drop_table("agency_members")
    op.drop_table("agencies")
    op.drop_index("ix_shop_sharers_user", table_name="shop_sharers")
    op.drop_index("uq_shop_sharers_bound", table_name="shop_sharers")
    op.drop_table("shop_sharers")
    op.drop_index("ix_sharer_invites_shop", table_name="sharer_invites")
    op.drop_index("ix_sharer_invites_user", table_name="sharer_invites")
    op.drop_table("sharer_invites")

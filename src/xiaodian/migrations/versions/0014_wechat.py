"""WeChat: openids of accounts, OAuth states, JS-SDK credentials, order messages, the sandbox

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_wechat_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_wechat_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_sandbox_wechat_codes_code")),
    )
    op.create_table(
        "sandbox_wechat_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_wechat_credentials")),
        sa.UniqueConstraint("value", name=op.f("uq_sandbox_wechat_credentials_value")),
    )
    op.create_table(
        "sandbox_wechat_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("msgid", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_wechat_outbox")),
        sa.UniqueConstraint("msgid", name=op.f("uq_sandbox_wechat_outbox_msgid")),
    )
    op.create_index(
        op.f("ix_sandbox_wechat_outbox_openid"), "sandbox_wechat_outbox", ["openid"], unique=False
    )

    op.create_table(
        "sandbox_wechat_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("unionid", sa.String(length=128), nullable=False),
        sa.Column("nickname", sa.String(length=64), nullable=False),
        sa.Column("avatar_url", sa.String(length=300), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_wechat_users")),
        sa.UniqueConstraint("openid", name=op.f("uq_sandbox_wechat_users_openid")),
    )
    op.create_table(
        "wechat_consents",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wechat_consents")),
    )
    op.create_table(
        "wechat_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=600), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_credentials")),
        sa.UniqueConstraint("app_id", "kind", name="uq_wechat_credentials_kind"),
    )
    op.create_table(
        "wechat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sent",
                "failed",
                "skipped",
                name="messagestatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_messages")),
        sa.UniqueConstraint("order_id", "event", name="uq_wechat_messages_event"),
    )
    op.create_index(
        op.f("ix_wechat_messages_user_id"), "wechat_messages", ["user_id"], unique=False
    )

    op.create_table(
        "wechat_oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("used_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_oauth_states")),
        sa.UniqueConstraint("nonce", name=op.f("uq_wechat_oauth_states_nonce")),
    )
    op.create_table(
        "wechat_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("unionid", sa.String(length=128), nullable=True),
        sa.Column("nickname", sa.String(length=64), nullable=False),
        sa.Column("avatar_url", sa.String(length=300), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_wechat_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_identities")),
        sa.UniqueConstraint("app_id", "openid", name="uq_wechat_identities_openid"),
        sa.UniqueConstraint("user_id", "app_id", name="uq_wechat_identities_user_app"),
    )
    op.create_index(
        op.f("ix_wechat_identities_unionid"), "wechat_identities", ["unionid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_wechat_identities_unionid"), table_name="wechat_identities")

    op.drop_table("wechat_identities")
    op.drop_table("wechat_oauth_states")
    op.drop_index(op.f("ix_wechat_messages_user_id"), table_name="wechat_messages")

    op.drop_table("wechat_messages")
    op.drop_table("wechat_credentials")
    op.drop_table("wechat_consents")
    op.drop_table("sandbox_wechat_users")
    op.drop_index(op.f("ix_sandbox_wechat_outbox_openid"), table_name="sandbox_wechat_outbox")

    op.drop_table("sandbox_wechat_outbox")
    op.drop_table("sandbox_wechat_credentials")
    op.drop_table("sandbox_wechat_codes")

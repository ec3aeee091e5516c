"""cases: one table for every queue with a deadline, its log, operators' roles

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("opened_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_cases_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("queue", "key", name="uq_cases_queue_key"),
    )
    for name, columns in (
        ("ix_cases_open_queue_due", ["queue", "due_at"]),
        ("ix_cases_open_shop_due", ["shop_id", "due_at"]),
        ("ix_cases_open_owner", ["owner_id"]),
    ):
        op.create_index(name, "cases", columns, sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_table(
        "case_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_log_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_case_log_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_log")),
    )
    op.create_index("ix_case_log_case", "case_log", ["case_id", "id"])
    op.create_table(
        "operator_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("granted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_operator_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["users.id"], name=op.f("fk_operator_roles_granted_by_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_operator_roles")),
    )


def downgrade() -> None:
    op.drop_table("operator_roles")
    op.drop_index("ix_case_log_case", table_name="case_log")
    op.drop_table("case_log")
    for name in ("ix_cases_open_owner", "ix_cases_open_shop_due", "ix_cases_open_queue_due"):
        op.drop_index(name, table_name="cases")
    op.drop_table("cases")

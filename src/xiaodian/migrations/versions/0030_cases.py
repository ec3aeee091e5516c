"""cases: one table for every queue with a deadline, its log, operators' roles; what waits
already (applications submitted, products under review, flagged videos, after-sales waiting
for the merchant or the platform, withdrawals requested, reconciliation breaks, paid orders
not shipped) gets its case

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
    _backfill()


# (queue, SELECT of id-ish key, title, link, shop_id, the moment the wait started, or the
# deadline itself when the subject has one) — what waits when this revision arrives
_WAITING = (
    (
        "shop_applications",
        "SELECT 'application:' || id, shop_name, '/ops/applications/' || id, NULL, submitted_at,"
        " NULL FROM merchant_applications WHERE status = 'submitted'",
        timedelta(hours=48),
    ),
    (
        "product_reviews",
        "SELECT 'product:' || id, title, '/ops/products/' || id, shop_id,"
        " COALESCE(submitted_at, updated_at), NULL FROM products WHERE status = 'under_review'",
        timedelta(hours=24),
    ),
    (
        "video_moderation",
        "SELECT 'video:' || id, substr(caption, 1, 80), '/ops/videos?filter=flagged', shop_id,"
        " updated_at, NULL FROM videos WHERE flagged",
        timedelta(hours=24),
    ),
    (
        "aftersales_answers",
        "SELECT 'aftersale:' || id, title, '/merchant/shops/' || shop_id || '/aftersales/' || id,"
        " shop_id, updated_at, respond_by FROM aftersale_cases WHERE status = 'requested'",
        timedelta(hours=48),
    ),
    (
        "aftersales_answers",
        "SELECT 'aftersale:' || id, title, '/merchant/shops/' || shop_id || '/aftersales/' || id,"
        " shop_id, updated_at, NULL FROM aftersale_cases WHERE status = 'awaiting_return'",
        timedelta(days=10),
    ),
    (
        "aftersales_escalations",
        "SELECT 'aftersale:' || id, title, '/ops/arbitration/' || id, shop_id,"
        " COALESCE(escalated_at, updated_at), NULL FROM aftersale_cases"
        " WHERE status = 'escalated'",
        timedelta(hours=72),
    ),
    (
        "withdrawals",
        "SELECT 'withdrawal:' || id, 'withdrawal ' || id, '/ops/withdrawals', shop_id,"
        " requested_at, NULL FROM ledger_withdrawals WHERE status = 'requested'",
        timedelta(hours=24),
    ),
    (
        "reconciliation",
        "SELECT 'break:' || id, issue || ' ' || ref, '/ops/reconciliation', NULL, opened_at, NULL"
        " FROM reconciliation_breaks WHERE resolved_at IS NULL",
        timedelta(hours=24),
    ),
    (
        "orders_to_ship",
        "SELECT 'order:' || id, order_no, '/merchant/shops/' || shop_id || '/orders/' || order_no,"
        " shop_id, paid_at, NULL FROM orders WHERE status = 'paid' AND NOT held",
        timedelta(hours=48),
    ),
)


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _backfill() -> None:
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("queue"),
        sa.column("key"),
        sa.column("title"),
        sa.column("link"),
        sa.column("shop_id"),
        sa.column("opened_at", xiaodian.db.UTCDateTime(timezone=True)),
        sa.column("due_at", xiaodian.db.UTCDateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    seen: set[tuple[str, str]] = set()
    for queue, query, sla in _WAITING:
        rows = []
        for key, title, link, shop_id, started, due in bind.execute(sa.text(query)):
            if (queue, key) in seen:
                continue
            seen.add((queue, key))
            opened = _as_utc(started) or now
            rows.append(
                {
                    "queue": queue,
                    "key": str(key)[:80],
                    "title": str(title or key)[:200],
                    "link": str(link)[:300],
                    "shop_id": shop_id,
                    "opened_at": opened,
                    "due_at": _as_utc(due) or opened + sla,
                }
            )
        for start in range(0, len(rows), 1000):
            op.bulk_insert(cases, rows[start : start + 1000])


def downgrade() -> None:
    op.drop_table("operator_roles")
    op.drop_index("ix_case_log_case", table_name="case_log")
    op.drop_table("case_log")
    for name in ("ix_cases_open_owner", "ix_cases_open_shop_due", "ix_cases_open_queue_due"):
        op.drop_index(name, table_name="cases")
    op.drop_table("cases")

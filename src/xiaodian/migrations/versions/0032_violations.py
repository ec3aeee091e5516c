"""violations: a violation recorded against a shop with its rule, evidence and penalty,
the shop's one appeal of it, and the violation's own log

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("rule_key", sa.String(length=120), nullable=True),
        sa.Column("evidence_text", sa.Text(), nullable=False),
        sa.Column("evidence_photos", sa.JSON(), nullable=False),
        sa.Column(
            "penalty",
            sa.Enum(
                "warning",
                "points",
                "remove_product",
                "live_limit",
                "suspend",
                name="penalty",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "fixed",
                "expired",
                "appealed",
                "upheld",
                "reversed",
                name="violationstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("penalty_until", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("penalty_lifted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("prior_state", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "points >= 0 AND points <= 100", name=op.f("ck_violations_points_range")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_violations_recorded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_violations_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
        sa.UniqueConstraint("rule_key", name="uq_violations_rule_key"),
    )
    op.create_index("ix_violations_shop", "violations", ["shop_id", "id"])
    op.create_index("ix_violations_status_due", "violations", ["status", "due_at"])
    op.create_table(
        "violation_appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("violation_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "accepted", "rejected", name="appealstatus", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("filed_by", sa.Integer(), nullable=False),
        sa.Column("filed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_violation_appeals_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["filed_by"], ["users.id"], name=op.f("fk_violation_appeals_filed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_violation_appeals_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["violations.id"],
            name=op.f("fk_violation_appeals_violation_id_violations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violation_appeals")),
        sa.UniqueConstraint("violation_id", name="uq_violation_appeals_violation"),
    )
    op.create_table(
        "violation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("violation_id", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_violation_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["violations.id"],
            name=op.f("fk_violation_events_violation_id_violations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violation_events")),
    )
    op.create_index("ix_violation_events_violation", "violation_events", ["violation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_violation_events_violation", table_name="violation_events")
    op.drop_table("violation_events")
    op.drop_table("violation_appeals")
    op.drop_index("ix_violations_status_due", table_name="violations")
    op.drop_index("ix_violations_shop", table_name="violations")
    op.drop_table("violations")

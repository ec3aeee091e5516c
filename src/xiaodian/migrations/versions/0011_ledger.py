"""the ledger: accounts, transfers, postings, pending income, fee rates

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("kind", "owner_id", name=op.f("uq_ledger_accounts_kind_owner_id")),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("order_no", sa.String(length=24), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_transfers_key")),
    )
    op.create_index("ix_ledger_transfers_at", "ledger_transfers", ["at"], unique=False)
    op.create_index("ix_ledger_transfers_order_id", "ledger_transfers", ["order_id"], unique=False)

    op.create_table(
        "ledger_fee_rates",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_bp >= 0 AND rate_bp <= 10000", name=op.f("ck_ledger_fee_rates_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_ledger_fee_rates_category_id_categories"),
        ),
        sa.PrimaryKeyConstraint("category_id", name=op.f("pk_ledger_fee_rates")),
    )
    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("voided_fen", sa.Integer(), nullable=False),
        sa.Column("fee_weight", sa.Integer(), nullable=False),
        sa.Column("payment_fee_bp", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "posted", "voided", name="holdstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("expected_available_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_open", sa.Boolean(), nullable=False),
        sa.Column("paid_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_holds_amount_positive")),
        sa.CheckConstraint(
            "fee_weight >= 0 AND payment_fee_bp >= 0",
            name=op.f("ck_ledger_holds_rates_nonnegative"),
        ),
        sa.CheckConstraint(
            "voided_fen >= 0 AND voided_fen <= amount_fen",
            name=op.f("ck_ledger_holds_voided_capped"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_holds_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("order_id", name=op.f("uq_ledger_holds_order_id")),
    )
    op.create_index(
        "ix_ledger_holds_due", "ledger_holds", ["status", "expected_available_at"], unique=False
    )
    op.create_index("ix_ledger_holds_shop_id", "ledger_holds", ["shop_id", "status"], unique=False)

    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_ledger_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_postings_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_postings_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index(
        "ix_ledger_postings_account_id",
        "ledger_postings",
        ["account_id", "id", "amount_fen"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ledger_postings_transfer_id"), "ledger_postings", ["transfer_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        # Postings are immutable: a mistake is corrected by a reversing transfer.
        op.execute(
            """
            CREATE FUNCTION ledger_postings_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'ledger postings are immutable (% refused)', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE"
            " ON ledger_postings FOR EACH ROW EXECUTE FUNCTION ledger_postings_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_postings_immutable ON ledger_postings")
        op.execute("DROP FUNCTION IF EXISTS ledger_postings_immutable()")
    for table in (
        "ledger_postings",
        "ledger_holds",
        "ledger_fee_rates",
        "ledger_transfers",
        "ledger_accounts",
    ):
        op.drop_table(table)

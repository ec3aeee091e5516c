"""the ledger's postings name their transfer and account without foreign keys (the drift
check counts postings naming no transfer or no account instead); settlement's due holds
read from an index in their order

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_postings") as batch:
        batch.drop_constraint("fk_ledger_postings_account_id_ledger_accounts", type_="foreignkey")
        batch.drop_constraint("fk_ledger_postings_transfer_id_ledger_transfers", type_="foreignkey")
    op.drop_index("ix_ledger_holds_due", table_name="ledger_holds")
    op.create_index(
        "ix_ledger_holds_due", "ledger_holds", ["status", "expected_available_at", "id"]
    )
    with op.batch_alter_table("ledger_drift_checks") as batch:
        batch.add_column(
            sa.Column("orphan_postings", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_drift_checks") as batch:
        batch.drop_column("orphan_postings")
    op.drop_index("ix_ledger_holds_due", table_name="ledger_holds")
    op.create_index("ix_ledger_holds_due", "ledger_holds", ["status", "expected_available_at"])
    with op.batch_alter_table("ledger_postings") as batch:
        batch.create_foreign_key(
            "fk_ledger_postings_transfer_id_ledger_transfers",
            "ledger_transfers",
            ["transfer_id"],
            ["id"],
        )
        batch.create_foreign_key(
            "fk_ledger_postings_account_id_ledger_accounts",
            "ledger_accounts",
            ["account_id"],
            ["id"],
        )

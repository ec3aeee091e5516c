"""promoters withdraw their commission like shops: a withdrawal is a shop's or a promoter's

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_withdrawals") as batch:
        batch.add_column(sa.Column("promoter_id", sa.Integer(), nullable=True))
        batch.alter_column("shop_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key(
            op.f("fk_ledger_withdrawals_promoter_id_users"), "users", ["promoter_id"], ["id"]
        )
        batch.create_check_constraint(
            op.f("ck_ledger_withdrawals_one_payee"), "(shop_id IS NULL) <> (promoter_id IS NULL)"
        )
    op.create_index(
        "ix_ledger_withdrawals_promoter_day", "ledger_withdrawals", ["promoter_id", "business_day"]
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_withdrawals_promoter_day", table_name="ledger_withdrawals")
    op.execute("DELETE FROM ledger_withdrawals WHERE shop_id IS NULL")
    with op.batch_alter_table("ledger_withdrawals") as batch:
        batch.drop_constraint(op.f("ck_ledger_withdrawals_one_payee"), type_="check")
        batch.drop_constraint(op.f("fk_ledger_withdrawals_promoter_id_users"), type_="foreignkey")
        batch.alter_column("shop_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("promoter_id")

"""Tables of the ledger: accounts, transfers, their postings, pending income, fee rates.

- An account is (``kind``, ``owner_id``) with a unique key: ``kind`` is "party:purpose"
  (``merchant:pending``, ``platform:fee_income``, later ``promoter:commission``), the owner is
  the shop (or the promoter), 0 for the platform's and the provider's own accounts. A new
  party or purpose is a new value, never a migration.
- A transfer is one business event (its unique ``key``: ``order:12:paid``), with postings in
  integer fen that sum to zero. Postings are never updated or deleted (a trigger refuses it
  on PostgreSQL); a mistake is corrected by a reversing transfer.
- A hold is an order's pending income (the two-phase transfer's pending side): refunds void
  parts of it, and it resolves once, posted to available or voided.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("kind", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # party:purpose
    owner_id: Mapped[int] = mapped_column(default=0)  # a shop, a promoter; 0: none
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        Index("ix_ledger_transfers_order_id", "order_id"),
        Index("ix_ledger_transfers_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # the business key
    # paid | refund | settle | void | adjust
    kind: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None]  # the order it is about (no FK: the ledger outlives rows)
    order_no: Mapped[str | None] = mapped_column(String(24))
    ref: Mapped[str | None] = mapped_column(String(64))  # a payment's or refund's reference
    note: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=clock.now)


class LedgerPosting(Base):
    """One leg of a transfer: ``amount_fen`` > 0 debits the account, < 0 credits it."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        # entries newest first, and balances summed from the index alone (amount included)
        Index("ix_ledger_postings_account_id", "account_id", "id", "amount_fen"),
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys: their checks, a lookup and a row lock per posting, were half of
    # settlement's time (docs/architecture.md). ``post_transfers`` is the only writer, in
    # the statement that inserts the transfers, with the ids of the accounts it has just
    # found; the nightly drift check counts postings naming no transfer or no account.
    transfer_id: Mapped[int] = mapped_column(index=True)
    account_id: Mapped[int]
    amount_fen: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=clock.now)


class HoldStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"  # the rest moved to available (the order settled)
    VOIDED = "voided"  # refunds took it all before settlement


class LedgerHold(Base):
    """An order's pending income: ``amount_fen`` credited to ``merchant:pending`` at payment;
    refunds before settlement void parts of it (``voided_fen``); it resolves once
    (``status``), at settlement or when nothing is left. The fee rates are those read when
    the order was paid: ``fee_weight`` is the sum over its lines of amount x the category's
    rate in basis points (exact, rounded once at settlement)."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        # settlement's batches, the oldest due first: read in order, never sorted
        Index("ix_ledger_holds_due", "status", "expected_available_at", "id"),
        Index("ix_ledger_holds_shop_id", "shop_id", "status"),
        Index("ix_ledger_holds_share", "share_state", "status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("voided_fen >= 0 AND voided_fen <= amount_fen", name="voided_capped"),
        CheckConstraint("fee_weight >= 0 AND payment_fee_bp >= 0", name="rates_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(unique=True)
    order_no: Mapped[str] = mapped_column(String(24))
    shop_id: Mapped[int]
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"))
    amount_fen: Mapped[int]
    voided_fen: Mapped[int] = mapped_column(default=0)
    fee_weight: Mapped[int] = mapped_column(default=0)  # sum of line fen x rate bp
    payment_fee_bp: Mapped[int] = mapped_column(default=0)
    status: Mapped[HoldStatus] = mapped_column(str_enum(HoldStatus), default=HoldStatus.PENDING)
    expected_available_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]  # the order's completion: the date becomes exact
    case_open: Mapped[bool] = mapped_column(default=False)  # an open case delays settlement
    paid_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # profit sharing (sharing.py): "due" when paid while it was on, "planned" once its split
    # is recorded after it resolved, "none" when its payment was not made to be split
    share_state: Mapped[str | None] = mapped_column(String(8))


class LedgerFeeRate(Base):
    """The platform fee (技术服务费) of a category, in basis points (60 = 0.6%)."""

    __tablename__ = "ledger_fee_rates"
    __table_args__ = (CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_range"),)

    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True)
    rate_bp: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class WithdrawalStatus(enum.StrEnum):
    REQUESTED = "requested"  # the amount moved to merchant:withdrawing
    APPROVED = "approved"  # an operator approved it: the payout is under way
    PAID = "paid"  # the payout succeeded: the money left the provider
    FAILED = "failed"  # the payout failed: the amount went back to available
    REJECTED = "rejected"  # an operator refused it (a reason): back to available


class LedgerWithdrawal(Base):
    """A withdrawal (提现) of a shop (``shop_id``: requested by its owner) or of a promoter
    (``promoter_id``: their commission), decided by an operator, paid out (or not) by the
    payout. Each move of money is a transfer keyed
    ``withdrawal:<id>:<step>``; ``business_day`` is the request's day in Asia/Shanghai
    (at most a set number a day)."""

    __tablename__ = "ledger_withdrawals"
    __table_args__ = (
        Index("ix_ledger_withdrawals_shop_day", "shop_id", "business_day"),
        Index("ix_ledger_withdrawals_promoter_day", "promoter_id", "business_day"),
        Index("ix_ledger_withdrawals_status", "status", "id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("(shop_id IS NULL) <> (promoter_id IS NULL)", name="one_payee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    promoter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount_fen: Mapped[int]
    status: Mapped[WithdrawalStatus] = mapped_column(
        str_enum(WithdrawalStatus), default=WithdrawalStatus.REQUESTED
    )
    business_day: Mapped[date]
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")  # a rejection's, a failure's
    provider_ref: Mapped[str | None] = mapped_column(String(64))  # the payout's reference
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]  # paid, failed or rejected


class BillStatus(enum.StrEnum):
    DONE = "done"  # read and matched
    EMPTY = "empty"  # WeChat Pay has no bill for the day (no trade)
    NOT_READY = "not_ready"  # still being made: the job asks again later
    MALFORMED = "malformed"  # not readable as WeChat Pay writes it: nothing of it used
    FAILED = "failed"  # the provider could not be reached: asked again later


class ReconciliationRun(Base):
    """The reconciliation (对账) of one day's bill of one kind (``trade``, ``fundflow``):
    its last outcome, how many rows it read and how many breaks it found."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (UniqueConstraint("bill_date", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_date: Mapped[date]
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[BillStatus] = mapped_column(str_enum(BillStatus))
    rows: Mapped[int] = mapped_column(default=0)
    breaks: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(300), default="")
    file_hash: Mapped[str] = mapped_column(String(64), default="")
    checked_at: Mapped[datetime] = mapped_column(default=clock.now)


class ReconciliationBreak(Base):
    """One difference between WeChat Pay's bill and xiaodian's records, in the operators'
    queue until someone resolves it with a note (or a later day's bill explains it)."""

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        UniqueConstraint("bill_date", "kind", "ref", "issue"),
        Index("ix_reconciliation_breaks_open", "resolved_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_date: Mapped[date]
    kind: Mapped[str] = mapped_column(String(10))  # trade | fundflow
    # missing_ours | missing_theirs | amount | status | transaction | fee
    issue: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(64))  # out_trade_no, out_refund_no, ...
    ours_fen: Mapped[int | None]
    theirs_fen: Mapped[int | None]
    detail: Mapped[str] = mapped_column(String(300), default="")
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(300), default="")


class LedgerCheckpoint(Base):
    """An account's balance up to a posting (``posting_id``: the postings with an id up to
    it, summed): balances read the checkpoint plus the postings after it, so an account of
    a million postings sums a few. Derived, never the truth: written only by the
    checkpoint job, from the postings, and checked against a full recomputation by the
    drift check (``ledger/checkpoints.py``)."""

    __tablename__ = "ledger_checkpoints"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)
    posting_id: Mapped[int]
    balance_fen: Mapped[int]  # raw: the sum of the postings up to posting_id
    at: Mapped[datetime] = mapped_column(default=clock.now)


class LedgerDriftCheck(Base):
    """One run of the drift check: how many checkpoints it recomputed and which differed."""

    __tablename__ = "ledger_drift_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    accounts: Mapped[int]
    drifted: Mapped[int]
    orphan_postings: Mapped[int] = mapped_column(default=0)  # naming no transfer or account
    detail: Mapped[str] = mapped_column(String(500), default="")


class ShareStatus(enum.StrEnum):
    PLANNED = "planned"  # recorded, not sent yet (or to be sent again)
    PROCESSING = "processing"  # accepted by the provider, not finished
    FINISHED = "finished"  # every receiver's result recorded
    FAILED = "failed"  # refused for good: the reserved commission went back


class LedgerShare(Base):
    """A profit-sharing request (分账) of one paid trade: a split of a settled order's
    platform fee and commission (``kind`` split) or the unfreeze of the trade's rest
    (``kind`` unfreeze, once every order of the trade resolved). ``receivers`` is what was
    asked: each with its ``type``, ``account``, ``amount``, ``description`` and whom it pays
    in the ledger (``party`` platform or promoter, ``owner``)."""

    __tablename__ = "ledger_shares"
    __table_args__ = (Index("ix_ledger_shares_due", "status", "next_try_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    out_order_no: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    order_id: Mapped[int | None] = mapped_column(index=True)
    order_no: Mapped[str | None] = mapped_column(String(24))
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    transaction_id: Mapped[str] = mapped_column(String(64))
    receivers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    amount_fen: Mapped[int] = mapped_column(default=0)
    status: Mapped[ShareStatus] = mapped_column(str_enum(ShareStatus), default=ShareStatus.PLANNED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime]
    provider_order_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

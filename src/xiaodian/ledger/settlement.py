"""Settlement: pending income that is due moves to the merchant's available balance, less
the platform fee and the payment fee (rates recorded at payment, rounded half up per
order). The worker's job (``jobs.py``) calls ``settle_due``.

Due: the order completed, its after-sales window passed (``expected_available_at``), no
case open. Each batch is one transaction: its holds are resolved by ONE conditional UPDATE
(``status = 'pending'`` in its WHERE: a hold resolves at most once) and their transfers
posted under their business keys (``order:<id>:settled``), so a run killed mid-way loses
only its open batch, and a rerun (or a second worker) posts nothing twice.

The ledger announces the orders a batch settled (``on_settled``) to the domains above it
(the affiliates release their commission), in the batch's transaction, after its
transfers: a listener's postings commit or roll back with the settlement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import any_, func, select, text, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.ledger import service
from xiaodian.ledger.models import HoldStatus, LedgerHold
from xiaodian.ledger.service import AVAILABLE, FEE_INCOME, PAYMENT_FEES, PENDING, PLATFORM, Leg

BATCH = 500


@dataclass(frozen=True)
class Settled:
    """An order whose income settled: what settled (paid less refunds before it)."""

    order_id: int
    order_no: str
    shop_id: int
    settled_fen: int


SettledListener = Callable[[Session, list[Settled], datetime], None]
_settled_listeners: list[SettledListener] = []


def on_settled(listener: SettledListener) -> SettledListener:
    """Register ``listener(db, settled, at)``, called in each batch's transaction with the
    orders it settled. Registering the same function twice keeps one."""
    if listener not in _settled_listeners:
        _settled_listeners.append(listener)
    return listener


def settle_batch(db: Session, *, now: datetime | None = None, limit: int = BATCH) -> int:
    """Settle up to ``limit`` due holds (the oldest first) in the caller's transaction;
    returns how many settled. Does not commit (``settle_due`` does, per batch)."""
    now = now or clock.now()
    due = (
        select(LedgerHold.id)
        .where(
            LedgerHold.status == HoldStatus.PENDING,
            LedgerHold.completed_at.is_not(None),
            LedgerHold.case_open.is_(False),
            LedgerHold.expected_available_at <= now,
        )
        .order_by(LedgerHold.expected_available_at, LedgerHold.id)
        .limit(limit)
    )
    # One statement: the due holds chosen (and locked) inside the UPDATE that posts them.
    if db.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)  # two workers take different batches
        # ``= ANY(ARRAY(...))``: the chosen ids found by primary key, not by a scan of
        # every pending hold joined to them.
        chosen = LedgerHold.id == any_(func.array(due.scalar_subquery()))
    else:
        chosen = LedgerHold.id.in_(due.scalar_subquery())
    rows = (
        db.connection()
        .execute(  # Core: rows as they come, no ORM bookkeeping
            update(LedgerHold)
            .where(chosen, LedgerHold.status == HoldStatus.PENDING)
            .values(status=HoldStatus.POSTED, resolved_at=now)
            .returning(
                LedgerHold.order_id,
                LedgerHold.order_no,
                LedgerHold.shop_id,
                LedgerHold.amount_fen,
                LedgerHold.voided_fen,
                LedgerHold.fee_weight,
                LedgerHold.payment_fee_bp,
            )
            .execution_options(synchronize_session=False)
        )
        .all()
    )
    if not rows:
        return 0
    transfers = []
    done = []
    for order_id, order_no, shop_id, amount, voided, weight, payment_bp in rows:
        settled = amount - voided
        done.append(Settled(order_id, order_no, shop_id, settled))
        fees = service.settlement_fees(
            settled_fen=settled, paid_fen=amount, fee_weight=weight, payment_fee_bp=payment_bp
        )
        transfers.append(
            service.NewTransfer(
                key=f"order:{order_id}:settled",
                kind="settle",
                legs=(
                    Leg(PENDING, shop_id, settled),
                    Leg(AVAILABLE, shop_id, -(settled - fees.total_fen)),
                    Leg(FEE_INCOME, PLATFORM, -fees.platform_fen),
                    Leg(PAYMENT_FEES, PLATFORM, -fees.payment_fen),
                ),
                order_id=order_id,
                order_no=order_no,
                note=f"fee {fees.platform_fen} payment fee {fees.payment_fen}",
            )
        )
    service.post_transfers(db, transfers, at=now)
    for listener in list(_settled_listeners):
        listener(db, done, now)
    return len(rows)


def settle_due(db: Session, *, limit: int = BATCH, max_batches: int | None = None) -> int:
    """Settle everything due, one committed batch after another; returns how many settled.
    Idempotent and resumable: run it again after a crash and it settles what is left."""
    total = 0
    batches = 0
    postgresql = db.get_bind().dialect.name == "postgresql"
    while max_batches is None or batches < max_batches:
        if postgresql:
            # A batch is redone whole if the server crashes before its commit reaches the
            # disk (its holds are pending again then): it need not wait for the flush. A
            # later commit that saw its balances flushes it too (docs/architecture.md).
            db.execute(text("SET LOCAL synchronous_commit = off"))
        settled = settle_batch(db, limit=limit)
        db.commit()
        total += settled
        batches += 1
        if settled < limit:
            break
    return total

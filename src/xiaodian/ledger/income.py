"""The ledger listens to the order lifecycle: an order's income is pending from payment,
dated by its rule, voided in part by refunds before it settles, and taken back from the
merchant's available balance (then the deposit, then recorded as owed) after.

Every listener joins the transaction of the order's change (its postings commit or roll
back with it) and posts each business event once (``order:<id>:paid``,
``order:<id>:refund:<ref>``), so a replayed announcement posts nothing. The paid path
costs a fixed number of statements however many orders a payment covers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.orm import Session

from xiaodian import bulk
from xiaodian import settings as settings_module
from xiaodian.catalog import service as catalog_service
from xiaodian.ledger import service
from xiaodian.ledger.models import HoldStatus, LedgerFeeRate, LedgerHold
from xiaodian.ledger.service import (
    AVAILABLE,
    CLEARING,
    DEPOSIT,
    OWES,
    PENDING,
    PLATFORM,
    SUBSIDY,
    Leg,
)
from xiaodian.orders import lifecycle
from xiaodian.orders import service as orders_service

log = logging.getLogger(__name__)


def _window() -> timedelta:
    return timedelta(days=settings_module.current().ledger_settlement_days)


def estimated_available_at(paid_at: datetime) -> datetime:
    """At payment, the earliest the income can settle if nothing delays it: the order
    auto-completes ``order_auto_complete_days`` after shipping (counted from payment here,
    as if shipped at once), then the after-sales window. Completion makes it exact."""
    conf = settings_module.current()
    return paid_at + timedelta(days=conf.order_auto_complete_days) + _window()


def fee_rates(db: Session, category_ids: set[int]) -> dict[int, int]:
    """The platform fee of each category in basis points (the default setting for a
    category without a rate), one query."""
    default = settings_module.current().ledger_platform_fee_bp
    found: dict[int, int] = {}
    if category_ids:
        rows = db.execute(_FEE_RATES, {"ids": list(category_ids)})
        found = {category_id: rate for category_id, rate in rows}
    return {category_id: found.get(category_id, default) for category_id in category_ids}


_RATES = cast(Table, LedgerFeeRate.__table__)
# On the table: no ORM execution for two columns (asked at every payment).
_FEE_RATES = select(_RATES.c.category_id, _RATES.c.rate_bp).where(
    _RATES.c.category_id.in_(bindparam("ids", expanding=True))
)


@lifecycle.on("paid")
def record_paid(db: Session, change: lifecycle.Change) -> None:
    """Each paid order: debit the provider's clearing account with what the buyer paid and
    the platform's subsidy with its coupons' part (``platform:subsidy``), credit the shop's
    pending income with both (the merchant is paid as if the buyer paid the platform's
    coupon; a shop's own coupon simply lowers what was paid), and record its pending entry
    (its date, the fee rates of the moment). Six statements however many orders (their
    lines come with the change)."""
    lines = orders_service.lines_of(db, change)
    if not lines:
        return
    categories = catalog_service.category_ids(db, {line.product_id for line in lines})
    rates = fee_rates(db, set(categories.values()))
    conf = settings_module.current()
    payment_bp = conf.ledger_payment_fee_bp
    share_state = "due" if conf.profit_sharing else None
    orders: dict[int, orders_service.PaidLine] = {}
    weights: dict[int, int] = {}
    for line in lines:
        orders.setdefault(line.order_id, line)
        rate = rates.get(categories.get(line.product_id, 0), 0)
        weights[line.order_id] = weights.get(line.order_id, 0) + line.amount_fen * rate
    transfers = [
        service.NewTransfer(
            key=f"order:{order.order_id}:paid",
            kind="paid",
            legs=(
                Leg(CLEARING, PLATFORM, order.paid_fen),
                *((Leg(SUBSIDY, PLATFORM, order.subsidy_fen),) if order.subsidy_fen else ()),
                Leg(PENDING, order.shop_id, -(order.paid_fen + order.subsidy_fen)),
            ),
            order_id=order.order_id,
            order_no=order.order_no,
            ref=change.ref,
        )
        for order in orders.values()
        if order.paid_fen > 0
    ]
    posted = service.post_transfers(db, transfers, at=change.at)
    holds = [
        {
            "order_id": order.order_id,
            "order_no": order.order_no,
            "shop_id": order.shop_id,
            "transfer_id": posted.new[f"order:{order.order_id}:paid"],
            "amount_fen": order.paid_fen + order.subsidy_fen,
            "voided_fen": 0,
            "fee_weight": weights[order.order_id],
            "payment_fee_bp": payment_bp,
            "status": HoldStatus.PENDING,
            "expected_available_at": estimated_available_at(order.paid_at or change.at),
            "case_open": False,
            "paid_at": order.paid_at or change.at,
            "share_state": share_state,
        }
        for order in orders.values()
        if f"order:{order.order_id}:paid" in posted.new
    ]
    if holds:
        bulk.insert_rows(db, cast(Table, LedgerHold.__table__), holds)


@lifecycle.on("shipped")
def redate_shipped(db: Session, change: lifecycle.Change) -> None:
    """Shipped: the estimate counts the auto-completion from the shipping time."""
    conf = settings_module.current()
    due = change.at + timedelta(days=conf.order_auto_complete_days) + _window()
    _redate(db, change.order_ids, due, LedgerHold.completed_at.is_(None))


@lifecycle.on("completed")
def redate_completed(db: Session, change: lifecycle.Change) -> None:
    """Completed (confirmed or auto-completed): the income settles when the after-sales
    window has passed, the date is now exact."""
    _redate(db, change.order_ids, change.at + _window(), None, completed_at=change.at)


def _redate(
    db: Session, order_ids: tuple[int, ...], due: datetime, cond: object, **values: object
) -> None:
    conds = [LedgerHold.order_id.in_(order_ids), LedgerHold.status == HoldStatus.PENDING]
    if cond is not None:
        conds.append(cond)  # type: ignore[arg-type]
    db.execute(
        update(LedgerHold)
        .where(*conds)
        .values(expected_available_at=due, **values)
        .execution_options(synchronize_session=False)
    )


@lifecycle.on("aftersale_opened")
def hold_for_case(db: Session, change: lifecycle.Change) -> None:
    """An open after-sales case: the income does not settle while it is open."""
    db.execute(
        update(LedgerHold)
        .where(LedgerHold.order_id.in_(change.order_ids))
        .values(case_open=True)
        .execution_options(synchronize_session=False)
    )


@lifecycle.on("aftersale_closed")
def release_case(db: Session, change: lifecycle.Change) -> None:
    """The case closed: the income settles on its date, or, when the window ended while the
    case was open, at the next settlement run (the deadline only ever moves later)."""
    db.execute(
        update(LedgerHold)
        .where(LedgerHold.order_id.in_(change.order_ids))
        .values(
            case_open=False,
            expected_available_at=case(
                (LedgerHold.expected_available_at < change.at, change.at),
                else_=LedgerHold.expected_available_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )


@lifecycle.on("refunded")
def record_refund(db: Session, change: lifecycle.Change) -> None:
    """A refund counted for one order: void that much of its pending income while it is
    pending, else take it from the shop's available balance, then its deposit, and record
    the rest as owed to the platform. The part of the platform's subsidy the refund covers
    goes back to ``platform:subsidy`` and comes off the shop the same way. Posted once per
    refund reference."""
    if not change.amount_fen or not change.ref:
        return
    for order_id in change.order_ids:
        _refund_one(db, order_id, change.amount_fen, change.ref, change.at)


def _refund_one(db: Session, order_id: int, amount: int, ref: str, at: datetime) -> None:
    key = f"order:{order_id}:refund:{ref}"
    hold = db.scalar(select(LedgerHold).where(LedgerHold.order_id == order_id).with_for_update())
    if hold is None:
        log.warning("refund %s of order %s: no income recorded for the order", ref, order_id)
        return
    if service.transfer_keys(db, [key]):
        return  # posted already
    legs = [Leg(CLEARING, PLATFORM, -amount)]
    subsidy = orders_service.subsidy_returned(db, order_id=order_id, refund_fen=amount)
    if subsidy:
        legs.append(Leg(SUBSIDY, PLATFORM, -subsidy))
    rest = amount + subsidy
    if hold.status == HoldStatus.PENDING:
        void = min(rest, hold.amount_fen - hold.voided_fen)
        if void > 0:
            _void(db, hold, void, at)
            legs.append(Leg(PENDING, hold.shop_id, void))
            rest -= void
    if rest > 0:
        legs += _take_back(db, hold.shop_id, rest)
    service.post_transfers(
        db,
        [
            service.NewTransfer(
                key=key,
                kind="refund",
                legs=tuple(legs),
                order_id=order_id,
                order_no=hold.order_no,
                ref=ref,
            )
        ],
        at=at,
    )


def _void(db: Session, hold: LedgerHold, void: int, at: datetime) -> None:
    """Void ``void`` fen of a pending hold, in one conditional UPDATE; all of it voided
    resolves the hold (once)."""
    emptied = hold.voided_fen + void >= hold.amount_fen
    moved = db.execute(
        update(LedgerHold)
        .where(
            LedgerHold.id == hold.id,
            LedgerHold.status == HoldStatus.PENDING,
            LedgerHold.voided_fen + void <= LedgerHold.amount_fen,
        )
        .values(
            voided_fen=LedgerHold.voided_fen + void,
            status=HoldStatus.VOIDED if emptied else HoldStatus.PENDING,
            resolved_at=at if emptied else None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if moved != 1:
        raise RuntimeError(f"hold {hold.id} changed under a lock")
    db.expire(hold)


def _take_back(db: Session, shop_id: int, amount: int) -> list[Leg]:
    """Debit ``amount`` from the shop after settlement: available first, then the deposit,
    the rest owed (the accounts' rows locked, so concurrent refunds see each other)."""
    keys = [(AVAILABLE, shop_id), (DEPOSIT, shop_id), (OWES, shop_id)]
    service.account_ids(db, keys, lock=True)
    balances = service.raw_balances(db, keys)
    legs = []
    rest = amount
    for kind in (AVAILABLE, DEPOSIT):
        have = max(0, service.shown(kind, balances[(kind, shop_id)]))
        take = min(rest, have)
        if take:
            legs.append(Leg(kind, shop_id, take))
            rest -= take
    if rest:
        legs.append(Leg(OWES, shop_id, rest))
    return legs

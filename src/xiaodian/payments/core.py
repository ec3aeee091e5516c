"""The state machines of payments and refunds, and the steps every path shares.

A trade success (from a notification or from reconciliation's query) and a refund outcome
(from the refund call, its notification or a query) are applied by the same functions
here, under a lock on the payment row, so whichever arrives first wins and the others are
no-ops. None of these commit: they join the caller's transaction.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian import clock, realtime, transitions
from xiaodian.errors import DomainError, _
from xiaodian.orders import service as orders_service
from xiaodian.payments import lifecycle
from xiaodian.payments.models import (
    ABNORMAL_NOTE,
    Payment,
    PaymentEvent,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from xiaodian.payments.providers.base import (
    REFUND_ABNORMAL,
    REFUND_FAILED,
    REFUND_PROCESSING,
    REFUND_SUCCESS,
    TRADE_REFUND,
    TRADE_SUCCESS,
    PaymentProvider,
    RefundState,
)
from xiaodian.transitions import Transition

P = PaymentStatus
R = RefundStatus

# action -> the states it starts from and where it leads (``transitions.check`` decides).
# A success after close is honoured: money was taken.
PAYMENT_TRANSITIONS: dict[str, Transition[PaymentStatus]] = {
    "pay": Transition(frozenset({P.OPEN, P.CLOSED}), P.PAID),
    "close": Transition(frozenset({P.OPEN}), P.CLOSED),
}
# A refund may settle before we saw it accepted (notifications arrive out of order).
REFUND_TRANSITIONS: dict[str, Transition[RefundStatus]] = {
    "submit": Transition(frozenset({R.PENDING}), R.PROCESSING),
    "succeed": Transition(frozenset({R.PENDING, R.PROCESSING}), R.SUCCEEDED),
    "fail": Transition(frozenset({R.PENDING, R.PROCESSING}), R.FAILED),
}
IN_FLIGHT = (R.PENDING, R.PROCESSING)
AUTO_REFUND_REF = "auto:order-cancelled"


class ProviderUnavailable(DomainError):
    status_code = 503
    code = "provider_unavailable"


class Rejected(Exception):
    """What a notification or query says does not match our records: change nothing."""


def move_payment(payment: Payment, action: str) -> None:
    message = _("This payment cannot change any more.")
    step = transitions.check(
        PAYMENT_TRANSITIONS, action, payment.status, message, code=f"payment_{payment.status}"
    )
    payment.status = step.target


def move_refund(refund: Refund, action: str) -> None:
    message = _("This refund cannot change any more.")
    step = transitions.check(
        REFUND_TRANSITIONS, action, refund.status, message, code=f"refund_{refund.status}"
    )
    refund.status = step.target


def event(
    db: Session,
    action: str,
    *,
    payment_id: int | None = None,
    refund_id: int | None = None,
    actor_id: int | None = None,
    note: str | None = None,
) -> None:
    db.execute(
        _INSERT_EVENT,
        {
            "payment_id": payment_id,
            "refund_id": refund_id,
            "actor_id": actor_id,
            "action": action,
            "note": note,
            "at": clock.now(),
        },
    )


# Built once: a payment's statements are the hot path of every purchase.
_INSERT_EVENT = insert(cast(Table, PaymentEvent.__table__))
# The payment and its orders' links in one statement (joined: a notification reads both),
# the payment's row locked (``FOR UPDATE OF payments`` on PostgreSQL).
_PAYMENT_BY_NUMBER = (
    select(Payment)
    .options(joinedload(Payment.orders))
    .where(Payment.out_trade_no == bindparam("no"))
    .with_for_update(of=Payment)
    .execution_options(populate_existing=True)
)


def new_number(prefix: str) -> str:
    """XD20260618100000 + 10 random digits: unique, sortable, valid at WeChat (6-32)."""
    tail = "".join(secrets.choice(string.digits) for _ in range(10))
    return f"{prefix}{clock.now():%Y%m%d%H%M%S}{tail}"


def lock_payment(db: Session, payment_id: int) -> Payment:
    """The payment row, locked for this transaction (serialises every money change)."""
    payment = db.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    return payment


def lock_payment_by_number(db: Session, out_trade_no: str) -> Payment | None:
    """The payment with this number with its orders' links loaded, locked for this
    transaction (one statement); None if there is none."""
    found = db.execute(_PAYMENT_BY_NUMBER, {"no": out_trade_no[:32]}).unique()
    return found.scalar_one_or_none()


def lock_refund(db: Session, refund_id: int) -> Refund:
    refund = db.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert refund is not None
    return refund


def parse_time(value: Any) -> datetime:
    """WeChat's RFC 3339 times (2026-06-18T10:34:56+08:00); now if absent or malformed."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return clock.now()
        if moment.tzinfo is not None:
            return moment
    return clock.now()


# --------------------------------------------------------------------------- views


def return_url(payment: Payment) -> str:
    """Where the buyer goes when the payment is done: the order, or the order list."""
    if len(payment.orders) == 1:
        return f"/orders/{payment.orders[0].order_no}"
    return "/orders"


def payment_channel(out_trade_no: str) -> str:
    """The realtime channel on which a payment's changes are announced (after commit)."""
    return f"payment:{out_trade_no}"


def payment_view(payment: Payment) -> dict[str, Any]:
    """What the buyer's app shows of a payment (the API's ``PaymentOut``), also sent on
    ``payment_channel`` when the payment changes, so a buyer waiting for it is told
    without asking again."""
    return {
        "out_trade_no": payment.out_trade_no,
        "status": payment.status.value,
        "amount_fen": payment.amount_fen,
        "method": payment.method.value,
        "order_nos": [link.order_no for link in payment.orders],
        "created_at": payment.created_at.isoformat(),
        "expires_at": payment.expires_at.isoformat(),
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "return_url": return_url(payment),
    }


def announce(db: Session, payment: Payment) -> None:
    """Tell whoever waits for this payment (the cashier, a buyer's app) that it changed,
    once this transaction commits (``realtime``: this process at once, the others through
    Redis or the outbox)."""
    realtime.publish(
        payment_channel(payment.out_trade_no),
        {"type": "payment", "payment": payment_view(payment)},
        db=db,
    )


# --------------------------------------------------------------------------- trades


def apply_trade_success(
    db: Session, provider: PaymentProvider, resource: dict[str, Any], *, source: str
) -> Payment:
    """The provider says the trade succeeded: pay the payment (once) and its orders.

    Checks that mchid, appid, amount and out_trade_no match ours (else ``Rejected``).
    Orders cancelled meanwhile (or paid by another payment) get an automatic refund.
    """
    out_trade_no = resource.get("out_trade_no")
    if not isinstance(out_trade_no, str) or not out_trade_no:
        raise Rejected("no out_trade_no")
    payment = lock_payment_by_number(db, out_trade_no)
    if payment is None:
        raise Rejected(f"unknown out_trade_no {out_trade_no[:32]}")
    if resource.get("mchid") != provider.mchid:
        raise Rejected("mchid does not match")
    if resource.get("appid") not in (None, provider.appid):
        raise Rejected("appid does not match")
    if resource.get("trade_state") not in (TRADE_SUCCESS, TRADE_REFUND):
        raise Rejected(f"trade_state is {resource.get('trade_state')!r}")
    amount = resource.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total != payment.amount_fen:
        raise Rejected(f"amount {total!r} does not match {payment.amount_fen}")
    if isinstance(amount, dict) and amount.get("currency", "CNY") != "CNY":
        raise Rejected("currency is not CNY")
    transaction_id = resource.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise Rejected("no transaction_id")
    if payment.status == P.PAID:
        if payment.transaction_id != transaction_id:
            raise Rejected("paid already by another transaction")
        # A duplicate or a retry: nothing more to do. Its links were joined before the wait
        # for the payment's lock, which re-reads only the payment on PostgreSQL: read them
        # again if anything asks.
        db.expire(payment, ["orders"])
        return payment
    was = payment.status
    paid_at = parse_time(resource.get("success_time"))
    move_payment(payment, "pay")
    payment.paid_at = paid_at
    payment.transaction_id = transaction_id[:64]
    payer_total = amount.get("payer_total") if isinstance(amount, dict) else None
    payment.payer_total_fen = payer_total if isinstance(payer_total, int) else total
    payment.open_key = None
    # Written now, before the orders move: the orders' statements are on their tables,
    # which do not flush the session, and a listener of "paid" reads what is written.
    db.flush()
    links = list(payment.orders)
    result = orders_service.mark_paid(
        db,
        order_ids=[link.order_id for link in links],
        paid_at=paid_at,
        payment_ref=payment.out_trade_no,
    )
    unpayable = set(result.unpayable)
    note = f"{source} transaction_id={transaction_id}"
    if was == P.CLOSED:
        note += " (after the payment was closed)"
    event(db, "paid", payment_id=payment.id, note=note)
    announce(db, payment)
    _set_outcomes(db, payment.id, links, unpayable)
    for link in links:
        if link.order_id in unpayable:
            create_refund(
                db,
                payment,
                order_id=link.order_id,
                amount_fen=link.amount_fen,
                reason="订单已取消，自动退款",
                ref=AUTO_REFUND_REF,
                settles_order=False,
            )
    db.flush()
    return payment


_LINKS = cast(Table, PaymentOrder.__table__)
_SET_OUTCOME = (
    update(_LINKS)
    .where(
        _LINKS.c.payment_id == bindparam("payment"),
        _LINKS.c.order_id.in_(bindparam("ids", expanding=True)),
    )
    .values(outcome=bindparam("v_outcome"))
)


def _set_outcomes(
    db: Session, payment_id: int, links: list[PaymentOrder], unpayable: set[int]
) -> None:
    """What paying did to each order of the payment: one UPDATE per outcome (usually one,
    "paid"), however many orders; the loaded links follow without a read."""
    for outcome, wanted in (("paid", False), ("unpayable", True)):
        order_ids = [link.order_id for link in links if (link.order_id in unpayable) == wanted]
        if not order_ids:
            continue
        db.execute(_SET_OUTCOME, {"payment": payment_id, "ids": order_ids, "v_outcome": outcome})
        for link in links:
            if link.order_id in order_ids:
                set_committed_value(link, "outcome", outcome)


def close_payment(db: Session, payment: Payment, *, actor_id: int | None, note: str) -> None:
    """Close our side of an unpaid payment (the caller has closed it at the provider)."""
    move_payment(payment, "close")
    payment.closed_at = clock.now()
    payment.open_key = None
    event(db, "closed", payment_id=payment.id, actor_id=actor_id, note=note)
    announce(db, payment)


# --------------------------------------------------------------------------- refunds


def in_flight_fen(db: Session, *, payment_id: int, order_id: int | None = None) -> int:
    """Refunds not failed and not yet counted by orders (pending or processing)."""
    conds = [Refund.payment_id == payment_id, Refund.status.in_(IN_FLIGHT)]
    if order_id is not None:
        conds += [Refund.order_id == order_id, Refund.settles_order.is_(True)]
    total = db.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(*conds))
    return int(total or 0)


def committed_fen(db: Session, *, payment_id: int) -> int:
    """Everything refunded or being refunded from this payment."""
    total = db.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment_id, Refund.status != R.FAILED
        )
    )
    return int(total or 0)


def create_refund(
    db: Session,
    payment: Payment,
    *,
    order_id: int,
    amount_fen: int,
    reason: str,
    ref: str,
    settles_order: bool,
    actor_id: int | None = None,
) -> Refund:
    """A pending refund (the caller holds the payment lock and checked the amount)."""
    refund = Refund(
        out_refund_no=new_number("RF"),
        payment_id=payment.id,
        order_id=order_id,
        amount_fen=amount_fen,
        reason=reason[:80],
        ref=ref,
        settles_order=settles_order,
        status=R.PENDING,
    )
    db.add(refund)
    db.flush()
    _submit_after_commit(db)
    event(
        db,
        "refund_requested",
        payment_id=payment.id,
        refund_id=refund.id,
        actor_id=actor_id,
        note=f"{ref} {amount_fen} fen",
    )
    return refund


def _submit_after_commit(db: Session) -> None:
    """Ask the worker to send pending refunds as soon as this transaction commits, so a
    refund goes out in seconds; the minutely job is the safety net if the queue is down."""
    if db.info.get("refund_submit_hooked"):
        return
    db.info["refund_submit_hooked"] = True

    def _after_commit(session: Session) -> None:
        session.info.pop("refund_submit_hooked", None)
        from xiaodian import tasks
        from xiaodian.payments import jobs

        tasks.enqueue(jobs.payments_submit_refunds_now)

    # After a rollback the hook stays armed and fires on the session's next commit: one
    # harmless extra wake-up of an idempotent job.
    sa_event.listen(db, "after_commit", _after_commit, once=True)


def paying_link(db: Session, *, order_id: int) -> PaymentOrder | None:
    """The payment line that paid this order, if any."""
    return db.scalar(
        select(PaymentOrder)
        .join(Payment, Payment.id == PaymentOrder.payment_id)
        .where(
            PaymentOrder.order_id == order_id,
            PaymentOrder.outcome == "paid",
            Payment.status == P.PAID,
        )
    )


def fail_refund(db: Session, refund: Refund, *, reason: str) -> None:
    """The provider refused the refund for good (the caller holds the payment lock)."""
    move_refund(refund, "fail")
    refund.failure = reason[:200]
    refund.settled_at = clock.now()
    event(db, "refund_failed", payment_id=refund.payment_id, refund_id=refund.id, note=reason)
    _tell_requester(db, refund, succeeded=False)


RETRY_MARK = "#"  # "aftersale:12#r7": the refund "aftersale:12" sent again after refund 7


def base_ref(ref: str) -> str:
    """The requester's own reference of a refund, without the retry's mark (requesters'
    references never hold the mark: after-sales numbers, "auto:...", checked ops keys)."""
    return ref.partition(RETRY_MARK)[0]


def _tell_requester(db: Session, refund: Refund, *, succeeded: bool) -> None:
    """Whoever asked for the refund hears of its outcome (``payments.lifecycle``), by its
    own reference (a retry's mark removed)."""
    lifecycle.announce(
        db,
        lifecycle.RefundOutcome(
            outcome="settled" if succeeded else "failed",
            ref=base_ref(refund.ref),
            order_id=refund.order_id,
            amount_fen=refund.amount_fen,
            reason="" if succeeded else (refund.failure or ""),
        ),
    )


def check_refund_resource(
    provider: PaymentProvider, payment: Payment, refund: Refund, resource: dict[str, Any]
) -> None:
    """What the provider says about a refund (its notification, the refund call's answer,
    a query's) must match ours in full, else ``Rejected`` and the caller changes nothing.

    The refund's and the trade's numbers, the transaction id, WeChat's refund id once we
    hold it, the trade's total and the refund's amount; the merchant id where the provider
    sends one (notifications do, answers to our own calls do not).
    """
    if resource.get("mchid") not in (None, provider.mchid):
        raise Rejected("mchid does not match")
    _must_equal(resource, "out_refund_no", refund.out_refund_no)
    _must_equal(resource, "out_trade_no", payment.out_trade_no)
    _must_equal(resource, "transaction_id", payment.transaction_id)
    if refund.provider_refund_id is not None:
        _must_equal(resource, "refund_id", refund.provider_refund_id)
    amount = resource.get("amount")
    if not isinstance(amount, dict):
        raise Rejected("no amount")
    _must_equal_fen(amount, "total", payment.amount_fen, label="total")
    _must_equal_fen(amount, "refund", refund.amount_fen, label="refund amount")
    if amount.get("currency", "CNY") != "CNY":
        raise Rejected("currency is not CNY")


def _must_equal(resource: dict[str, Any], key: str, ours: str | None) -> None:
    theirs = resource.get(key)
    if ours is None or not isinstance(theirs, str) or theirs != ours:
        shown = theirs[:64] if isinstance(theirs, str) else theirs
        raise Rejected(f"{key} {shown!r} does not match ours")


def _must_equal_fen(amount: dict[str, Any], key: str, ours: int, *, label: str) -> None:
    theirs = amount.get(key)
    if not isinstance(theirs, int) or isinstance(theirs, bool) or theirs != ours:
        raise Rejected(f"{label} {theirs!r} does not match {ours}")


def apply_refund_state(db: Session, refund: Refund, state: RefundState, *, source: str) -> bool:
    """Apply what the provider says about a refund; True if something changed.

    The caller holds the payment lock. SUCCESS settles it (and counts it at the order,
    idempotently per out_refund_no); CLOSED fails it; PROCESSING marks it submitted;
    ABNORMAL keeps it processing (still counted against the payment: WeChat Pay holds the
    money until the merchant finishes the refund there, then it succeeds) with a note.
    """
    if state.status == REFUND_SUCCESS:
        if refund.status == R.SUCCEEDED:
            return False
        if refund.status == R.FAILED:
            raise Rejected("the refund was already marked failed")
        move_refund(refund, "succeed")
        refund.submitted_at = refund.submitted_at or clock.now()
        refund.settled_at = parse_time(state.raw.get("success_time"))
        refund.provider_refund_id = state.refund_id or refund.provider_refund_id
        if refund.settles_order:
            orders_service.apply_refund(
                db,
                order_id=refund.order_id,
                amount_fen=refund.amount_fen,
                refund_ref=refund.out_refund_no,
            )
        event(
            db, "refund_succeeded", payment_id=refund.payment_id, refund_id=refund.id, note=source
        )
        _tell_requester(db, refund, succeeded=True)
        return True
    if state.status in REFUND_FAILED:
        if refund.status in (R.FAILED, R.SUCCEEDED):
            return False
        fail_refund(db, refund, reason=f"{state.status} ({source})")
        return True
    if state.status == REFUND_ABNORMAL:
        if refund.status not in IN_FLIGHT or refund.abnormal:
            return False
        if refund.status == R.PENDING:
            move_refund(refund, "submit")
            refund.submitted_at = clock.now()
        refund.provider_refund_id = state.refund_id or refund.provider_refund_id
        refund.failure = (
            f"{ABNORMAL_NOTE} ({source}): to be finished in the WeChat Pay merchant platform"
        )
        event(db, "refund_abnormal", payment_id=refund.payment_id, refund_id=refund.id, note=source)
        return True
    if state.status == REFUND_PROCESSING and refund.status == R.PENDING:
        move_refund(refund, "submit")
        refund.provider_refund_id = state.refund_id
        refund.submitted_at = clock.now()
        event(db, "refund_submitted", payment_id=refund.payment_id, refund_id=refund.id)
        return True
    return False

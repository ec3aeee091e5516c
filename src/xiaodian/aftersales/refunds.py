"""After-sales and payments: what may still be refunded, starting a case's refund, and what
payments reports back (``refund_settled``, ``refund_failed``: they join the caller's
transaction and are registered as listeners of ``payments.lifecycle``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.aftersales import service, states
from xiaodian.aftersales.models import AftersaleCase, CaseStatus
from xiaodian.errors import Conflict, _
from xiaodian.money import format_fen
from xiaodian.orders import service as orders_service
from xiaodian.orders.service import Order, OrderLine
from xiaodian.payments import lifecycle as payments_lifecycle
from xiaodian.payments import service as payments_service

S = CaseStatus


def _case_fen(db: Session, order_id: int, statuses: Iterable[CaseStatus], *conds: Any) -> int:
    """Money of this order's cases in ``statuses``: approved while refunding, else refunded."""
    rows = db.execute(
        select(AftersaleCase.status, AftersaleCase.approved_fen, AftersaleCase.refunded_fen).where(
            AftersaleCase.order_id == order_id, AftersaleCase.status.in_(list(statuses)), *conds
        )
    ).all()
    return sum(
        (approved or 0) if status == S.REFUNDING else refunded
        for status, approved, refunded in rows
    )


def refundable_fen(
    db: Session,
    order: Order,
    line: OrderLine | None = None,
    quantity: int | None = None,
    *,
    exclude: int | None = None,
) -> int:
    """What may still be refunded for ``quantity`` of ``line`` (or the whole order).

    The order's paid minus refunded (orders) minus refunds in flight from after-sales, and
    for a line also its own amount (pro rata by quantity) minus what its cases got back.
    """
    extra = [AftersaleCase.id != exclude] if exclude is not None else []
    in_flight = _case_fen(db, order.id, [S.REFUNDING], *extra)
    left = orders_service.refundable_fen(db, order_id=order.id) - in_flight
    if line is not None:
        qty = quantity or line.quantity
        share = line.amount_fen * qty // line.quantity
        used = _case_fen(
            db, order.id, [S.REFUNDING, S.REFUNDED], AftersaleCase.line_id == line.id, *extra
        )
        left = min(left, share, line.amount_fen - used)
    return max(0, left)


def start_refund(db: Session, case: AftersaleCase, role: str, actor_id: int | None) -> None:
    """Move the case to refunding and ask payments for its approved amount (409 when more
    than can still be refunded). Joins the caller's transaction."""
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    line = service.find_line(order, case.line_id)
    available = refundable_fen(db, order, line, case.quantity, exclude=case.id)
    amount = case.approved_fen or 0
    if amount <= 0 or amount > available:
        raise Conflict(
            _("The refund is more than what can still be refunded (%(max)s)."),
            code="refund_exceeds_refundable",
            max=format_fen(available),
        )
    service.move(db, case, "start_refund", role, actor_id, amount_fen=amount)
    payments_service.request_refund(
        db,
        order_id=case.order_id,
        amount_fen=amount,
        reason=f"售后 {states.KIND_LABELS[case.kind]} #{case.id}",
        ref=f"aftersale:{case.id}",
    )


def _case_of_ref(db: Session, ref: str) -> AftersaleCase | None:
    prefix, _sep, number = (ref or "").partition(":")
    if prefix != "aftersale" or not number.isdigit():
        return None
    return service.load_case(db, int(number), lock=True)


def refund_settled(db: Session, *, ref: str, amount_fen: int) -> AftersaleCase | None:
    """Payments: the refund with ``ref`` ("aftersale:<id>") succeeded. Joins the caller's
    transaction. The case becomes refunded; calling again changes nothing. Refs of other
    origins are ignored (returns None)."""
    case = _case_of_ref(db, ref)
    if case is None:
        return None
    if case.status != S.REFUNDING:
        return case  # already settled (a duplicate notification) or not ours to move
    service.move(db, case, "settle", "payment", None, amount_fen=amount_fen)
    case.refunded_fen = amount_fen
    return case


def refund_failed(db: Session, *, ref: str, reason: str) -> AftersaleCase | None:
    """Payments: the refund with ``ref`` failed for good. Joins the caller's transaction.
    The case stays ``refunding`` (the money is not lost: an operator retries it) and the
    failure is written to its history."""
    case = _case_of_ref(db, ref)
    if case is None or case.status != S.REFUNDING:
        return case
    service.add_event(
        db, case, "refund_failed", "payment", None, case.status, note=reason[:500] or None
    )
    return case


@payments_lifecycle.on_refund("settled")
def _on_refund_settled(db: Session, outcome: payments_lifecycle.RefundOutcome) -> None:
    if outcome.ref.startswith("aftersale:"):
        refund_settled(db, ref=outcome.ref, amount_fen=outcome.amount_fen)


@payments_lifecycle.on_refund("failed")
def _on_refund_failed(db: Session, outcome: payments_lifecycle.RefundOutcome) -> None:
    if outcome.ref.startswith("aftersale:"):
        refund_failed(db, ref=outcome.ref, reason=outcome.reason)

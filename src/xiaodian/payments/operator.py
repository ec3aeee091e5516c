"""Operators' views of payments: the payments, the notification log and the refunds,
paged, and the counts the operations console shows. Read only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Generic, Literal, TypeVar, cast

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, _
from xiaodian.payments import core
from xiaodian.payments.models import (
    NotificationLog,
    NotificationOutcome,
    Payment,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundStatus,
)

log = logging.getLogger(__name__)
P = PaymentStatus
R = RefundStatus


OPS_PAGE_SIZE = 30
NotificationFilter = Literal["all", "accepted", "refused", "error"]
# accepted: verified and answered with success (applied, a duplicate, or nothing to do)
NOTIFICATION_FILTERS: dict[str, tuple[NotificationOutcome, ...]] = {
    "accepted": (
        NotificationOutcome.ACCEPTED,
        NotificationOutcome.DUPLICATE,
        NotificationOutcome.IGNORED,
    ),
    "refused": (NotificationOutcome.REFUSED,),
    "error": (NotificationOutcome.ERROR,),
}
# refunds needing attention first: failed, then waiting for us, then at the provider
_REFUND_ORDER = {R.FAILED: 0, R.PENDING: 1, R.PROCESSING: 2, R.SUCCEEDED: 3}


T = TypeVar("T")


@dataclass(frozen=True)
class OpsPage(Generic[T]):
    items: list[T]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment  # with .orders loaded
    buyer_name: str


@dataclass(frozen=True)
class RefundRow:
    refund: Refund
    out_trade_no: str
    order_no: str


def _check_page(page: int) -> int:
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise InvalidInput(_("Invalid page number."), code="bad_page")
    return page


def _paging(total: int, page: int) -> tuple[int, int]:
    """(page clamped to the last one, number of pages)."""
    pages = max(1, -(-total // OPS_PAGE_SIZE))
    return min(_check_page(page), pages), pages


def operator_payments(
    db: Session, actor: Actor, *, q: str = "", page: int = 1
) -> OpsPage[PaymentRow]:
    """Operators: payments, newest first, with their orders and buyer; ``q`` finds one by
    out_trade_no or by the number of an order it covers (exact). Four queries a page."""
    actor.require_operator()
    query = select(Payment)
    term = (q or "").strip()[:32]
    if term:
        covering = select(PaymentOrder.payment_id).where(PaymentOrder.order_no == term)
        query = query.where(or_(Payment.out_trade_no == term, Payment.id.in_(covering)))
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page, pages = _paging(total, page)
    payments = list(
        db.scalars(
            query.options(selectinload(Payment.orders))
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(OPS_PAGE_SIZE)
            .offset((page - 1) * OPS_PAGE_SIZE)
        )
    )
    buyers = accounts_service.users_by_ids(db, {p.buyer_id for p in payments})
    rows = [
        PaymentRow(p, buyers[p.buyer_id].display_name if p.buyer_id in buyers else "")
        for p in payments
    ]
    return OpsPage(items=rows, page=page, pages=pages, total=total)


def parse_notification_filter(value: str | None) -> NotificationFilter:
    """A log filter from a query string ("" means all). Raises InvalidInput."""
    if not value or value == "all":
        return "all"
    if value not in NOTIFICATION_FILTERS:
        raise InvalidInput(_("Unknown filter."), code="bad_filter")
    return cast(NotificationFilter, value)


def notification_log(
    db: Session, actor: Actor, *, filter: str = "all", page: int = 1
) -> OpsPage[NotificationLog]:
    """Operators: every notification received, newest first, optionally accepted / refused /
    error only; paged (two queries)."""
    actor.require_operator()
    chosen = parse_notification_filter(filter)
    conds = [] if chosen == "all" else [NotificationLog.outcome.in_(NOTIFICATION_FILTERS[chosen])]
    total = int(db.scalar(select(func.count()).select_from(NotificationLog).where(*conds)) or 0)
    page, pages = _paging(total, page)
    entries = list(
        db.scalars(
            select(NotificationLog)
            .where(*conds)
            .order_by(NotificationLog.received_at.desc(), NotificationLog.id.desc())
            .limit(OPS_PAGE_SIZE)
            .offset((page - 1) * OPS_PAGE_SIZE)
        )
    )
    return OpsPage(items=entries, page=page, pages=pages, total=total)


def operator_refunds(db: Session, actor: Actor, *, page: int = 1) -> OpsPage[RefundRow]:
    """Operators: refunds, those needing attention first (failed, pending, processing),
    then succeeded; newest first within each; with the trade and order numbers (two
    queries)."""
    actor.require_operator()
    total = int(db.scalar(select(func.count()).select_from(Refund)) or 0)
    page, pages = _paging(total, page)
    rank = case(*((Refund.status == status, n) for status, n in _REFUND_ORDER.items()), else_=9)
    found = db.execute(
        select(Refund, Payment.out_trade_no, PaymentOrder.order_no)
        .join(Payment, Payment.id == Refund.payment_id)
        .join(
            PaymentOrder,
            and_(
                PaymentOrder.payment_id == Refund.payment_id,
                PaymentOrder.order_id == Refund.order_id,
            ),
        )
        .order_by(rank, Refund.created_at.desc(), Refund.id.desc())
        .limit(OPS_PAGE_SIZE)
        .offset((page - 1) * OPS_PAGE_SIZE)
    ).all()
    rows = [RefundRow(refund, trade, order_no) for refund, trade, order_no in found]
    return OpsPage(items=rows, page=page, pages=pages, total=total)


def count_refused_notifications_today(db: Session, actor: Actor) -> int:
    """Operators: notifications refused since midnight (Asia/Shanghai), one query."""
    actor.require_operator()
    midnight = datetime.combine(clock.today(), time.min, tzinfo=clock.BUSINESS_TZ)
    return int(
        db.scalar(
            select(func.count())
            .select_from(NotificationLog)
            .where(
                NotificationLog.outcome == NotificationOutcome.REFUSED,
                NotificationLog.received_at >= midnight.astimezone(UTC),
            )
        )
        or 0
    )


def count_failed_refunds(db: Session, actor: Actor) -> int:
    """Operators: refunds waiting for someone (money not returned yet), one query: failed
    ones nobody sent again, and ABNORMAL ones (to be finished in WeChat Pay's platform)."""
    actor.require_operator()
    failed = and_(Refund.status == R.FAILED, Refund.retried_as.is_(None))
    abnormal = and_(Refund.status.in_(core.IN_FLIGHT), Refund.abnormal)
    return int(
        db.scalar(select(func.count()).select_from(Refund).where(or_(failed, abnormal))) or 0
    )

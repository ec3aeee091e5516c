"""What the reconciliation (ledger/reconciliation.py) asks of payments: the payments and
refunds that succeeded on a business day, found again by their numbers, and the provider's
bill of that day, fetched and checked against its announced hash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.clock import BUSINESS_TZ
from xiaodian.payments import bills
from xiaodian.payments.models import Payment, Refund, RefundStatus
from xiaodian.payments.providers import get_provider


@dataclass(frozen=True)
class PaidFact:
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    at: datetime


@dataclass(frozen=True)
class RefundFact:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    amount_fen: int
    status: str
    at: datetime | None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A business day (Beijing time, as WeChat Pay's bills count it) as two instants."""
    start = datetime.combine(day, time(0), tzinfo=BUSINESS_TZ)
    return start, start + timedelta(days=1)


def _paid_query() -> Any:
    return select(
        Payment.out_trade_no, Payment.transaction_id, Payment.amount_fen, Payment.paid_at
    ).where(Payment.paid_at.is_not(None))


def _refund_query() -> Any:
    return select(
        Refund.out_refund_no,
        Refund.provider_refund_id,
        Payment.out_trade_no,
        Refund.amount_fen,
        Refund.status,
        Refund.settled_at,
    ).join(Payment, Payment.id == Refund.payment_id)


def _paid(rows: Iterable[Any]) -> dict[str, PaidFact]:
    return {
        r.out_trade_no: PaidFact(r.out_trade_no, r.transaction_id or "", r.amount_fen, r.paid_at)
        for r in rows
    }


def _refunds(rows: Iterable[Any]) -> dict[str, RefundFact]:
    return {
        r.out_refund_no: RefundFact(
            r.out_refund_no,
            r.provider_refund_id or "",
            r.out_trade_no,
            r.amount_fen,
            str(r.status),
            r.settled_at,
        )
        for r in rows
    }


def paid_on(db: Session, day: date) -> dict[str, PaidFact]:
    """Payments we recorded as paid during ``day``, by out_trade_no."""
    start, end = day_bounds(day)
    query = _paid_query().where(Payment.paid_at >= start, Payment.paid_at < end)
    return _paid(db.execute(query))


def refunded_on(db: Session, day: date) -> dict[str, RefundFact]:
    """Refunds we recorded as succeeded during ``day``, by out_refund_no."""
    start, end = day_bounds(day)
    query = _refund_query().where(
        Refund.status == RefundStatus.SUCCEEDED, Refund.settled_at >= start, Refund.settled_at < end
    )
    return _refunds(db.execute(query))


def payments_by_number(db: Session, numbers: Iterable[str]) -> dict[str, PaidFact]:
    """Paid payments by out_trade_no, whatever their day (a trade near midnight)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    return _paid(db.execute(_paid_query().where(Payment.out_trade_no.in_(wanted))))


def refunds_by_number(db: Session, numbers: Iterable[str]) -> dict[str, RefundFact]:
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    return _refunds(db.execute(_refund_query().where(Refund.out_refund_no.in_(wanted))))


def fetch_bill(db: Session, kind: str, day: date) -> bytes | None:
    """The provider's ``kind`` bill ("trade" or "fundflow") of ``day``; None when the day
    has none. Raises ``BillNotReady`` (try later), ``ProviderError`` (unreachable) or
    ``bills.MalformedBill`` (the file is not the one announced)."""
    provider = get_provider(db)
    found = provider.apply_bill(kind, day)
    if found is None:
        return None
    if found.hash_type.upper() != "SHA1":
        raise bills.MalformedBill(f"unknown hash type {found.hash_type[:20]}")
    data = provider.download_bill(found.download_url)
    if bills.sha1(data) != found.hash_value.lower():
        raise bills.MalformedBill("the file's SHA1 is not the one announced")
    return data

"""Reconciliation: what the provider says of payments still open some minutes after they
were created, and of refunds stuck in processing, applied as a notification would be
(idempotently). Run by the payments' periodic job (``payments.jobs``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.errors import Conflict, IllegalTransition
from xiaodian.payments import core, service
from xiaodian.payments.core import Rejected
from xiaodian.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from xiaodian.payments.providers import get_provider
from xiaodian.payments.providers.base import (
    REFUND_NOT_FOUND,
    TRADE_FINAL_UNPAID,
    TRADE_REFUND,
    TRADE_SUCCESS,
    ProviderError,
)

log = logging.getLogger(__name__)
P = PaymentStatus
R = RefundStatus


@dataclass
class ReconcileReport:
    paid: int = 0
    closed: int = 0
    refunds_settled: int = 0
    errors: int = 0


def reconcile(db: Session, *, limit: int = 100) -> ReconcileReport:
    """Ask the provider about payments still open some minutes after creation, and about
    refunds stuck in processing. Success is handled as a notification would be
    (idempotently); closed or expired trades close our payment. Commits each.
    """
    minutes = settings_module.current().payment_reconcile_after_minutes
    now = clock.now()
    cutoff = now - timedelta(minutes=minutes)
    report = ReconcileReport()
    payment_ids = list(
        db.scalars(
            select(Payment.id)
            .where(Payment.status == P.OPEN, Payment.created_at <= cutoff)
            .order_by(Payment.id)
            .limit(limit)
        )
    )
    refund_ids = list(
        db.scalars(
            select(Refund.id)
            .where(
                Refund.status == R.PROCESSING,
                Refund.submitted_at <= cutoff,
            )
            # ABNORMAL ones (processing until the merchant finishes them at WeChat Pay)
            # last: however many wait there, they never crowd the others out of the limit
            .order_by(Refund.abnormal, Refund.id)
            .limit(limit)
        )
    )
    db.rollback()
    for payment_id in payment_ids:
        try:
            _reconcile_payment(db, payment_id, report)
            db.commit()
        except (ProviderError, Rejected, IllegalTransition, Conflict) as exc:
            db.rollback()
            report.errors += 1
            log.warning("reconcile payment %s: %s", payment_id, exc)
    for refund_id in refund_ids:
        try:
            _reconcile_refund(db, refund_id, report)
            db.commit()
        except (ProviderError, Rejected, IllegalTransition, Conflict) as exc:
            db.rollback()
            report.errors += 1
            log.warning("reconcile refund %s: %s", refund_id, exc)
    return report


def _reconcile_payment(db: Session, payment_id: int, report: ReconcileReport) -> None:
    payment = core.lock_payment(db, payment_id)
    if payment.status != P.OPEN:
        return
    provider = get_provider(db)
    state = provider.query(payment.out_trade_no)
    if state.state in (TRADE_SUCCESS, TRADE_REFUND):
        core.apply_trade_success(db, provider, state.raw, source="query")
        report.paid += 1
    elif state.state in TRADE_FINAL_UNPAID:
        core.close_payment(db, payment, actor_id=None, note=f"provider says {state.state}")
        report.closed += 1
    elif clock.now() >= payment.expires_at:
        if service.close_at_provider(db, payment, actor_id=None, note="expired"):
            report.closed += 1
        else:
            report.paid += 1


def _reconcile_refund(db: Session, refund_id: int, report: ReconcileReport) -> None:
    payment_id = db.scalar(select(Refund.payment_id).where(Refund.id == refund_id))
    assert payment_id is not None
    payment = core.lock_payment(db, payment_id)
    refund = core.lock_refund(db, refund_id)
    if refund.status != R.PROCESSING:
        return
    provider = get_provider(db)
    state = provider.query_refund(refund.out_refund_no)
    if state.status != REFUND_NOT_FOUND:
        core.check_refund_resource(provider, payment, refund, state.raw)
    if core.apply_refund_state(db, refund, state, source="query"):
        report.refunds_settled += 1

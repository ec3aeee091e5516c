"""Periodic and queued jobs of the payments domain (registered on xiaodian.tasks.huey).

Each is a thin call to an idempotent service function (tests call those directly with the
frozen clock).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from huey import crontab

from xiaodian import settings as settings_module
from xiaodian.payments import delivery, reconcile, service
from xiaodian.tasks import huey, job_session

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def payments_submit_refunds() -> int:
    """Send pending refunds to the provider."""
    with job_session() as db:
        return service.submit_refunds(db)


@huey.task()  # type: ignore[untyped-decorator]
def payments_submit_refunds_now() -> int:
    """Send pending refunds at once (queued when a refund is requested)."""
    with job_session() as db:
        return service.submit_refunds(db)


@huey.periodic_task(crontab(minute="*/2"))  # type: ignore[untyped-decorator]
def payments_reconcile() -> None:
    """Query the provider about payments and refunds whose news never came."""
    with job_session() as db:
        reconcile.reconcile(db)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def payments_sandbox_deliveries() -> None:
    """The sandbox's notification retries (15s ... 6h, WeChat's schedule)."""
    if settings_module.current().payment_provider != "sandbox":
        return
    with job_session() as db:
        delivery.deliver_due(db)


@huey.task()  # type: ignore[untyped-decorator]
def payments_deliver_now(out_trade_no: str) -> None:
    """Deliver a sandbox notification at once (queued right after the buyer paid)."""
    with job_session() as db:
        report = delivery.deliver_due(db, out_trade_no=out_trade_no)
        due = delivery.next_due(db, out_trade_no=out_trade_no) if report.failed else None
    if due is not None:  # finer than the minutely job: WeChat retries after 15 s
        schedule_delivery(out_trade_no, due)


def schedule_delivery(out_trade_no: str, eta: datetime) -> None:
    try:
        naive_utc = eta.astimezone(UTC).replace(tzinfo=None)
        payments_deliver_now.schedule(args=(out_trade_no,), eta=naive_utc)
    except Exception:  # pragma: no cover - queue outage: the minutely job catches up
        log.exception("could not schedule the delivery for %s", out_trade_no)

"""Periodic and queued jobs of the orders domain (registered on xiaodian.tasks.huey).

Each job is a thin call to an idempotent service function (tests call those directly
under the frozen clock): cancelling unpaid orders past their deadline, and completing
orders shipped long enough ago.
"""

from __future__ import annotations

from huey import crontab

from xiaodian.orders import service
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def cancel_expired_orders() -> int:
    with job_session() as db:
        return service.cancel_expired_orders(db)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def auto_complete_orders() -> int:
    with job_session() as db:
        return service.auto_complete_orders(db)

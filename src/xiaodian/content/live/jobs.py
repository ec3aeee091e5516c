"""Periodic jobs of live rooms (registered on xiaodian.tasks.huey); each a thin call to an
idempotent service function that tests call directly under the frozen clock. (Units of a
cancelled flash order need no job: they go back in the cancel's transaction,
``flash_returns``.)"""

from __future__ import annotations

from huey import crontab

from xiaodian.content.live import flash, flash_gate
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def expire_flash_sales() -> None:
    """Running sales past their end stop; unsold units go back on hand."""
    with job_session() as db:
        flash.expire_sales(db)


@huey.periodic_task(crontab(minute="*/5"))  # type: ignore[untyped-decorator]
def reconcile_flash_gates() -> None:
    """With Redis: rebuild the gates of running sales from the database (the record) where
    no admission is in flight. A safety net: leases, the rebuild at a process's start and
    the writers' ``heal`` bring back units the gate kept, within seconds."""
    with job_session() as db:
        flash_gate.reconcile_gates(db)
        db.commit()

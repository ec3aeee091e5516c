"""Periodic jobs of the after-sales domain (registered on xiaodian.tasks.huey).

Each is a thin call to an idempotent service function (tests call those directly with the
frozen clock): running one twice, or after a crash, changes nothing twice.
"""

from __future__ import annotations

from huey import crontab

from xiaodian.aftersales import arbitration, cases, returns
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def aftersales_auto_approve() -> int:
    """Approve cases the merchant left unanswered past the deadline (48 h by default)."""
    with job_session() as db:
        return cases.auto_approve_due(db)


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def aftersales_expire_escalations() -> int:
    """Close rejected cases that were not escalated within the window."""
    with job_session() as db:
        return arbitration.expire_escalations(db)


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def aftersales_complete_exchanges() -> int:
    """Complete exchanges whose replacement shipped long enough ago."""
    with job_session() as db:
        return returns.auto_complete_exchanges(db)

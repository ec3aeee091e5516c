"""Periodic jobs of the campaigns (registered on xiaodian.tasks.huey): group buys whose time
ran out are expired and refunded, late payers refunded (tests call ``groups.due`` with a
frozen clock)."""

from __future__ import annotations

from huey import crontab

from xiaodian.campaigns import groups
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def campaigns_groups_due() -> int:
    """Expire group buys past their time (every paid member refunded in full) and refund
    the members who paid after their group filled."""
    with job_session() as db:
        return groups.due(db)

"""The periodic jobs of violations (registered on xiaodian.tasks.huey)."""

from __future__ import annotations

from huey import crontab

from xiaodian.tasks import huey, job_session
from xiaodian.violations import recording, rules


@huey.periodic_task(crontab(minute="5"))  # type: ignore[untyped-decorator]
def violations_deadlines() -> int:
    """Every hour: deadlines passed (open violations expire), penalties whose days ended."""
    with job_session() as db:
        return recording.expire_due(db)


@huey.periodic_task(crontab(minute="40", hour="15"))  # type: ignore[untyped-decorator]
def violations_rules() -> int:
    """The platform's rules (late shipment, disputes, prohibited words), at 23:40
    Asia/Shanghai (15:40 UTC), before the night's health scores."""
    with job_session() as db:
        return rules.run_rules(db)

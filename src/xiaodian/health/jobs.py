"""The daily job of merchant health (registered on xiaodian.tasks.huey)."""

from __future__ import annotations

from huey import crontab

from xiaodian.health import service
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="10", hour="16"))  # type: ignore[untyped-decorator]
def health_daily_scores() -> int:
    """Every shop's score over the last 90 days, at 00:10 Asia/Shanghai (16:10 UTC)."""
    with job_session() as db:
        return service.compute_all(db)

"""Periodic jobs of the short-video domain (registered on xiaodian.tasks.huey).

Each is a thin call to an idempotent service function that tests call directly.
"""

from __future__ import annotations

from huey import crontab

from xiaodian.content import metrics
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def purge_event_marks() -> int:
    """Forget the viewer marks that only dedupe metrics inside their window."""
    with job_session() as db:
        return metrics.purge_event_marks(db)

"""Periodic jobs of logistics (registered on xiaodian.tasks.huey).

In sandbox mode, journeys play by themselves: each minute the steps that are due are
pushed to this deployment's push endpoint, as the tracking service would.
"""

from __future__ import annotations

from huey import crontab

from xiaodian import settings as settings_module
from xiaodian.logistics import sandbox, service
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def logistics_play_sandbox_journeys() -> int:
    if not settings_module.current().logistics_sandbox:
        return 0
    with job_session() as db:
        return sandbox.play_due(db, sandbox.http_sender())


@huey.periodic_task(crontab(minute="17"))  # type: ignore[untyped-decorator]
def logistics_stale_parcels() -> int:
    """Hourly: parcels silent for ``logistics_stale_hours`` become cases to chase."""
    with job_session() as db:
        return service.open_stale_cases(db)

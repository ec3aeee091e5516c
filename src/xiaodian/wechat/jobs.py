"""The WeChat jobs: order messages, sent from the worker after the change committed."""

from __future__ import annotations

from huey import crontab

from xiaodian.tasks import huey, job_session
from xiaodian.wechat import messages


@huey.task(retries=2, retry_delay=30)  # type: ignore[untyped-decorator]
def wechat_send_message(message_id: int) -> int:
    """Send one queued message (queued after the commit that wrote it)."""
    with job_session() as db:
        return messages.send_due(db, message_id=message_id).sent


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def wechat_send_due() -> int:
    """Send what is due again: retries after a failure, and messages a rate limit delayed."""
    with job_session() as db:
        return messages.send_due(db).sent

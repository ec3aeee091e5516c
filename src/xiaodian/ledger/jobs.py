"""Periodic jobs of the ledger (registered on xiaodian.tasks.huey): a thin call to the
idempotent settlement (tests call ``settlement.settle_due`` directly with a frozen clock)."""

from __future__ import annotations

from huey import crontab

from xiaodian.ledger import checkpoints, reconciliation, settlement, sharing, withdrawals
from xiaodian.tasks import huey, job_session


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def ledger_settle_due() -> int:
    """Move the income whose after-sales window has passed to the merchants' balances."""
    with job_session() as db:
        return settlement.settle_due(db)


@huey.periodic_task(crontab(minute="30"))  # type: ignore[untyped-decorator]
def ledger_reconcile_due() -> int:
    """Match WeChat Pay's bills of yesterday (ready from 10:00 Beijing time; asked for every
    hour until they are) and of the last week's days still not ready."""
    with job_session() as db:
        return reconciliation.reconcile_due(db)


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def ledger_checkpoint() -> int:
    """Move the balance checkpoints up to the postings surely committed."""
    with job_session() as db:
        return checkpoints.checkpoint(db)


@huey.periodic_task(crontab(hour="19", minute="45"))  # type: ignore[untyped-decorator]
def ledger_drift_check() -> int:
    """Recompute every checkpoint from the postings (03:45 Beijing time, when it is quiet)."""
    with job_session() as db:
        return len(checkpoints.drift_check(db).drifted)


@huey.periodic_task(crontab(minute="*/5"))  # type: ignore[untyped-decorator]
def ledger_payouts_due() -> int:
    """Ask WeChat Pay about withdrawals' transfers still under way; record the final ones."""
    with job_session() as db:
        return withdrawals.payouts_due(db)


@huey.periodic_task(crontab(minute="*/5"))  # type: ignore[untyped-decorator]
def ledger_profit_sharing() -> int:
    """Split what settled (分账) of payments made to be split; ask about splits under way."""
    with job_session() as db:
        return sharing.run(db)

"""Balance checkpoints: fast balances for accounts with long histories, and the drift check.

Balances are derived from the postings (``service.raw_balances``). Summing a million
postings of one account takes a noticeable time on every statement page, so a job
(``ledger_checkpoint``, every ten minutes) records each account's sum up to a posting id,
and a balance is that checkpoint plus the few postings after it (one query, the postings'
``(account_id, id, amount_fen)`` index).

The checkpoint never runs ahead of what is surely committed: it stops at the newest posting
written at least ``SETTLE_SECONDS`` ago (on PostgreSQL ids are taken at INSERT, so a
transaction still open could commit a lower id after a higher one; no transaction of
xiaodian stays open for minutes). Postings are immutable, so a checkpoint stays true once
taken. The drift check (a job, daily, and a test) recomputes every checkpoint from the
postings and records the result, which the operators' trial balance shows: a checkpoint
that differs is reported, and the next checkpoint run replaces it with the recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from xiaodian import bulk, clock
from xiaodian.ledger.models import (
    LedgerAccount,
    LedgerCheckpoint,
    LedgerDriftCheck,
    LedgerPosting,
    LedgerTransfer,
)

SETTLE_SECONDS = 600
_CHECKPOINTS = cast(Table, LedgerCheckpoint.__table__)


def _horizon(db: Session) -> int:
    """The newest posting id written at least SETTLE_SECONDS ago (0: none)."""
    cutoff = clock.now() - timedelta(seconds=SETTLE_SECONDS)
    newest = db.scalar(
        select(LedgerPosting.id)
        .where(LedgerPosting.at <= cutoff)
        .order_by(LedgerPosting.id.desc())
        .limit(1)
    )
    return int(newest or 0)


def checkpoint(db: Session) -> int:
    """Move every account's checkpoint to the horizon, adding the postings since the last
    one (a range of the postings' primary key); commits. Returns the postings added."""
    horizon = _horizon(db)
    last = int(db.scalar(select(func.max(LedgerCheckpoint.posting_id))) or 0)
    if horizon <= last:
        return 0
    deltas = {
        account_id: int(total)
        for account_id, total in db.execute(
            select(LedgerPosting.account_id, func.sum(LedgerPosting.amount_fen))
            .where(LedgerPosting.id > last, LedgerPosting.id <= horizon)
            .group_by(LedgerPosting.account_id)
        )
    }
    added = int(
        db.scalar(
            select(func.count())
            .select_from(LedgerPosting)
            .where(LedgerPosting.id > last, LedgerPosting.id <= horizon)
        )
        or 0
    )
    known = {
        account_id: balance
        for account_id, balance in db.execute(
            select(LedgerCheckpoint.account_id, LedgerCheckpoint.balance_fen)
        )
    }
    now = clock.now()
    for account_id, delta in deltas.items():
        if account_id in known:
            db.execute(
                update(LedgerCheckpoint)
                .where(LedgerCheckpoint.account_id == account_id)
                .values(balance_fen=LedgerCheckpoint.balance_fen + delta)
            )
    db.execute(update(LedgerCheckpoint).values(posting_id=horizon, at=now))
    fresh = [
        {"account_id": account_id, "posting_id": horizon, "balance_fen": delta, "at": now}
        for account_id, delta in deltas.items()
        if account_id not in known
    ]
    # accounts with no posting yet get a checkpoint too, so every account moves together
    quiet = db.scalars(
        select(LedgerAccount.id).where(LedgerAccount.id.not_in(select(LedgerCheckpoint.account_id)))
    ).all()
    fresh += [
        {"account_id": account_id, "posting_id": horizon, "balance_fen": 0, "at": now}
        for account_id in quiet
        if account_id not in deltas
    ]
    if fresh:
        bulk.insert_rows(db, _CHECKPOINTS, fresh)
    db.commit()
    return added


@dataclass(frozen=True)
class DriftReport:
    accounts: int
    drifted: list[tuple[int, int, int]]  # (account id, checkpoint, recomputed)
    orphan_postings: int = 0  # postings naming an account that does not exist


def drift_check(db: Session) -> DriftReport:
    """Recompute every checkpoint from the postings; record and return what differs, and
    put the recomputed sum in place of a checkpoint that drifted. Commits."""
    recomputed = select(
        LedgerCheckpoint.account_id,
        LedgerCheckpoint.balance_fen,
        select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0))
        .where(
            LedgerPosting.account_id == LedgerCheckpoint.account_id,
            LedgerPosting.id <= LedgerCheckpoint.posting_id,
        )
        .scalar_subquery(),
    )
    rows = db.execute(recomputed).all()
    drifted = [(int(a), int(kept), int(real)) for a, kept, real in rows if int(kept) != int(real)]
    for account_id, _kept, real in drifted:
        db.execute(
            update(LedgerCheckpoint)
            .where(LedgerCheckpoint.account_id == account_id)
            .values(balance_fen=real)
        )
    # What foreign keys would refuse (postings have none: see the model).
    account = select(LedgerAccount.id).where(LedgerAccount.id == LedgerPosting.account_id)
    transfer = select(LedgerTransfer.id).where(LedgerTransfer.id == LedgerPosting.transfer_id)
    orphans = db.scalar(
        select(func.count())
        .select_from(LedgerPosting)
        .where(~account.exists() | ~transfer.exists())
    )
    detail = ", ".join(f"{a}: {kept} != {real}" for a, kept, real in drifted[:20])
    db.add(
        LedgerDriftCheck(
            accounts=len(rows),
            drifted=len(drifted),
            orphan_postings=int(orphans or 0),
            detail=detail[:500],
        )
    )
    db.commit()
    return DriftReport(len(rows), drifted, int(orphans or 0))


def last_drift_check(db: Session) -> LedgerDriftCheck | None:
    return db.scalar(select(LedgerDriftCheck).order_by(LedgerDriftCheck.id.desc()).limit(1))

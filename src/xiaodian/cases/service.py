"""Cases: opening and closing them (the owning domains, in their own transactions), and
working them (operators claim, release, hand over; everyone sees the deadline).

The owning domain calls ``open_case`` when a subject starts waiting for someone (an
application submitted, a withdrawal requested) and ``close_case`` when it stops (decided,
paid), in the same transaction as the change, so a case exists exactly while its subject
waits. Both join the caller's transaction and never commit. ``pause_case`` /
``resume_case`` (the queue's rule must allow it) stop and restart the clock while the case
waits on the other party; ``extend_case`` moves a deadline by what a rule grants.

Operators work the platform's queues: ``claim`` is one conditional UPDATE (``owner_id IS
NULL``), so of two operators pressing "claim" at once exactly one holds the case and the
other is told who does; ``release`` and ``hand_over`` need the holder (or an admin). Each
queue says which roles may act on it (``queues``).

Reads cost a fixed number of statements whatever the number of cases: the home's counts
are one grouped query over the open cases, a queue's page one indexed range in deadline
order (keyset on ``(due_at, id)``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.cases import queues
from xiaodian.cases.models import Case, CaseLog
from xiaodian.errors import Conflict, _

PAGE = 50
EXPORT_MAX = 10_000


# --------------------------------------------------------------------------- the domains' side


def open_case(
    db: Session,
    queue: str,
    key: str,
    *,
    title: str,
    link: str,
    shop_id: int | None = None,
    due_at: datetime | None = None,
    actor_id: int | None = None,
) -> None:
    """The subject ``key`` waits in ``queue`` from now until ``due_at`` (the queue's SLA by
    default). Joins the caller's transaction. Opening a case that is open already changes
    nothing; a closed one opens again (a subject that waits again, e.g. a product
    resubmitted)."""
    rule = queues.get(queue)
    now = clock.now()
    due = due_at or now + rule.sla
    found = db.scalar(select(Case).where(Case.queue == queue, Case.key == key))
    if found is not None and found.closed_at is None:
        return
    if found is None:
        found = Case(
            queue=queue,
            key=key,
            shop_id=shop_id,
            title=title[:200],
            link=link[:300],
            opened_at=now,
            due_at=due,
        )
        db.add(found)
    else:
        found.title, found.link, found.shop_id = title[:200], link[:300], shop_id
        found.opened_at, found.due_at, found.closed_at, found.outcome = now, due, None, None
        found.owner_id = found.claimed_at = found.paused_at = None
    db.flush()
    db.add(CaseLog(case_id=found.id, at=now, actor_id=actor_id, action="opened"))


def open_cases(db: Session, queue: str, rows: Iterable[dict[str, Any]]) -> None:
    """Many cases of one queue in one statement (``key``, ``title``, ``link``, ``shop_id``,
    optional ``due_at``), for subjects that start waiting in bulk (a batch of paid orders).
    Keys open already are left as they are; nothing is logged (the subject's own history
    says when it started)."""
    rule = queues.get(queue)
    now = clock.now()
    values = [
        {
            "queue": queue,
            "key": row["key"],
            "shop_id": row.get("shop_id"),
            "title": str(row["title"])[:200],
            "link": str(row["link"])[:300],
            "opened_at": now,
            "due_at": row.get("due_at") or now + rule.sla,
        }
        for row in rows
    ]
    if not values:
        return
    keys = [v["key"] for v in values]
    db.execute(
        delete(Case).where(Case.queue == queue, Case.key.in_(keys), Case.closed_at.is_not(None))
    )
    open_now = set(db.scalars(select(Case.key).where(Case.queue == queue, Case.key.in_(keys))))
    fresh = [v for v in values if v["key"] not in open_now]
    if fresh:
        db.execute(insert(Case), fresh)


def close_case(
    db: Session, queue: str, key: str, *, outcome: str, actor_id: int | None = None
) -> None:
    """The subject stopped waiting (decided, paid, withdrawn): its case closes. Joins the
    caller's transaction; a subject without an open case changes nothing."""
    close_cases(db, queue, [key], outcome=outcome, actor_id=actor_id)


def close_cases(
    db: Session, queue: str, keys: Iterable[str], *, outcome: str, actor_id: int | None = None
) -> None:
    keys = list(keys)
    if not keys:
        return
    now = clock.now()
    closed = list(
        db.scalars(
            update(Case)
            .where(Case.queue == queue, Case.key.in_(keys), Case.closed_at.is_(None))
            .values(closed_at=now, outcome=outcome[:40])
            .returning(Case.id)
            .execution_options(synchronize_session=False)
        )
    )
    if closed and actor_id is not None:
        db.execute(
            insert(CaseLog),
            [
                {"case_id": i, "at": now, "actor_id": actor_id, "action": "closed", "note": outcome}
                for i in closed
            ],
        )


def pause_case(db: Session, queue: str, key: str) -> None:
    """Stop the clock (the case waits on the other party): only where the queue's rule
    allows it. Joins the caller's transaction."""
    if not queues.get(queue).pausable:
        raise Conflict(_("This kind of case cannot be paused."), code="not_pausable")
    db.execute(
        update(Case)
        .where(
            Case.queue == queue, Case.key == key, Case.closed_at.is_(None), Case.paused_at.is_(None)
        )
        .values(paused_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def resume_case(db: Session, queue: str, key: str) -> None:
    """Restart the clock: the deadline moves by the time it was paused."""
    found = db.scalar(
        select(Case).where(Case.queue == queue, Case.key == key, Case.closed_at.is_(None))
    )
    if found is None or found.paused_at is None:
        return
    now = clock.now()
    found.due_at = clock.as_utc(found.due_at) + (now - clock.as_utc(found.paused_at))
    found.paused_at = None
    db.add(CaseLog(case_id=found.id, at=now, action="resumed"))


def extend_case(db: Session, queue: str, key: str, *, by: timedelta, note: str) -> None:
    """Move the deadline by what a rule grants (``note`` says which). Joins the caller's
    transaction."""
    found = db.scalar(
        select(Case).where(Case.queue == queue, Case.key == key, Case.closed_at.is_(None))
    )
    if found is None:
        return
    found.due_at = clock.as_utc(found.due_at) + by
    db.add(CaseLog(case_id=found.id, action="extended", note=note[:300]))

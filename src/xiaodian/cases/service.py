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

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import bulk, clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.cases import queues
from xiaodian.cases.models import Case, CaseLog, OperatorRole
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied, _

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


def open_cases(
    db: Session, queue: str, rows: Iterable[dict[str, Any]], *, again: bool = False
) -> None:
    """Many cases of one queue in ONE statement (``key``, ``title``, ``link``, ``shop_id``,
    optional ``due_at``), for subjects that start waiting in bulk (a batch of paid orders,
    a day's reconciliation breaks). A key that has a case already (open or closed) keeps
    it, unless ``again`` (subjects that wait once more: their closed cases make way);
    nothing is logged (the subject's own history says when it started)."""
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
    if again:
        keys = [v["key"] for v in values]
        db.execute(
            delete(Case).where(Case.queue == queue, Case.key.in_(keys), Case.closed_at.is_not(None))
        )
    # The rows as parameters (one multi-row INSERT, built and compiled once).
    db.execute(_open_statement(bulk.is_postgresql(db)), values)


@functools.cache
def _open_statement(postgres: bool) -> Any:
    dialect = postgresql if postgres else sqlite
    return dialect.insert(cast(Table, Case.__table__)).on_conflict_do_nothing(
        index_elements=["queue", "key"]
    )


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


# --------------------------------------------------------------------------- operators' side


def roles_of(db: Session, user_id: int) -> frozenset[str]:
    """An operator's roles; none recorded: admin (see ``OperatorRole``)."""
    found = frozenset(db.scalars(select(OperatorRole.role).where(OperatorRole.user_id == user_id)))
    return found or frozenset({"admin"})


def require_role(db: Session, actor: Actor, queue: str) -> int:
    """The operator's id if their roles work ``queue`` (its rule in ``queues``); else
    PermissionDenied. The owning domains ask this before an operator decides a subject of
    the queue (an application, a withdrawal), so a role means the same in the queue and in
    the action."""
    user_id = actor.require_operator()
    if not queues.may_act(queues.get(queue), roles_of(db, user_id)):
        raise PermissionDenied(_("Your role does not work this queue."), code="not_your_queue")
    return user_id


def _case(db: Session, case_id: int, *, lock: bool = False) -> Case:
    found = None
    if 0 < case_id <= MAX_ID:
        query = select(Case).where(Case.id == case_id)
        found = db.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(_("Case not found."), code="case_not_found")
    return found


def _may_act(db: Session, actor: Actor, found: Case) -> tuple[int, frozenset[str]]:
    user_id = actor.require_operator()
    rule = queues.get(found.queue)
    roles = roles_of(db, user_id)
    if rule.side != "platform" or not queues.may_act(rule, roles):
        raise PermissionDenied(_("Your role does not work this queue."), code="not_your_queue")
    return user_id, roles


def _held_by_someone(db: Session, found: Case) -> Conflict:
    holder = accounts_service.users_by_ids(db, [found.owner_id or 0]).get(found.owner_id or 0)
    name = holder.display_name if holder is not None else "?"
    return Conflict(_("%(name)s holds this case already."), code="case_claimed", name=name)


def _is_operator(db: Session, user_id: int) -> bool:
    if not 0 < user_id <= MAX_ID:
        return False
    user = accounts_service.users_by_ids(db, [user_id]).get(user_id)
    return bool(user is not None and user.is_operator and user.is_active)


def claim(db: Session, actor: Actor, case_id: int) -> Case:
    """Hold an open case of a queue the operator works; commits. Of two operators claiming
    at once exactly one holds it (one conditional UPDATE); the other gets Conflict with the
    holder's name. Claiming a case one holds already changes nothing."""
    found = _case(db, case_id)
    user_id, _roles = _may_act(db, actor, found)
    if found.closed_at is not None:
        raise Conflict(_("This case is closed."), code="case_closed")
    if found.owner_id == user_id:
        db.commit()
        return found
    now = clock.now()
    taken = db.execute(
        update(Case)
        .where(Case.id == found.id, Case.closed_at.is_(None), Case.owner_id.is_(None))
        .values(owner_id=user_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not taken:
        db.rollback()
        found = _case(db, case_id)
        if found.closed_at is not None:
            raise Conflict(_("This case is closed."), code="case_closed")
        raise _held_by_someone(db, found)
    db.add(CaseLog(case_id=found.id, at=now, actor_id=user_id, action="claimed"))
    db.commit()
    db.refresh(found)
    return found


def claim_many(db: Session, actor: Actor, case_ids: list[int]) -> int:
    """Claim the unclaimed open cases among ``case_ids`` (at most a page) of queues the
    operator works; commits. Cases held by others are left to them. How many were
    claimed."""
    user_id = actor.require_operator()
    ids = sorted({i for i in case_ids if isinstance(i, int) and 0 < i <= MAX_ID})[:PAGE]
    if not ids:
        return 0
    roles = roles_of(db, user_id)
    allowed = [q.name for q in queues.platform_queues() if queues.may_act(q, roles)]
    now = clock.now()
    taken = list(
        db.scalars(
            update(Case)
            .where(
                Case.id.in_(ids),
                Case.queue.in_(allowed),
                Case.closed_at.is_(None),
                Case.owner_id.is_(None),
            )
            .values(owner_id=user_id, claimed_at=now)
            .returning(Case.id)
            .execution_options(synchronize_session=False)
        )
    )
    if taken:
        db.execute(
            insert(CaseLog),
            [
                {"case_id": i, "at": now, "actor_id": user_id, "action": "claimed", "note": ""}
                for i in taken
            ],
        )
    db.commit()
    return len(taken)


def release(db: Session, actor: Actor, case_id: int) -> Case:
    """Give a held case back to its queue (its holder, or an admin); commits."""
    found = _case(db, case_id, lock=True)
    user_id, roles = _may_act(db, actor, found)
    if found.owner_id is None:
        db.commit()
        return found
    if found.owner_id != user_id and "admin" not in roles:
        raise _held_by_someone(db, found)
    found.owner_id = found.claimed_at = None
    db.add(CaseLog(case_id=found.id, actor_id=user_id, action="released"))
    db.commit()
    return found


def hand_over(db: Session, actor: Actor, case_id: int, to_user_id: int) -> Case:
    """Hand a held (or unclaimed) case to another operator who works its queue (the holder,
    or an admin); commits."""
    found = _case(db, case_id, lock=True)
    user_id, roles = _may_act(db, actor, found)
    if found.closed_at is not None:
        raise Conflict(_("This case is closed."), code="case_closed")
    if found.owner_id not in (None, user_id) and "admin" not in roles:
        raise _held_by_someone(db, found)
    if not _is_operator(db, to_user_id) or not queues.may_act(
        queues.get(found.queue), roles_of(db, to_user_id)
    ):
        raise InvalidInput(
            _("Hand the case to an operator who works this queue."), code="bad_operator"
        )
    found.owner_id, found.claimed_at = to_user_id, clock.now()
    db.add(CaseLog(case_id=found.id, actor_id=user_id, action="handed", note=f"to {to_user_id}"))
    db.commit()
    return found


def set_roles(db: Session, actor: Actor, user_id: int, roles: list[str]) -> frozenset[str]:
    """An admin gives an operator their roles (at least one); commits."""
    admin = actor.require_operator()
    if "admin" not in roles_of(db, admin):
        raise PermissionDenied(_("Only an admin gives out roles."), code="not_admin")
    wanted = sorted(set(roles))
    if not wanted or any(r not in queues.ROLES for r in wanted):
        raise InvalidInput(_("Choose at least one known role."), code="bad_roles")
    if not _is_operator(db, user_id):
        raise NotFound(_("Operator not found."), code="operator_not_found")
    db.execute(delete(OperatorRole).where(OperatorRole.user_id == user_id))
    now = clock.now()
    db.add_all(
        OperatorRole(user_id=user_id, role=r, granted_by=admin, granted_at=now) for r in wanted
    )
    db.commit()
    return frozenset(wanted)

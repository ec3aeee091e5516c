"""What the consoles show of the cases: the operator home (every queue's count, breaches,
oldest deadline, what the operator holds), a queue's page (oldest deadline first,
filterable, exportable as CSV), a case with its log, and the merchant's "due" list.

A fixed number of statements whatever the number of cases: the home is one grouped query
over the open cases, a page one range of the ``(queue, due_at)`` index (keyset paging on
``(due_at, id)``), the holders' names one more."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.cases import queues
from xiaodian.cases.models import Case, CaseLog, OperatorRole
from xiaodian.cases.service import EXPORT_MAX, PAGE, _case, roles_of
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, NotFound, _

OWNERS = ("all", "mine", "unclaimed", "others")


@dataclass(frozen=True)
class QueueCount:
    queue: queues.Queue
    open: int
    breached: int
    mine: int
    unclaimed: int
    oldest_due: datetime | None
    may_act: bool


@dataclass(frozen=True)
class CaseRow:
    case: Case
    owner_name: str | None
    left: timedelta  # until breach (negative: breached); frozen while paused
    age: timedelta  # since it opened

    @property
    def breached(self) -> bool:
        return self.left < timedelta(0)


def _left(found: Case, now: datetime) -> timedelta:
    due = clock.as_utc(found.due_at)
    at = clock.as_utc(found.paused_at) if found.paused_at is not None else now
    return due - at


def home(db: Session, actor: Actor) -> list[QueueCount]:
    """Every platform queue with its counts, those with open cases first, oldest deadline
    first; one grouped query."""
    user_id = actor.require_operator()
    roles = roles_of(db, user_id)
    now = clock.now()
    names = [q.name for q in queues.platform_queues()]
    rows = db.execute(
        select(
            Case.queue,
            func.count(),
            func.sum(case((and_(Case.due_at < now, Case.paused_at.is_(None)), 1), else_=0)),
            func.sum(case((Case.owner_id == user_id, 1), else_=0)),
            func.sum(case((Case.owner_id.is_(None), 1), else_=0)),
            func.min(Case.due_at),
        )
        .where(Case.closed_at.is_(None), Case.queue.in_(names))
        .group_by(Case.queue)
    ).all()
    found = {row[0]: row for row in rows}
    out = []
    for rule in queues.platform_queues():
        row = found.get(rule.name)
        out.append(
            QueueCount(
                queue=rule,
                open=int(row[1]) if row else 0,
                breached=int(row[2] or 0) if row else 0,
                mine=int(row[3] or 0) if row else 0,
                unclaimed=int(row[4] or 0) if row else 0,
                oldest_due=row[5] if row else None,
                may_act=queues.may_act(rule, roles),
            )
        )
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda q: clock.as_utc(q.oldest_due) if q.oldest_due else never)


@dataclass(frozen=True)
class Filters:
    owner: str = "all"  # all | mine | unclaimed | others
    breached: bool = False
    shop_id: int | None = None
    after: tuple[datetime, int] | None = None  # keyset: the last row of the page before


def check_filters(owner: object, breached: object, shop_id: object, after: object) -> Filters:
    """The query string's filters, checked (422 on anything else)."""
    if owner not in OWNERS:
        raise InvalidInput(_("Unknown owner filter."), code="bad_filter")
    shop = None
    if shop_id not in (None, ""):
        if not isinstance(shop_id, str) or not shop_id.isdigit() or not 0 < int(shop_id) <= MAX_ID:
            raise InvalidInput(_("Unknown shop filter."), code="bad_filter")
        shop = int(shop_id)
    cursor = None
    if after not in (None, ""):
        try:
            stamp, _sep, last = str(after).rpartition("_")
            cursor = (clock.as_utc(datetime.fromisoformat(stamp)), int(last))
        except (ValueError, TypeError):
            raise InvalidInput(_("Unknown page."), code="bad_filter") from None
        if not 0 < cursor[1] <= MAX_ID:
            raise InvalidInput(_("Unknown page."), code="bad_filter")
    return Filters(
        owner=str(owner), breached=breached in (True, "1", "true"), shop_id=shop, after=cursor
    )


def _queue(name: str) -> queues.Queue:
    rule = queues.QUEUES.get(name)
    if rule is None:
        raise NotFound(_("Queue not found."), code="queue_not_found")
    return rule


def _platform_query(
    db: Session, actor: Actor, name: str, filters: Filters
) -> tuple[queues.Queue, object]:
    user_id = actor.require_operator()
    rule = _queue(name)
    if rule.side != "platform":
        raise NotFound(_("Queue not found."), code="queue_not_found")
    now = clock.now()
    query = select(Case).where(Case.closed_at.is_(None), Case.queue == rule.name)
    if filters.owner == "mine":
        query = query.where(Case.owner_id == user_id)
    elif filters.owner == "unclaimed":
        query = query.where(Case.owner_id.is_(None))
    elif filters.owner == "others":
        query = query.where(Case.owner_id.is_not(None), Case.owner_id != user_id)
    if filters.breached:
        query = query.where(Case.due_at < now, Case.paused_at.is_(None))
    if filters.shop_id is not None:
        query = query.where(Case.shop_id == filters.shop_id)
    if filters.after is not None:
        due, last = filters.after
        query = query.where(or_(Case.due_at > due, and_(Case.due_at == due, Case.id > last)))
    return rule, query.order_by(Case.due_at, Case.id)


def _rows(db: Session, found: list[Case]) -> list[CaseRow]:
    now = clock.now()
    owners = accounts_service.users_by_ids(db, {c.owner_id for c in found if c.owner_id})
    return [
        CaseRow(
            case=c,
            owner_name=(owners[c.owner_id].display_name if c.owner_id in owners else None),
            left=_left(c, now),
            age=now - clock.as_utc(c.opened_at),
        )
        for c in found
    ]


def queue_page(
    db: Session, actor: Actor, name: str, filters: Filters
) -> tuple[queues.Queue, list[CaseRow], str | None]:
    """A page of a platform queue, oldest deadline first; the cursor of the next page."""
    rule, query = _platform_query(db, actor, name, filters)
    found = list(db.scalars(query.limit(PAGE + 1)))  # type: ignore[attr-defined]
    more = len(found) > PAGE
    found = found[:PAGE]
    cursor = None
    if more and found:
        last = found[-1]
        cursor = f"{clock.as_utc(last.due_at).isoformat()}_{last.id}"
    return rule, _rows(db, found), cursor


def export_csv(db: Session, actor: Actor, name: str, filters: Filters) -> str:
    """The queue with these filters as CSV (at most ``EXPORT_MAX`` rows)."""
    _rule, query = _platform_query(
        db, actor, name, Filters(filters.owner, filters.breached, filters.shop_id)
    )
    rows = _rows(db, list(db.scalars(query.limit(EXPORT_MAX))))  # type: ignore[attr-defined]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "queue", "subject", "shop_id", "title", "opened_at", "due_at", "owner", "hours_left"]
    )
    for row in rows:
        c = row.case
        writer.writerow(
            [
                c.id,
                c.queue,
                c.key,
                c.shop_id or "",
                c.title,
                clock.as_utc(c.opened_at).isoformat(),
                clock.as_utc(c.due_at).isoformat(),
                row.owner_name or "",
                round(row.left.total_seconds() / 3600, 1),
            ]
        )
    return out.getvalue()


def case_detail(db: Session, actor: Actor, case_id: int) -> tuple[CaseRow, list[CaseLog], bool]:
    """A case, its log, and whether the operator may act on it."""
    user_id = actor.require_operator()
    found = _case(db, case_id)
    rule = queues.get(found.queue)
    if rule.side != "platform":
        raise NotFound(_("Case not found."), code="case_not_found")
    log = list(db.scalars(select(CaseLog).where(CaseLog.case_id == found.id).order_by(CaseLog.id)))
    return _rows(db, [found])[0], log, queues.may_act(rule, roles_of(db, user_id))


def merchant_due(db: Session, actor: Actor, shop_id: int) -> list[CaseRow]:
    """What the shop must do, soonest deadline first (orders to ship, after-sales to answer,
    violations to fix or appeal): the shop's staff."""
    actor.require_shop(shop_id)
    names = [q.name for q in queues.merchant_queues()]
    found = list(
        db.scalars(
            select(Case)
            .where(Case.closed_at.is_(None), Case.shop_id == shop_id, Case.queue.in_(names))
            .order_by(Case.due_at, Case.id)
            .limit(PAGE)
        )
    )
    return _rows(db, found)


def merchant_counts(db: Session, actor: Actor, shop_id: int) -> dict[str, tuple[int, int]]:
    """queue -> (open, breached) of the shop's side; one grouped query."""
    actor.require_shop(shop_id)
    now = clock.now()
    names = [q.name for q in queues.merchant_queues()]
    rows = db.execute(
        select(
            Case.queue,
            func.count(),
            func.sum(case((Case.due_at < now, 1), else_=0)),
        )
        .where(Case.closed_at.is_(None), Case.shop_id == shop_id, Case.queue.in_(names))
        .group_by(Case.queue)
    ).all()
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}


@dataclass(frozen=True)
class OperatorRow:
    user_id: int
    name: str
    roles: frozenset[str]


def operators(db: Session, actor: Actor) -> list[OperatorRow]:
    """Every operator with their roles (none recorded: admin); two queries."""
    actor.require_operator()
    people = accounts_service.operators(db)
    granted: dict[int, set[str]] = {}
    for user_id, role in db.execute(
        select(OperatorRole.user_id, OperatorRole.role).where(
            OperatorRole.user_id.in_([p.id for p in people])
        )
    ):
        granted.setdefault(user_id, set()).add(role)
    return [
        OperatorRow(p.id, p.display_name, frozenset(granted.get(p.id) or {"admin"})) for p in people
    ]


def names(db: Session, user_ids: set[int]) -> dict[int, str]:
    """Display names of the people in a case's log (one query)."""
    return {i: u.display_name for i, u in accounts_service.users_by_ids(db, user_ids).items()}

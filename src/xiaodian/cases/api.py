"""The queues over JSON: the operator home's counts, a queue's page, claiming, releasing and
handing over a case, the merchant's due list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from xiaodian.cases import service, views
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import BodyId, Id

router = routing.router(tags=["cases"], responses=error_responses(401, 403, 404, 409, 422))
Filter = Annotated[str, Query(max_length=40)]


class QueueCountOut(BaseModel):
    queue: str
    open: int
    breached: int
    mine: int
    unclaimed: int
    oldest_due: datetime | None
    may_act: bool


class CaseOut(BaseModel):
    id: int
    queue: str
    subject: str
    shop_id: int | None
    title: str
    link: str
    opened_at: datetime
    due_at: datetime
    hours_left: float
    breached: bool
    paused: bool
    owner_id: int | None
    owner_name: str | None
    closed_at: datetime | None


class QueuePageOut(BaseModel):
    queue: str
    cases: list[CaseOut]
    next: str | None


class HandOverIn(BaseModel):
    to_user_id: BodyId


def _out(row: views.CaseRow) -> CaseOut:
    c = row.case
    return CaseOut(
        id=c.id,
        queue=c.queue,
        subject=c.key,
        shop_id=c.shop_id,
        title=c.title,
        link=c.link,
        opened_at=c.opened_at,
        due_at=c.due_at,
        hours_left=round(row.left.total_seconds() / 3600, 2),
        breached=row.breached,
        paused=c.paused_at is not None,
        owner_id=c.owner_id,
        owner_name=row.owner_name,
        closed_at=c.closed_at,
    )


@router.get("/ops/queues")
def home(db: DbDep, actor: SignedIn) -> list[QueueCountOut]:
    """Every platform queue with its open, breached, mine and unclaimed counts."""
    return [
        QueueCountOut(
            queue=q.queue.name,
            open=q.open,
            breached=q.breached,
            mine=q.mine,
            unclaimed=q.unclaimed,
            oldest_due=q.oldest_due,
            may_act=q.may_act,
        )
        for q in views.home(db, actor)
    ]


@router.get("/ops/queues/{queue}")
def queue_page(
    db: DbDep,
    actor: SignedIn,
    queue: str,
    owner: Filter = "all",
    breached: Filter = "",
    shop: Filter = "",
    after: Filter = "",
) -> QueuePageOut:
    """A page of a queue, oldest deadline first; ``next`` is the cursor of the next page."""
    filters = views.check_filters(owner, breached, shop or None, after or None)
    rule, rows, cursor = views.queue_page(db, actor, queue[:40], filters)
    return QueuePageOut(queue=rule.name, cases=[_out(r) for r in rows], next=cursor)


def _one(db: DbDep, actor: SignedIn, case_id: int) -> CaseOut:
    row, _log, _may = views.case_detail(db, actor, case_id)
    return _out(row)


@router.post("/ops/cases/{case_id}/claim")
def claim(case_id: Id, db: DbDep, actor: SignedIn) -> CaseOut:
    """Hold the case (409 with the holder's name when someone else does)."""
    service.claim(db, actor, case_id)
    return _one(db, actor, case_id)


@router.post("/ops/cases/{case_id}/release")
def release(case_id: Id, db: DbDep, actor: SignedIn) -> CaseOut:
    service.release(db, actor, case_id)
    return _one(db, actor, case_id)


@router.post("/ops/cases/{case_id}/hand-over")
def hand_over(case_id: Id, body: HandOverIn, db: DbDep, actor: SignedIn) -> CaseOut:
    service.hand_over(db, actor, case_id, body.to_user_id)
    return _one(db, actor, case_id)


@router.get("/merchant/shops/{shop_id}/due")
def merchant_due(shop_id: Id, db: DbDep, actor: SignedIn) -> list[CaseOut]:
    """What the shop must do, soonest deadline first."""
    return [_out(r) for r in views.merchant_due(db, actor, shop_id)]

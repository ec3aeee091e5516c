"""After-sales (售后): the reads, and the one way a case moves (``move``).

The use cases live beside this module, one concept a module (docs/architecture.md, "Inside a
domain"): ``cases.py`` (the buyer opens and withdraws a case, the merchant answers it),
``returns.py`` (goods sent back, the replacement of an exchange), ``arbitration.py`` (the
buyer escalates, an operator decides), ``refunds.py`` (the glue with payments). Transitions
are the table in ``states.py``; each move writes an ``AftersaleEvent``.

Every public function that takes an ``actor`` is one transaction and commits; the ones
payments calls (``refunds.refund_settled``, ``refunds.refund_failed``) and the helpers of
the use cases (``move``, ``add_event``) join the caller's transaction.

Rules worth knowing:

- A case covers one order line (a quantity of it) or the whole order. At most
  ``cases.MAX_CASES_PER_LINE`` cases ever cover a line, and only one open case at a time
  (``open_key`` is unique while a case is open).
- Windows after receipt (the order's ``completed_at``): "no reason" returns (不想要了 /
  拍错了 / 其他) within the product's ``return_days`` (0 = none); the merchant's fault
  (质量问题 / 与描述不符 / 少件漏发) within ``cases.FAULT_WINDOW_DAYS`` (15) or the product's
  own window if longer. Before receipt there is no window.
- The money goes out through ``payments.request_refund(..., ref="aftersale:<id>")`` in the
  same transaction as the move to ``refunding``; ``refunds.refund_settled`` finishes the case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.aftersales import states
from xiaodian.aftersales.models import AftersaleCase, AftersaleEvent, CaseStatus
from xiaodian.cases import service as cases_service
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.orders import service as orders_service
from xiaodian.orders.service import Order, OrderLine

S = CaseStatus

MAX_DESCRIPTION = 500
PAGE_SIZE = 20
JOB_BATCH = 200
TERMINAL = frozenset({S.REFUNDED, S.COMPLETED, S.CLOSED, S.CANCELLED})


# --------------------------------------------------------------------------- reads


@dataclass
class CasePage:
    cases: list[AftersaleCase]
    total: int
    page: int
    pages: int


def case_events(db: Session, case_id: int) -> list[AftersaleEvent]:
    return list(
        db.scalars(
            select(AftersaleEvent)
            .where(AftersaleEvent.case_id == case_id)
            .order_by(AftersaleEvent.at, AftersaleEvent.id)
        )
    )


def cases_for_order(db: Session, *, order_id: int) -> list[AftersaleCase]:
    """All cases of one order, newest first (for the order pages; no permission check)."""
    return list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.order_id == order_id)
            .order_by(AftersaleCase.created_at.desc(), AftersaleCase.id.desc())
        )
    )


def pending_count(db: Session, *, shop_id: int) -> int:
    """Cases waiting for the shop (requested or goods back), for the console badge."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(AftersaleCase)
            .where(
                AftersaleCase.shop_id == shop_id,
                AftersaleCase.status.in_([S.REQUESTED, S.AWAITING_RETURN, S.RETURNED]),
            )
        )
        or 0
    )


def case_page(db: Session, conds: list[Any], order_by: list[Any], page: int) -> CasePage:
    if not isinstance(page, int) or page < 1:
        raise InvalidInput(_("Invalid page number."), code="bad_page")
    total = int(db.scalar(select(func.count()).select_from(AftersaleCase).where(*conds)) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(*conds)
            .order_by(*order_by)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return CasePage(cases=cases, total=total, page=page, pages=pages)


def load_case(db: Session, case_id: int, *, lock: bool) -> AftersaleCase | None:
    """A case by id, no permission check; ``lock`` for a change (read fresh, row-locked)."""
    query = select(AftersaleCase).where(AftersaleCase.id == case_id)
    if lock:
        # PostgreSQL: a second click waits here and then sees the first one's result.
        # SQLite: write transactions begin IMMEDIATE, so they are already serialised.
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.scalar(query)


def not_found() -> NotFound:
    """The answer for a case that is not the asker's (as for one that does not exist)."""
    return NotFound(_("After-sales case not found."), code="case_not_found")


def list_my_cases(db: Session, actor: Actor, *, page: int = 1) -> CasePage:
    buyer_id = actor.require_user()
    return case_page(
        db,
        [AftersaleCase.buyer_id == buyer_id],
        [AftersaleCase.created_at.desc(), AftersaleCase.id.desc()],
        page,
    )


def get_my_case(db: Session, actor: Actor, case_id: int, *, lock: bool = False) -> AftersaleCase:
    """The buyer's own case; anybody else's is "not found"."""
    buyer_id = actor.require_user()
    case = load_case(db, case_id, lock=lock)
    if case is None or case.buyer_id != buyer_id:
        raise not_found()
    return case


# The merchant queue's filters: name -> statuses (None: every status).
QUEUES: dict[str, tuple[str, list[CaseStatus] | None]] = {
    "todo": (_("To handle"), [S.REQUESTED, S.AWAITING_RETURN, S.RETURNED]),
    "requested": (_("Awaiting answer"), [S.REQUESTED]),
    "awaiting_return": (_("Goods on the way back"), [S.AWAITING_RETURN]),
    "returned": (_("To reship"), [S.RETURNED]),
    "open": (_("All open"), sorted(states.OPEN)),
    "all": (_("All"), None),
}


def list_shop_cases(
    db: Session, actor: Actor, shop_id: int, *, status: str = "todo", page: int = 1
) -> CasePage:
    """The shop's cases, oldest first (the ones that wait longest on top)."""
    actor.require_shop(shop_id)
    conds: list[Any] = [AftersaleCase.shop_id == shop_id]
    if status in QUEUES:
        statuses = QUEUES[status][1]
        if statuses is not None:
            conds.append(AftersaleCase.status.in_(statuses))
    elif status in set(CaseStatus):
        conds.append(AftersaleCase.status == CaseStatus(status))
    else:
        raise InvalidInput(_("Unknown status filter."), code="bad_status")
    return case_page(db, conds, [AftersaleCase.created_at, AftersaleCase.id], page)


def get_shop_case(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, lock: bool = False
) -> AftersaleCase:
    """A case of the shop for its staff; other shops' cases are "not found"."""
    actor.require_shop(shop_id)
    case = load_case(db, case_id, lock=lock)
    if case is None or case.shop_id != shop_id:
        raise not_found()
    return case


def time_left(case: AftersaleCase, now: datetime | None = None) -> timedelta | None:
    """How long the merchant still has before the case is approved automatically."""
    if case.status != S.REQUESTED:
        return None
    return max(timedelta(0), case.respond_by - (now or clock.now()))


# ------------------------------------------------------------ helpers of the use cases


def find_line(order: Order, line_id: int | None) -> OrderLine | None:
    """The order's line with this id (None for None); NotFound for another order's."""
    if line_id is None:
        return None
    for line in order.lines:
        if line.id == line_id:
            return line
    raise NotFound(_("Order line not found."), code="line_not_found")


def lines_of(order: Order, line: OrderLine | None) -> list[OrderLine]:
    """The lines a case covers: its line, or every line of the order."""
    return [line] if line is not None else list(order.lines)


def open_key(order: Order, line: OrderLine | None) -> str:
    """What an open case holds (unique while open): its line, or the whole order."""
    return f"line:{line.id}" if line is not None else f"order:{order.id}"


def clean_text(value: str, limit: int) -> str:
    """A note or reason as typed, trimmed; InvalidInput beyond ``limit`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(_("Invalid text."), code="bad_text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(_("The text is too long (at most %(n)s characters)."), n=limit)
    return value


def add_event(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    from_status: CaseStatus | None,
    *,
    note: str | None = None,
    amount_fen: int | None = None,
) -> None:
    """Write a case's history row (the case is in its new status). Joins the caller's
    transaction."""
    db.add(
        AftersaleEvent(
            case_id=case.id,
            actor_id=actor_id,
            role=role,
            action=action,
            from_status=str(from_status) if from_status is not None else None,
            to_status=str(case.status),
            note=note,
            amount_fen=amount_fen,
            at=clock.now(),
        )
    )


def move(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    *,
    note: str | None = None,
    amount_fen: int | None = None,
    open_key: str | None = None,
) -> None:
    """Fire one transition of the table on a locked case, with its event row. Joins the
    caller's transaction.

    Leaving the open states frees the case's line (``open_key``); entering them again
    (escalation) takes ``open_key``. Either way the order's after-sales flag follows.
    """
    step = states.check(action, case.status, case.kind, role)
    before = case.status
    now = clock.now()
    case.status = step.target
    case.updated_at = now
    if step.target in TERMINAL:
        case.closed_at = now
    was_open, is_open = before in states.OPEN, step.target in states.OPEN
    if was_open and not is_open:
        case.open_key = None
    elif is_open and not was_open:
        case.open_key = open_key
    add_event(db, case, action, role, actor_id, before, note=note, amount_fen=amount_fen)
    if was_open != is_open:
        _sync_order_flag(db, case)
    sync_sla(db, case, before=before, actor_id=actor_id)


# Who the case waits for, by status, and how long (the platform's rules): the merchant
# answers a request within 48 h (``respond_by``) and inspects returned goods within 10
# days; the platform decides an escalation within the queue's SLA.
MERCHANT_DUE = {CaseStatus.REQUESTED: None, CaseStatus.AWAITING_RETURN: timedelta(days=10)}


def sync_sla(
    db: Session, case: AftersaleCase, *, before: CaseStatus | None, actor_id: int | None
) -> None:
    """The case's place in the queues with a deadline (``xiaodian.cases``) after it moved
    from ``before``: the merchant's "to answer", the operators' escalations. Joins the
    caller's transaction."""
    key = f"aftersale:{case.id}"
    outcome = str(case.status)
    if before in MERCHANT_DUE:
        cases_service.close_case(db, "aftersales_answers", key, outcome=outcome, actor_id=actor_id)
    if before == CaseStatus.ESCALATED:
        cases_service.close_case(
            db, "aftersales_escalations", key, outcome=outcome, actor_id=actor_id
        )
    if case.status in MERCHANT_DUE:
        wait = MERCHANT_DUE[case.status]
        cases_service.open_case(
            db,
            "aftersales_answers",
            key,
            title=case.title,
            link=f"/merchant/shops/{case.shop_id}/aftersales/{case.id}",
            shop_id=case.shop_id,
            due_at=case.respond_by if wait is None else clock.now() + wait,
        )
    elif case.status == CaseStatus.ESCALATED:
        cases_service.open_case(
            db,
            "aftersales_escalations",
            key,
            title=case.title,
            link=f"/ops/arbitration/{case.id}",
            shop_id=case.shop_id,
        )


def _sync_order_flag(db: Session, case: AftersaleCase) -> None:
    """The order is "in after-sales" exactly while one of its cases is open."""
    db.flush()
    orders_service.lock_order(db, order_id=case.order_id)  # then count: see lock_order
    still_open = db.scalar(
        select(AftersaleCase.id)
        .where(AftersaleCase.order_id == case.order_id, AftersaleCase.open_key.is_not(None))
        .limit(1)
    )
    orders_service.set_aftersale_open(db, order_id=case.order_id, open=still_open is not None)


# --------------------------------------------------------------------------- merchant health


@dataclass(frozen=True)
class CaseTimes:
    """What merchant health reads of a case: when it was opened, whether it is the
    merchant's fault (``states.FAULT_REASONS``), when the merchant first answered, whether
    it became a dispute (escalated) and whether the platform ruled against the merchant."""

    shop_id: int
    case_id: int
    order_no: str
    fault: bool
    opened_at: datetime
    respond_by: datetime
    answered_at: datetime | None  # the merchant's first approve or reject
    escalated_at: datetime | None
    lost_at: datetime | None  # the platform ruled for the buyer


def case_times(
    db: Session, *, since: datetime, shop_ids: list[int] | None = None
) -> list[CaseTimes]:
    """Cases opened since ``since`` (every shop, or these), oldest first, with the times
    health counts. One query. Joins the caller's transaction (read only)."""
    E = AftersaleEvent

    def first(cond: Any) -> Any:
        return (
            select(func.min(E.at))
            .where(E.case_id == AftersaleCase.id, cond)
            .correlate(AftersaleCase)
            .scalar_subquery()
        )

    query = (
        select(
            AftersaleCase.shop_id,
            AftersaleCase.id,
            AftersaleCase.order_no,
            AftersaleCase.reason,
            AftersaleCase.created_at,
            AftersaleCase.respond_by,
            first((E.role == "merchant") & E.action.in_(["approve", "reject"])),
            AftersaleCase.escalated_at,
            first(E.action == "arbitrate_approve"),
        )
        .where(AftersaleCase.created_at >= since)
        .order_by(AftersaleCase.created_at, AftersaleCase.id)
    )
    if shop_ids is not None:
        query = query.where(AftersaleCase.shop_id.in_(shop_ids))
    return [
        CaseTimes(
            shop_id=row[0],
            case_id=row[1],
            order_no=row[2],
            fault=row[3] in states.FAULT_REASONS,
            opened_at=row[4],
            respond_by=row[5],
            answered_at=row[6],
            escalated_at=row[7],
            lost_at=row[8],
        )
        for row in db.execute(query)
    ]

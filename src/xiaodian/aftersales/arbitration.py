"""Arbitration: a rejected buyer asks the platform (within ``ESCALATION_DAYS``), an operator
decides (approve, then as if the merchant had, or uphold the rejection); rejected cases not
escalated in time close (``expire_escalations``, a periodic job).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.aftersales import cases, service, states
from xiaodian.aftersales.models import AftersaleCase, CaseStatus
from xiaodian.cases import service as cases_service
from xiaodian.errors import Conflict, InvalidInput, _
from xiaodian.orders import service as orders_service

S = CaseStatus

# A rejected buyer may escalate to the platform within this many days.
ESCALATION_DAYS = 7


def escalate(db: Session, actor: Actor, case_id: int, *, note: str = "") -> AftersaleCase:
    """The buyer asks the platform to decide a rejected case, within ESCALATION_DAYS."""
    note = service.clean_text(note, service.MAX_DESCRIPTION)
    case = service.get_my_case(db, actor, case_id, lock=True)
    states.check("escalate", case.status, case.kind, "buyer")
    assert case.rejected_at is not None
    if clock.now() > case.rejected_at + timedelta(days=ESCALATION_DAYS):
        raise Conflict(
            _("The %(n)s days to ask the platform to step in are over."),
            code="escalation_window_closed",
            n=ESCALATION_DAYS,
        )
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    line = service.find_line(order, case.line_id)
    cases.check_no_open_case(db, order, line, exclude=case.id)
    case.escalated_at = clock.now()
    try:
        service.move(
            db,
            case,
            "escalate",
            "buyer",
            actor.user_id,
            note=note or None,
            open_key=service.open_key(order, line),
        )
    except IntegrityError:
        db.rollback()
        raise Conflict(
            _("There is already an open after-sales case for this item."), code="case_open"
        ) from None
    db.commit()
    return case


def arbitration_queue(db: Session, actor: Actor, *, page: int = 1) -> service.CasePage:
    """Escalated cases, the longest waiting first."""
    actor.require_operator()
    return service.case_page(
        db,
        [AftersaleCase.status == S.ESCALATED],
        [AftersaleCase.escalated_at, AftersaleCase.id],
        page,
    )


def count_arbitration(db: Session, actor: Actor) -> int:
    """Operators: how many escalated cases wait for a decision (one query, for the dashboard)."""
    actor.require_operator()
    return int(
        db.scalar(
            select(func.count())
            .select_from(AftersaleCase)
            .where(AftersaleCase.status == S.ESCALATED)
        )
        or 0
    )


def get_case_for_operator(
    db: Session, actor: Actor, case_id: int, *, lock: bool = False
) -> AftersaleCase:
    actor.require_operator()
    case = service.load_case(db, case_id, lock=lock)
    if case is None:
        raise service.not_found()
    return case


def arbitrate(
    db: Session,
    actor: Actor,
    case_id: int,
    *,
    decision: str,
    note: str,
    amount_fen: int | None = None,
) -> AftersaleCase:
    """The operator decides an escalated case: "approve" (then as if the merchant had
    approved) or "uphold" the rejection (the case closes). A note is required."""
    cases_service.require_role(db, actor, "aftersales_escalations")
    note = service.clean_text(note, service.MAX_DESCRIPTION)
    if decision not in ("approve", "uphold"):
        raise InvalidInput(_("Choose a decision."), code="bad_decision")
    if not note:
        raise InvalidInput(_("Explain the decision."), code="note_required")
    case = get_case_for_operator(db, actor, case_id, lock=True)
    if decision == "approve":
        cases.approve_case(
            db,
            case,
            "arbitrate_approve",
            "operator",
            actor.user_id,
            amount_fen=amount_fen,
            note=note,
        )
    else:
        service.move(db, case, "arbitrate_uphold", "operator", actor.user_id, note=note)
    db.commit()
    return case


def expire_escalations(db: Session) -> int:
    """Close rejected cases whose escalation window has passed. Idempotent; commits."""
    cutoff = clock.now() - timedelta(days=ESCALATION_DAYS)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.status == S.REJECTED, AftersaleCase.rejected_at <= cutoff)
            .limit(service.JOB_BATCH)
            .with_for_update()
        )
    )
    for case in cases:
        service.move(db, case, "expire_escalation", "system", None)
    db.commit()
    return len(cases)

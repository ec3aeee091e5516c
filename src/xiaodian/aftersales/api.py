"""JSON API of after-sales: buyers (``/aftersales``), the merchant console
(``/merchant/shops/{shop_id}/aftersales``) and arbitration (``/ops/arbitration``).

Other buyers' and other shops' cases are 404; non-operators get 403 on arbitration.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from xiaodian.aftersales import arbitration, cases, returns, service
from xiaodian.aftersales.models import AftersaleCase
from xiaodian.aftersales.schemas import (
    ApproveIn,
    CaseCreateIn,
    CaseDetailOut,
    CaseListOut,
    ConfirmReturnIn,
    DecisionIn,
    NoteIn,
    OptionsOut,
    RejectIn,
    TrackingIn,
)
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id, PageNo

router = routing.router(
    tags=["aftersales"], responses=error_responses(401, 403, 404, 409, 413, 422)
)

MINE = "/aftersales"
SHOP = "/merchant/shops/{shop_id}/aftersales"
OPS = "/ops/arbitration"


def _detail(db: DbDep, case: AftersaleCase, role: str) -> CaseDetailOut:
    return CaseDetailOut.detail(case, service.case_events(db, case.id), role)


# --------------------------------------------------------------------------- buyers


@router.get(MINE)
def my_cases(db: DbDep, actor: SignedIn, page: PageNo = 1) -> CaseListOut:
    """The signed-in buyer's cases, newest first."""
    return CaseListOut.of(service.list_my_cases(db, actor, page=page))


@router.get(MINE + "/options")
def options(
    db: DbDep,
    actor: SignedIn,
    order_no: Annotated[str, Query(max_length=24)],
    line_id: Id | None = None,
) -> OptionsOut:
    """What may be asked for on one order line (or the whole order) right now."""
    opts = cases.case_options(db, actor, order_no=order_no, line_id=line_id)
    return OptionsOut(
        order_no=opts.order.order_no,
        line_id=opts.line.id if opts.line is not None else None,
        kinds=opts.kinds,
        reasons=opts.reasons,
        max_quantity=opts.max_quantity,
        max_refund_fen=opts.max_refund_fen,
        blocked=opts.blocked,
        notes=opts.notes,
    )


@router.post(MINE, status_code=status.HTTP_201_CREATED)
def open_case(body: CaseCreateIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """Open a case (photos can be attached through the web form)."""
    case = cases.open_case(
        db,
        actor,
        order_no=body.order_no,
        line_id=body.line_id,
        kind=body.kind,
        reason=body.reason,
        description=body.description,
        quantity=body.quantity,
        amount_fen=body.amount_fen,
    )
    return _detail(db, case, "buyer")


@router.get(MINE + "/{case_id}")
def my_case(case_id: Id, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    return _detail(db, service.get_my_case(db, actor, case_id), "buyer")


@router.post(MINE + "/{case_id}/withdraw")
def withdraw(case_id: Id, body: NoteIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    return _detail(db, cases.withdraw(db, actor, case_id, note=body.note), "buyer")


@router.post(MINE + "/{case_id}/ship-back")
def ship_back(case_id: Id, body: TrackingIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """The goods were sent back: carrier and tracking number."""
    case = returns.ship_back(db, actor, case_id, carrier=body.carrier, tracking_no=body.tracking_no)
    return _detail(db, case, "buyer")


@router.post(MINE + "/{case_id}/escalate")
def escalate(case_id: Id, body: NoteIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """Ask the platform to decide a rejected case (within 7 days of the rejection)."""
    return _detail(db, arbitration.escalate(db, actor, case_id, note=body.note), "buyer")


@router.post(MINE + "/{case_id}/confirm-exchange")
def confirm_exchange(case_id: Id, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """The replacement arrived."""
    return _detail(db, returns.confirm_exchange_received(db, actor, case_id), "buyer")


# --------------------------------------------------------------------------- merchants


@router.get(SHOP)
def shop_cases(
    shop_id: Id,
    db: DbDep,
    actor: SignedIn,
    status_: Annotated[str, Query(alias="status", max_length=30)] = "todo",
    page: PageNo = 1,
) -> CaseListOut:
    """The shop's cases, oldest first. ``status``: a queue (todo, requested,
    awaiting_return, returned, open, all) or one case status."""
    return CaseListOut.of(service.list_shop_cases(db, actor, shop_id, status=status_, page=page))


@router.get(SHOP + "/{case_id}")
def shop_case(shop_id: Id, case_id: Id, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    return _detail(db, service.get_shop_case(db, actor, shop_id, case_id), "merchant")


@router.post(SHOP + "/{case_id}/approve")
def approve(shop_id: Id, case_id: Id, body: ApproveIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """Agree, possibly to a lower refund (with a note). Refund-only cases refund at once."""
    case = cases.approve(db, actor, shop_id, case_id, amount_fen=body.amount_fen, note=body.note)
    return _detail(db, case, "merchant")


@router.post(SHOP + "/{case_id}/reject")
def reject(shop_id: Id, case_id: Id, body: RejectIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    case = cases.reject(db, actor, shop_id, case_id, reason=body.reason)
    return _detail(db, case, "merchant")


@router.post(SHOP + "/{case_id}/confirm-return")
def confirm_return(
    shop_id: Id, case_id: Id, body: ConfirmReturnIn, db: DbDep, actor: SignedIn
) -> CaseDetailOut:
    """The returned goods arrived; a return-and-refund then refunds."""
    case = returns.confirm_return(db, actor, shop_id, case_id, restock=body.restock)
    return _detail(db, case, "merchant")


@router.post(SHOP + "/{case_id}/reship")
def reship(shop_id: Id, case_id: Id, body: TrackingIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """Exchange: the replacement was shipped."""
    case = returns.reship(
        db, actor, shop_id, case_id, carrier=body.carrier, tracking_no=body.tracking_no
    )
    return _detail(db, case, "merchant")


# --------------------------------------------------------------------------- operators


@router.get(OPS)
def arbitration_queue(db: DbDep, actor: SignedIn, page: PageNo = 1) -> CaseListOut:
    """Escalated cases, the longest waiting first."""
    return CaseListOut.of(arbitration.arbitration_queue(db, actor, page=page))


@router.get(OPS + "/{case_id}")
def arbitration_case(case_id: Id, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    return _detail(db, arbitration.get_case_for_operator(db, actor, case_id), "operator")


@router.post(OPS + "/{case_id}/decide")
def decide(case_id: Id, body: DecisionIn, db: DbDep, actor: SignedIn) -> CaseDetailOut:
    """Approve for the buyer, or uphold the merchant's rejection; a note is required."""
    case = arbitration.arbitrate(
        db, actor, case_id, decision=body.decision, note=body.note, amount_fen=body.amount_fen
    )
    return _detail(db, case, "operator")

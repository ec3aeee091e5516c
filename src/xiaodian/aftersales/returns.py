"""Goods that travel back: the buyer ships them back, the merchant confirms their return
(and may restock them), and for an exchange sends the replacement, which the buyer (or the
periodic job, after ``order_auto_complete_days``) confirms.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.aftersales import refunds, service, states
from xiaodian.aftersales.models import AftersaleCase, CaseKind, CaseStatus
from xiaodian.catalog import inventory
from xiaodian.errors import Conflict, _
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service

S = CaseStatus

K = CaseKind


def _carrier_and_tracking(carrier: str, tracking_no: str) -> tuple[str, str]:
    """A known carrier and a tracking number of its shape (the orders domain's rules)."""
    found, number = fulfilment.check_shipment(carrier, tracking_no)
    return found.name, number


def ship_back(
    db: Session, actor: Actor, case_id: int, *, carrier: str, tracking_no: str
) -> AftersaleCase:
    """The buyer sent the goods back: carrier and tracking number."""
    carrier, tracking_no = _carrier_and_tracking(carrier, tracking_no)
    case = service.get_my_case(db, actor, case_id, lock=True)
    service.move(db, case, "ship_back", "buyer", actor.user_id, note=f"{carrier} {tracking_no}")
    case.return_carrier, case.return_tracking_no = carrier, tracking_no
    db.commit()
    return case


def confirm_return(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, restock: bool
) -> AftersaleCase:
    """The merchant received the goods back; ``restock`` puts them back on hand (sold ->
    on hand). A return-and-refund then starts its refund in the same transaction."""
    case = service.get_shop_case(db, actor, shop_id, case_id, lock=True)
    service.move(
        db,
        case,
        "confirm_return",
        "merchant",
        actor.user_id,
        note=_("Restocked") if restock else _("Not restocked"),
    )
    case.restocked = bool(restock)
    if restock:
        order = orders_service.get_order_by_no(db, order_no=case.order_no)
        moves = [
            inventory.Move(ln.sku_id, case.quantity or ln.quantity, f"aftersale:{case.id}")
            for ln in service.lines_of(order, service.find_line(order, case.line_id))
        ]
        inventory.restock_many(db, moves, reason="returned")
    if case.kind == K.RETURN_REFUND:
        order = orders_service.get_order_by_no(db, order_no=case.order_no)
        line = service.find_line(order, case.line_id)
        available = refunds.refundable_fen(db, order, line, case.quantity, exclude=case.id)
        # Another refund may have happened meanwhile: never send more than is left.
        case.approved_fen = min(case.approved_fen or 0, available)
        refunds.start_refund(db, case, "merchant", actor.user_id)
    db.commit()
    return case


def reship(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, carrier: str, tracking_no: str
) -> AftersaleCase:
    """Exchange: the merchant sends the replacement (same SKU). It leaves the warehouse
    like a sale (on hand -> reserved -> sold), so the stock counters stay balanced."""
    carrier, tracking_no = _carrier_and_tracking(carrier, tracking_no)
    case = service.get_shop_case(db, actor, shop_id, case_id, lock=True)
    states.check("reship", case.status, case.kind, "merchant")
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    moves = [
        inventory.Move(ln.sku_id, case.quantity or ln.quantity, f"aftersale:{case.id}")
        for ln in service.lines_of(order, service.find_line(order, case.line_id))
    ]
    if inventory.reserve_many(db, moves):
        raise Conflict(_("Not enough stock on hand for the replacement."), code="out_of_stock")
    inventory.sell_many(db, moves)
    service.move(db, case, "reship", "merchant", actor.user_id, note=f"{carrier} {tracking_no}")
    case.reship_carrier, case.reship_tracking_no = carrier, tracking_no
    case.reshipped_at = clock.now()
    db.commit()
    return case


def confirm_exchange_received(db: Session, actor: Actor, case_id: int) -> AftersaleCase:
    """The buyer received the replacement: the exchange is complete."""
    case = service.get_my_case(db, actor, case_id, lock=True)
    service.move(db, case, "confirm_exchange", "buyer", actor.user_id)
    db.commit()
    return case


def auto_complete_exchanges(db: Session) -> int:
    """Complete exchanges whose replacement shipped ``order_auto_complete_days`` ago."""
    days = settings_module.current().order_auto_complete_days
    cutoff = clock.now() - timedelta(days=days)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.status == S.RESHIPPED, AftersaleCase.reshipped_at <= cutoff)
            .limit(service.JOB_BATCH)
            .with_for_update()
        )
    )
    for case in cases:
        service.move(
            db, case, "confirm_exchange", "system", None, note=_("Confirmed automatically.")
        )
    db.commit()
    return len(cases)

"""Paid orders wait for their shop to ship them, within 48 hours: a case of the merchant's
"orders to ship" queue (``xiaodian.cases``) from payment (or from the release of a held
group-buy order) until it ships, closes or is cancelled. Listens to orders' own lifecycle;
two statements per paid batch, however many orders."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.cases import service as cases_service
from xiaodian.orders import lifecycle
from xiaodian.orders.models import Order, OrderStatus

QUEUE = "orders_to_ship"
SHIP_WITHIN = timedelta(hours=48)


_TO_SHIP = select(Order.id, Order.order_no, Order.shop_id, Order.paid_at).where(
    Order.id.in_(bindparam("ids", expanding=True)),
    Order.status == OrderStatus.PAID,
    Order.held.is_(False),
)


def open_for(db: Session, order_ids: list[int], *, again: bool = False) -> None:
    """Open the cases of these orders that are paid and not held (``again``: released
    from a hold, their closed case makes way). Joins the caller's transaction."""
    if not order_ids:
        return
    rows = db.execute(_TO_SHIP, {"ids": list(order_ids)}).all()
    now = clock.now()
    cases_service.open_cases(
        db,
        QUEUE,
        (
            {
                "key": f"order:{row.id}",
                "title": row.order_no,
                "link": f"/merchant/shops/{row.shop_id}/orders/{row.order_no}",
                "shop_id": row.shop_id,
                "due_at": clock.as_utc(row.paid_at or now) + SHIP_WITHIN,
            }
            for row in rows
        ),
        again=again,
    )


def close_for(db: Session, order_ids: list[int], outcome: str) -> None:
    cases_service.close_cases(db, QUEUE, [f"order:{i}" for i in order_ids], outcome=outcome)


@lifecycle.on("paid")
def _paid(db: Session, change: lifecycle.Change) -> None:
    open_for(db, list(change.order_ids))


@lifecycle.on("shipped")
def _shipped(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "shipped")


@lifecycle.on("closed")
def _closed(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "closed")


@lifecycle.on("cancelled")
def _cancelled(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "cancelled")

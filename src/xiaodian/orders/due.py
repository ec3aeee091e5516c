"""Paid orders wait for their shop to ship them, within 48 hours: a case of the merchant's
"orders to ship" queue (``xiaodian.cases``) from payment (or from the release of a held
group-buy order) until it ships, closes or is cancelled. Listens to orders' own lifecycle;
one statement per paid batch, however many orders (their numbers and shops come with the
change's lines; two when it carries none)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.cases import service as cases_service
from xiaodian.orders import lifecycle
from xiaodian.orders.models import Order, OrderStatus

QUEUE = "orders_to_ship"
SHIP_WITHIN = timedelta(hours=48)


class _ToShip(NamedTuple):
    id: int
    order_no: str
    shop_id: int
    paid_at: datetime | None


_TO_SHIP = select(Order.id, Order.order_no, Order.shop_id, Order.paid_at).where(
    Order.id.in_(bindparam("ids", expanding=True)),
    Order.status == OrderStatus.PAID,
    Order.held.is_(False),
)


def open_for(db: Session, order_ids: list[int], *, again: bool = False) -> None:
    """Open the cases of these orders that are paid and not held (``again``: released
    from a hold, their closed case makes way). Joins the caller's transaction."""
    if order_ids:
        rows = db.execute(_TO_SHIP, {"ids": list(order_ids)})
        _open(db, [_ToShip(*row) for row in rows], again=again)


def _open(db: Session, orders: Iterable[_ToShip], *, again: bool = False) -> None:
    now = clock.now()
    cases_service.open_cases(
        db,
        QUEUE,
        (
            {
                "key": f"order:{order.id}",
                "title": order.order_no,
                "link": f"/merchant/shops/{order.shop_id}/orders/{order.order_no}",
                "shop_id": order.shop_id,
                "due_at": clock.as_utc(order.paid_at or now) + SHIP_WITHIN,
            }
            for order in orders
        ),
        again=again,
    )


def close_for(db: Session, order_ids: list[int], outcome: str) -> None:
    cases_service.close_cases(db, QUEUE, [f"order:{i}" for i in order_ids], outcome=outcome)


@lifecycle.on("paid")
def _paid(db: Session, change: lifecycle.Change) -> None:
    if change.lines is None:
        open_for(db, list(change.order_ids))
        return
    # The change's lines say what the move left: these orders paid, and whether held.
    orders = {
        line.order_id: _ToShip(line.order_id, line.order_no, line.shop_id, line.paid_at)
        for line in change.lines
        if not line.held
    }
    _open(db, orders.values())


@lifecycle.on("shipped")
def _shipped(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "shipped")


@lifecycle.on("closed")
def _closed(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "closed")


@lifecycle.on("cancelled")
def _cancelled(db: Session, change: lifecycle.Change) -> None:
    close_for(db, list(change.order_ids), "cancelled")

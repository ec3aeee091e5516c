"""Units of a cancelled flash order go back to its sale, in the cancel's own transaction.

Orders cancel an unpaid order (the buyer's cancel, the payment timeout) and release its
units to the SKU's on-hand stock; the orders lifecycle then announces "cancelled" and
``return_units`` runs inside that transaction, before its one commit: if the sale is still
running the units are reserved for it again at once (the shelf cannot sell them in
between) and the buyer's count against the limit drops, so they may buy again; if it has
stopped they stay on the shelf and count as unsold. Each ``flash_sale_orders`` row moves
from "live" by one conditional UPDATE, so a unit comes back exactly once; an exception here
rolls the cancel back with it. A paid order's row is marked "paid" (``mark_paid``).

No periodic sweep is needed: an order leaves "pending payment" only through
``orders.states.advance``, which announces every move in the transaction that makes it.
The Redis gate hears of the returned units after the commit (nothing if it rolls back).
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, event, update
from sqlalchemy.orm import Session

from xiaodian.catalog import inventory
from xiaodian.content.live.flash import publish_sale, ref
from xiaodian.content.live.flash_gate import redis_gate
from xiaodian.content.live.models import (
    ORDER_CHANNEL,
    FlashOrderState,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    SaleStatus,
)
from xiaodian.orders import lifecycle as orders_lifecycle

_GATE_KEY = "xd_flash_gate_returns"


class _Returned(NamedTuple):
    buyer_id: int
    quantity: int


@orders_lifecycle.on("cancelled")
def return_units(db: Session, change: orders_lifecycle.Change) -> None:
    """Give the units of the cancelled orders among ``change``'s back to their sale (see
    the module's text); one UPDATE when none of them is a flash order. Joins the caller's
    transaction."""
    rows = db.execute(
        update(FlashSaleOrder)
        .where(
            FlashSaleOrder.order_id.in_(change.order_ids),
            FlashSaleOrder.state == FlashOrderState.LIVE,
        )
        .values(state=FlashOrderState.RETURNED, settled_at=change.at)
        .returning(FlashSaleOrder.sale_id, FlashSaleOrder.buyer_id, FlashSaleOrder.quantity)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return
    by_sale: dict[int, list[_Returned]] = defaultdict(list)
    for sale_id, buyer_id, quantity in rows:
        by_sale[int(sale_id)].append(_Returned(int(buyer_id), int(quantity)))
    for sale_id, returned in sorted(by_sale.items()):  # one order of locks
        _free_limits(db, sale_id, returned)
        _back_to_sale(db, sale_id, returned)
        sale = db.get(FlashSale, sale_id)
        if sale is not None:
            db.refresh(sale)
            publish_sale(db, sale)


_FLASH_ORDERS = cast(Table, FlashSaleOrder.__table__)
_SETTLE_PAID = (
    update(_FLASH_ORDERS)
    .where(
        _FLASH_ORDERS.c.order_id.in_(bindparam("ids", expanding=True)),
        _FLASH_ORDERS.c.state == FlashOrderState.LIVE,
    )
    .values(
        state=FlashOrderState.PAID,
        settled_at=bindparam("at", type_=_FLASH_ORDERS.c.settled_at.type),
    )
)


@orders_lifecycle.on("paid")
def mark_paid(db: Session, change: orders_lifecycle.Change) -> None:
    """The paid orders' flash rows are settled: their units stay sold. One UPDATE, none
    when the change's lines show no order of a live room (every flash order is one).
    Joins the caller's transaction."""
    if change.none_in(ORDER_CHANNEL):
        return
    db.execute(_SETTLE_PAID, {"ids": list(change.order_ids), "at": change.at})


def _free_limits(db: Session, sale_id: int, rows: list[_Returned]) -> None:
    """The buyers' counts against the per-buyer limit drop by what came back."""
    by_quantity: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_quantity[row.quantity].append(row.buyer_id)
    for quantity, buyer_ids in sorted(by_quantity.items()):
        db.execute(
            update(FlashSaleBuyer)
            .where(FlashSaleBuyer.sale_id == sale_id, FlashSaleBuyer.buyer_id.in_(buyer_ids))
            .values(bought=FlashSaleBuyer.bought - quantity)
            .execution_options(synchronize_session=False)
        )


def _back_to_sale(db: Session, sale_id: int, rows: list[_Returned]) -> None:
    """Unsold again: to a running sale (reserved for it again, what the shelf still has),
    or, stopped, counted as unsold on the shelf where orders released them."""
    total = sum(row.quantity for row in rows)
    running = db.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id, FlashSale.status == SaleStatus.RUNNING)
        .values(sold=FlashSale.sold - total, remaining=FlashSale.remaining + total)
        .returning(FlashSale.sku_id)
        .execution_options(synchronize_session=False)
    ).first()
    if running is None:  # stopped: the units are on the shelf already and count as unsold
        db.execute(
            update(FlashSale)
            .where(FlashSale.id == sale_id)
            .values(sold=FlashSale.sold - total, remaining=FlashSale.remaining + total)
            .execution_options(synchronize_session=False)
        )
        return
    # Orders released these units to the shelf a moment ago, in this transaction, so they
    # are on hand; were they not, the sale would offer that much less.
    if inventory.reserve(db, sku_id=int(running[0]), quantity=total, ref=ref(sale_id)):
        _after_commit_gate(db, [(sale_id, row.buyer_id, row.quantity) for row in rows])
        return
    db.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id)
        .values(remaining=FlashSale.remaining - total, quantity=FlashSale.quantity - total)
        .execution_options(synchronize_session=False)
    )


def _after_commit_gate(db: Session, returned: list[tuple[int, int, int]]) -> None:
    """Tell the Redis gate (if any) of the units and counts back, once the transaction has
    committed; nothing if it rolls back."""
    if not returned or redis_gate() is None:
        return
    if _GATE_KEY not in db.info:
        db.info[_GATE_KEY] = []
        event.listen(db, "after_commit", _tell_gate)
        event.listen(db, "after_rollback", _forget_gate)
    db.info[_GATE_KEY].extend(returned)


def _tell_gate(db: Session) -> None:
    returned, db.info[_GATE_KEY] = db.info.get(_GATE_KEY, []), []
    gate = redis_gate()
    if gate is None:
        return
    for sale_id, buyer_id, quantity in returned:
        gate.returned(sale_id, buyer_id, quantity)


def _forget_gate(db: Session) -> None:
    db.info[_GATE_KEY] = []

"""What one buyer may buy: per-product purchase limits, counted over the buyer's orders that
went ahead, and the lock that keeps two checkouts of one buyer from both reading the old
count. Asked by checkout (``checkout.create_orders``), its preview and the cart; the limit
itself is the sellability policy's (``catalog.sellability``)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Integer, bindparam, func, literal, select
from sqlalchemy.orm import Session

from xiaodian.catalog.sellability import PurchaseInfo
from xiaodian.orders.models import Order, OrderLine, OrderStatus

_NOT_COUNTED = (OrderStatus.CANCELLED, OrderStatus.CLOSED)


def bought_quantities(db: Session, *, buyer_id: int, product_ids: list[int]) -> dict[int, int]:
    """Units of each product in the buyer's orders that went ahead (for purchase limits)."""
    if not product_ids:
        return {}
    rows = db.execute(
        select(OrderLine.product_id, func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.buyer_id == buyer_id,
            Order.status.not_in(_NOT_COUNTED),
            OrderLine.product_id.in_(product_ids),
        )
        .group_by(OrderLine.product_id)
    )
    return {product_id: int(total or 0) for product_id, total in rows}


# The first key of the advisory locks orders takes on PostgreSQL (the second is the buyer).
_BUYER_LOCK = 0x0D5E  # "orders"


_LOCK_BUYER = select(
    func.pg_advisory_xact_lock(literal(_BUYER_LOCK, Integer), bindparam("buyer", type_=Integer))
)


def lock_buyer(db: Session, buyer_id: int) -> None:
    """Serialize this buyer's checkouts until the transaction ends. Joins the caller's
    transaction.

    A purchase limit is "what this buyer ordered before + what they order now", read
    before the new orders are written: two checkouts of one buyer at the same moment would
    both read the old total and together exceed the limit. On PostgreSQL a transaction-level
    advisory lock keyed by the buyer makes the second wait until the first commits (its
    READ COMMITTED reads then see the first's orders); no table of another domain is
    touched. On SQLite every write transaction begins IMMEDIATE, so checkouts already queue.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(_LOCK_BUYER, {"buyer": buyer_id})


def check_limits(
    db: Session, *, buyer_id: int, wanted: dict[int, int], offers: dict[int, PurchaseInfo]
) -> None:
    """Per-product purchase limit, as the policy decides it: what is wanted now (all the
    product's SKUs) plus what was ordered before (one query, only if a product has one)."""
    per_product: dict[int, int] = defaultdict(int)
    for sku_id, quantity in wanted.items():
        per_product[offers[sku_id].sku.product_id] += quantity
    limited = {
        o.sku.product_id: o
        for o in offers.values()
        if o.sku.purchase_limit is not None and o.sku.product_id in per_product
    }
    if not limited:
        return
    bought = bought_quantities(db, buyer_id=buyer_id, product_ids=list(limited))
    for product_id, offer in limited.items():
        refusal = offer.limit_refusal(per_product[product_id], bought=bought.get(product_id, 0))
        if refusal is not None:
            raise refusal.error()

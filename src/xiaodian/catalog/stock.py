"""Stock changed by hand: the shop's staff receive goods or write them off, and read the
product's stock log. (Stock moved for orders is ``inventory.py``'s.)

Received and on-hand move together, so on_hand + reserved + sold == received still holds;
on-hand never goes below zero: each change is one conditional UPDATE.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog import service
from xiaodian.catalog.models import Product, Sku, StockMovement
from xiaodian.errors import Conflict, InvalidInput, NotFound, _

STOCK_MAX = 10_000_000
REASON_MAX = 200

# Reasons the system writes into the stock log (translated when shown).
INITIAL_STOCK = _("Initial stock")
SET_IN_SKU_TABLE = _("Set in the SKU table")


def check_stock(stock: int) -> int:
    """A stock number a merchant typed (0 to ``STOCK_MAX``), or InvalidInput."""
    if not 0 <= stock <= STOCK_MAX:
        raise InvalidInput(
            _("Stock must be a whole number from 0 to %(n)s."), code="stock_invalid", n=STOCK_MAX
        )
    return stock


def log_stock(
    db: Session, actor: Actor, sku: Sku, delta: int, reason: str, kind: str = "manual"
) -> StockMovement:
    """Write a stock movement row for a change by ``actor``. Joins the caller's transaction."""
    movement = StockMovement(
        sku_id=sku.id, kind=kind, delta=delta, reason=reason, actor_id=actor.user_id, at=clock.now()
    )
    db.add(movement)
    return movement


def move_stock(db: Session, sku_id: int, delta: int) -> bool:
    """Atomically add ``delta`` to on-hand and received stock unless on-hand would go < 0;
    False when it would. Joins the caller's transaction."""
    result = db.execute(
        update(Sku)
        .where(Sku.id == sku_id, Sku.stock_on_hand + delta >= 0)
        .values(stock_on_hand=Sku.stock_on_hand + delta, stock_received=Sku.stock_received + delta)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def adjust_stock(
    db: Session,
    actor: Actor,
    sku_id: int,
    delta: int,
    reason: str,
    *,
    shop_id: int | None = None,
    product_id: int | None = None,
) -> StockMovement:
    """A manual stock change by the shop's staff: + goods received, - written off.

    Received and on-hand move together, so on_hand + reserved + sold == received still
    holds; on-hand never goes below zero (one conditional UPDATE, safe under concurrency).
    ``shop_id``/``product_id``, when given, must be the SKU's (else NotFound).
    """
    actor.require_user()
    sku = db.get(Sku, sku_id)
    product = db.get(Product, sku.product_id) if sku is not None else None
    if (
        sku is None
        or product is None
        or not actor.can_manage_shop(product.shop_id)
        or (shop_id is not None and product.shop_id != shop_id)
        or (product_id is not None and product.id != product_id)
    ):
        raise NotFound(_("SKU not found."), code="sku_not_found")
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput(_("Give a reason for the stock change."), code="reason_required")
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            _("The reason is too long (at most %(n)s characters)."),
            code="reason_too_long",
            n=REASON_MAX,
        )
    if delta == 0 or abs(delta) > STOCK_MAX:
        raise InvalidInput(_("The change must be a non-zero whole number."), code="delta_invalid")
    if not move_stock(db, sku.id, delta):
        db.rollback()
        raise Conflict(
            _("Only %(n)s in stock: cannot write off more than that."),
            code="stock_below_zero",
            n=sku.stock_on_hand,
        )
    movement = log_stock(db, actor, sku, delta, reason)
    db.commit()
    db.refresh(sku)
    return movement


def stock_log(
    db: Session, actor: Actor, shop_id: int, product_id: int, *, limit: int = 200
) -> list[tuple[StockMovement, Sku]]:
    """The product's stock movements, newest first, with their SKU."""
    service.shop_product(db, actor, shop_id, product_id)
    rows = db.execute(
        select(StockMovement, Sku)
        .join(Sku, Sku.id == StockMovement.sku_id)
        .where(Sku.product_id == product_id)
        .order_by(StockMovement.at.desc(), StockMovement.id.desc())
        .limit(limit)
    )
    return [(m, s) for m, s in rows]

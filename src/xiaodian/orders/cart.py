"""The cart (购物车): SKUs and quantities only. Prices, stock and limits are read fresh each
time the cart is shown, so it never promises a price checkout will not honour."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog.sellability import PurchaseInfo, SkuInfo
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.orders import adjust
from xiaodian.orders.checkout import (
    MAX_QUANTITY,
    adjust_lines,
    available_skus,
    check_quantity,
    offers_for,
)
from xiaodian.orders.limits import bought_quantities
from xiaodian.orders.models import CartItem

MAX_CART_LINES = 100

PROBLEMS = {
    "off_shelf": _("No longer on sale"),
    "sold_out": _("Sold out"),
    "short": _("Only %(n)s left"),
    "limit": _("Limited to %(n)s per buyer"),
}


def _problem(refusal_reason: str) -> str:
    """The key of PROBLEMS for a sellability refusal's reason."""
    return "off_shelf" if refusal_reason in ("unlisted", "shop_closed") else refusal_reason


@dataclass
class CartLine:
    item: CartItem
    offer: PurchaseInfo
    problem: str | None = None  # a key of PROBLEMS
    problem_n: int = 0

    @property
    def info(self) -> SkuInfo:
        return self.offer.sku

    @property
    def price_fen(self) -> int:
        return self.offer.price_fen

    @property
    def amount_fen(self) -> int:
        return self.offer.price_fen * self.item.quantity


@dataclass
class CartGroup:
    shop_id: int
    shop_name: str
    lines: list[CartLine] = field(default_factory=list)


@dataclass
class CartView:
    groups: list[CartGroup]
    # What the buyer's coupons would take off the selected lines, and why some would not.
    discounts: adjust.Quoted = field(default_factory=adjust.Quoted)

    @property
    def lines(self) -> list[CartLine]:
        return [line for group in self.groups for line in group.lines]

    @property
    def selected(self) -> list[CartLine]:
        return [line for line in self.lines if line.item.selected]

    @property
    def selected_fen(self) -> int:
        return sum(line.amount_fen for line in self.selected if not line.problem)

    @property
    def discount_fen(self) -> int:
        return self.discounts.total_fen

    @property
    def pay_fen(self) -> int:
        return self.selected_fen - self.discount_fen

    @property
    def count(self) -> int:
        return sum(line.item.quantity for line in self.lines)


def get_cart(db: Session, actor: Actor) -> CartView:
    """The buyer's cart grouped by shop, at the policy's prices, with the policy's refusal
    of each line, if any (off sale, sold out, short, over the per-buyer limit)."""
    buyer_id = actor.require_user()
    items = list(
        db.scalars(
            select(CartItem).where(CartItem.buyer_id == buyer_id).order_by(CartItem.id.desc())
        )
    )
    offers = offers_for(db, [i.sku_id for i in items], buyer_id)
    limited = [o.sku.product_id for o in offers.values() if o.sku.purchase_limit is not None]
    bought = bought_quantities(db, buyer_id=buyer_id, product_ids=limited)
    in_cart: dict[int, int] = defaultdict(int)
    for item in items:
        if item.sku_id in offers:
            in_cart[offers[item.sku_id].sku.product_id] += item.quantity
    groups: dict[int, CartGroup] = {}
    for item in items:
        offer = offers.get(item.sku_id)
        if offer is None:
            continue
        info = offer.sku
        line = CartLine(item=item, offer=offer)
        refusal = offer.refusal(
            item.quantity,
            product_quantity=in_cart[info.product_id],
            bought=bought.get(info.product_id, 0),
        )
        if refusal is not None:
            line.problem, line.problem_n = _problem(refusal.reason), refusal.n
        group = groups.setdefault(info.shop_id, CartGroup(info.shop_id, info.shop_name))
        group.lines.append(line)
    view = CartView(groups=list(groups.values()))
    sellable = {line.info.sku_id: line.item.quantity for line in view.selected if not line.problem}
    chosen = adjust.available(db, buyer_id) if sellable else []
    if chosen:
        view.discounts = adjust.quote(
            db,
            buyer_id,
            adjust_lines(sellable, dict.fromkeys(sellable), offers),
            chosen,
            strict=False,
        )
    return view


def _own_item(db: Session, buyer_id: int, item_id: int) -> CartItem:
    item = db.get(CartItem, item_id)
    if item is None or item.buyer_id != buyer_id:
        raise NotFound(_("This item is not in your cart."), code="cart_item_not_found")
    return item


def _check_can_have(db: Session, buyer_id: int, offer: PurchaseInfo, quantity: int) -> None:
    """The policy's stock and purchase limit for ``quantity`` of this SKU in the cart."""
    refusal = offer.stock_refusal(quantity)
    if refusal is not None:
        raise refusal.error()
    info = offer.sku
    if info.purchase_limit is None:
        return
    others = {
        i.sku_id: i.quantity
        for i in db.scalars(
            select(CartItem).where(CartItem.buyer_id == buyer_id, CartItem.sku_id != info.sku_id)
        )
    }
    siblings = offers_for(db, list(others), buyer_id)
    in_cart = quantity + sum(
        others[sku_id] for sku_id, o in siblings.items() if o.sku.product_id == info.product_id
    )
    bought = bought_quantities(db, buyer_id=buyer_id, product_ids=[info.product_id])
    refusal = offer.limit_refusal(in_cart, bought=bought.get(info.product_id, 0))
    if refusal is not None:
        raise refusal.error()


def add_to_cart(db: Session, actor: Actor, *, sku_id: int, quantity: int) -> CartItem:
    """Add ``quantity`` of a SKU (to what is already there). 404 unknown, 409 off sale."""
    buyer_id = actor.require_user()
    check_quantity(quantity)
    offer = available_skus(db, [sku_id], buyer_id)[sku_id]
    item = db.scalar(
        select(CartItem).where(CartItem.buyer_id == buyer_id, CartItem.sku_id == sku_id)
    )
    total = quantity + (item.quantity if item else 0)
    if total > MAX_QUANTITY:
        raise InvalidInput(
            _("The quantity must be between 1 and %(max)s."), code="bad_quantity", max=MAX_QUANTITY
        )
    _check_can_have(db, buyer_id, offer, total)
    if item is None:
        count = len(list(db.scalars(select(CartItem.id).where(CartItem.buyer_id == buyer_id))))
        if count >= MAX_CART_LINES:
            raise Conflict(
                _("Your cart is full (%(n)s items)."), code="cart_full", n=MAX_CART_LINES
            )
        item = CartItem(buyer_id=buyer_id, sku_id=sku_id, quantity=total, selected=True)
        db.add(item)
    else:
        item.quantity = total
        item.selected = True
    db.commit()
    return item


def update_cart_item(
    db: Session,
    actor: Actor,
    item_id: int,
    *,
    quantity: int | None = None,
    selected: bool | None = None,
) -> CartItem:
    buyer_id = actor.require_user()
    item = _own_item(db, buyer_id, item_id)
    if quantity is not None:
        check_quantity(quantity)
        offer = offers_for(db, [item.sku_id], buyer_id).get(item.sku_id)
        if offer is not None and quantity > item.quantity:
            _check_can_have(db, buyer_id, offer, quantity)
        item.quantity = quantity
    if selected is not None:
        item.selected = bool(selected)
    db.commit()
    return item


def remove_cart_item(db: Session, actor: Actor, item_id: int) -> None:
    buyer_id = actor.require_user()
    db.delete(_own_item(db, buyer_id, item_id))
    db.commit()


def select_items(db: Session, actor: Actor, item_ids: list[int]) -> None:
    """Exactly these cart lines are selected for checkout (others are unselected)."""
    buyer_id = actor.require_user()
    ids = [i for i in item_ids if isinstance(i, int)]
    db.execute(
        update(CartItem)
        .where(CartItem.buyer_id == buyer_id)
        .values(selected=CartItem.id.in_(ids) if ids else False)
        .execution_options(synchronize_session=False)
    )
    db.commit()


def selected_lines(db: Session, actor: Actor) -> list[tuple[int, int]]:
    """(sku_id, quantity) of the selected cart lines, for checkout."""
    buyer_id = actor.require_user()
    rows = db.execute(
        select(CartItem.sku_id, CartItem.quantity)
        .where(CartItem.buyer_id == buyer_id, CartItem.selected.is_(True))
        .order_by(CartItem.id)
    )
    return [(sku_id, quantity) for sku_id, quantity in rows]

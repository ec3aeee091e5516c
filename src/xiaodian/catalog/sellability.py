"""Sellability: is this SKU for sale to this buyer, at what price, and how many.

One policy answers it for every place that sells (Django Oscar's strategy object): the
product page (``catalog.storefront``), the cart, checkout and its preview (``orders``), and
the flash sale (``content.live``, which opens a sale on what the policy offers and sells
through checkout's ``create_orders``). They ask; none of them re-states the rules.

    skus = sellability.load_skus(db, sku_ids)          # the facts, one query
    offers = sellability.current().offers(db, skus, buyer)  # PurchaseInfo by SKU id
    offer = offers[sku_id]
    offer.price_fen, offer.num_available, offer.unavailable
    offer.refusal(quantity, product_quantity=..., bought=...)  # None: permitted

The policy only evaluates rows its caller already loaded: ``load_skus`` reads a batch of
SKUs with their product and shop in one query (the shop's state is the merchants domain's,
read through ``merchants.service.shops_to_join``), the product page hands in the rows it
shows (``sku_facts``), and what the buyer already ordered (for purchase limits) is counted
by orders, which owns orders, and handed in. So asking costs no statement of its own, and
checkout's statement count does not grow with its lines.

Reasons (``Refusal.reason``), in the order they are checked:

- ``unlisted``: the product is not on sale (draft, in review, off the shelf), or the SKU is
  switched off;
- ``shop_closed``: the shop is suspended or closed;
- ``sold_out``: nothing on hand;
- ``short``: fewer on hand than asked (``n`` = units on hand);
- ``limit``: over the product's per-buyer limit (``n`` = the limit, ``bought`` = what the
  buyer ordered before, in orders that went ahead).

``Refusal.error`` is the error each caller raises for it (codes ``unavailable``,
``out_of_stock``, ``purchase_limit``); the cart and the preview name the reason per line
instead of raising.

Plugging in (campaigns, later): a higher domain registers a price rule when its module is
imported (``@sellability.price_rule``), as listeners register with ``orders.lifecycle``;
catalog imports none of them. A rule gets the whole batch at once, with the buyer (or
None: a visitor, or a batch of many buyers) and the prices so far, and returns the prices
it changes. It may read what it needs in one query for the whole batch, never one per SKU;
a rule that reads nothing keeps checkout's statement count as it is. Rules run in the order
they registered. A line whose price the server decides itself (a flash sale's live price,
``PricedLine.unit_price_fen``) is not repriced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, select
from sqlalchemy.orm import Session

from xiaodian.catalog.models import Product, ProductStatus, Sku
from xiaodian.errors import Conflict, DomainError, _
from xiaodian.merchants import service as merchants_service


@dataclass(frozen=True)
class SkuInfo:
    """The facts about a SKU that sellability decides on, read in one query."""

    sku_id: int
    product_id: int
    shop_id: int
    shop_name: str
    shop_active: bool
    title: str
    spec_text: str
    price_fen: int  # the SKU's own price; what a buyer pays is ``PurchaseInfo.price_fen``
    stock_on_hand: int
    sku_active: bool
    product_on_sale: bool
    purchase_limit: int | None
    cover_path: str | None
    # What a shipping fee is reckoned from (``orders/shipping.py``): the SKU's weight and
    # the product's own shipping template (None: the shop's default).
    weight_g: int = 0
    shipping_template_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.title} ({self.spec_text})" if self.spec_text else self.title


@functools.cache
def _load_statement() -> Any:
    """``load_skus``' query, built once (the shops' selectable comes from merchants)."""
    shop = merchants_service.shops_to_join()
    # On the tables: a statement of mapped attributes goes through the ORM's execution,
    # which costs about as much again, for rows nobody loads as objects.
    skus, products = cast(Table, Sku.__table__), cast(Table, Product.__table__)
    return (
        select(
            skus.c.id,
            skus.c.product_id,
            products.c.shop_id,
            shop.c.name,
            shop.c.is_active,
            products.c.title,
            skus.c.spec_key,
            skus.c.price_fen,
            skus.c.stock_on_hand,
            skus.c.is_active,
            products.c.status,
            products.c.purchase_limit,
            products.c.cover_path,
            skus.c.weight_g,
            products.c.shipping_template_id,
        )
        .join(products, products.c.id == skus.c.product_id)
        .join(shop, shop.c.id == products.c.shop_id)
        .where(skus.c.id.in_(bindparam("ids", expanding=True)))
    )


def load_skus(db: Session, sku_ids: Iterable[int]) -> dict[int, SkuInfo]:
    """SKUs with their product and shop, by id (missing ids are simply absent); one query."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    rows = db.execute(_load_statement(), {"ids": ids})
    return {
        r[0]: SkuInfo(
            sku_id=r[0],
            product_id=r[1],
            shop_id=r[2],
            shop_name=r[3],
            shop_active=bool(r[4]),
            title=r[5],
            spec_text=r[6] or "",
            price_fen=r[7],
            stock_on_hand=r[8],
            sku_active=bool(r[9]),
            product_on_sale=r[10] == ProductStatus.ON_SALE,
            purchase_limit=r[11],
            cover_path=r[12],
            weight_g=r[13] or 0,
            shipping_template_id=r[14],
        )
        for r in rows
    }


def sku_facts(product: Product, *, shop_name: str, shop_active: bool) -> list[SkuInfo]:
    """The facts of a loaded product's SKUs (no query beyond its loaded ``skus``)."""
    on_sale = product.status == ProductStatus.ON_SALE
    return [
        SkuInfo(
            sku_id=s.id,
            product_id=product.id,
            shop_id=product.shop_id,
            shop_name=shop_name,
            shop_active=shop_active,
            title=product.title,
            spec_text=s.spec_key or "",
            price_fen=s.price_fen,
            stock_on_hand=s.stock_on_hand,
            sku_active=s.is_active,
            product_on_sale=on_sale,
            purchase_limit=product.purchase_limit,
            cover_path=product.cover_path,
            weight_g=s.weight_g or 0,
            shipping_template_id=product.shipping_template_id,
        )
        for s in product.skus
    ]


@dataclass(frozen=True)
class Buyer:
    """Who is buying, as far as the policy needs to know (a price rule may read more about
    them, for the whole batch at once). What they ordered before, for purchase limits, is
    counted by orders (``orders.limits.bought_quantities``) and handed to
    ``PurchaseInfo.refusal`` as ``bought``."""

    user_id: int


Reason = Literal["unlisted", "shop_closed", "sold_out", "short", "limit"]


@dataclass(frozen=True)
class Refusal:
    """Why a purchase is not permitted (the reasons: the module's docstring)."""

    reason: Reason
    sku: SkuInfo
    n: int = 0  # units on hand (sold_out, short) or the limit (limit)
    bought: int = 0  # limit: what the buyer ordered before

    @property
    def off_sale(self) -> bool:
        """Not for sale at all (as opposed to not in that quantity)."""
        return self.reason in ("unlisted", "shop_closed")

    def error(self) -> DomainError:
        """The error a caller that refuses outright raises (409)."""
        if self.off_sale:
            return Conflict(
                _("%(item)s is no longer on sale."), code="unavailable", item=self.sku.label
            )
        if self.reason == "limit":
            return Conflict(
                _("%(item)s is limited to %(limit)s per buyer (you already ordered %(bought)s)."),
                code="purchase_limit",
                item=self.sku.title,
                limit=self.n,
                bought=self.bought,
            )
        return Conflict(_("Only %(n)s left in stock."), code="out_of_stock", n=self.n)


@dataclass(frozen=True)
class PurchaseInfo:
    """The policy's answer for one SKU and one buyer (Oscar's PurchaseInfo)."""

    sku: SkuInfo
    price_fen: int  # what this buyer pays per unit now
    unavailable: Refusal | None  # why it cannot be bought at all (None: it can)
    note: Priced | None = None  # the last rule that repriced it, when it said why

    @property
    def discounted(self) -> bool:
        return self.price_fen < self.sku.price_fen

    @property
    def is_available_to_buy(self) -> bool:
        return self.unavailable is None

    @property
    def num_available(self) -> int:
        """Units on hand to sell (0 when the SKU cannot be bought at all)."""
        return max(self.sku.stock_on_hand, 0) if self.unavailable is None else 0

    def stock_refusal(self, quantity: int) -> Refusal | None:
        on_hand = max(self.sku.stock_on_hand, 0)
        if on_hand <= 0:
            return Refusal("sold_out", self.sku, n=0)
        if on_hand < quantity:
            return Refusal("short", self.sku, n=on_hand)
        return None

    def limit_refusal(self, product_quantity: int, *, bought: int = 0) -> Refusal | None:
        """``product_quantity`` units of this SKU's product (all its SKUs) wanted now, on
        top of ``bought`` ordered before."""
        limit = self.sku.purchase_limit
        if limit is not None and product_quantity + bought > limit:
            return Refusal("limit", self.sku, n=limit, bought=bought)
        return None

    def refusal(
        self, quantity: int, *, product_quantity: int | None = None, bought: int = 0
    ) -> Refusal | None:
        """Why ``quantity`` units may not be bought, or None when they may (Oscar's
        ``is_purchase_permitted``): off sale, then stock, then the per-buyer limit."""
        return (
            self.unavailable
            or self.stock_refusal(quantity)
            or self.limit_refusal(
                quantity if product_quantity is None else product_quantity, bought=bought
            )
        )


@dataclass(frozen=True)
class Priced:
    """A rule's price with what the buyer is told about it: a label ("限时折扣") and when
    it ends (a countdown), for the pages that show prices."""

    price_fen: int
    label: str = ""
    until: datetime | None = None


# rule(db, skus, buyer, prices so far) -> {sku_id: new price (or Priced)} for the SKUs it
# reprices
PriceRule = Callable[
    [Session, Sequence[SkuInfo], Buyer | None, Mapping[int, int]], Mapping[int, "int | Priced"]
]


class Policy:
    """The default policy: a SKU is for sale when it is switched on, its product is on
    sale and its shop is active; the price is the SKU's, then each registered rule's; as
    many units as are on hand, within the product's per-buyer limit.

    Subclass and ``use`` another to change the rules for every caller at once."""

    def __init__(self) -> None:
        self.price_rules: list[PriceRule] = []

    def product_refusal(self, *, on_sale: bool, shop_active: bool) -> Reason | None:
        """Why a product is neither shown nor sold (a reason), or None: its shop, its status."""
        if not shop_active:
            return "shop_closed"
        if not on_sale:
            return "unlisted"
        return None

    def shown_where(self, on_sale: Any, shop_active: Any) -> ColumnElement[bool]:
        """``product_refusal`` as a SQL condition, for listings that filter in the query:
        ``on_sale`` is a product's status column, ``shop_active`` its shop's flag."""
        return and_(on_sale == ProductStatus.ON_SALE, shop_active.is_(True))

    def availability(self, sku: SkuInfo) -> Refusal | None:
        """Why this SKU cannot be bought at all, or None."""
        reason = self.product_refusal(on_sale=sku.product_on_sale, shop_active=sku.shop_active)
        if reason is None and not sku.sku_active:
            return Refusal("unlisted", sku)
        return Refusal(reason, sku) if reason is not None else None

    def prices(self, db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None) -> dict[int, int]:
        """Each SKU's price for this buyer: its own, then each rule in turn."""
        return self._priced(db, skus, buyer)[0]

    def _priced(
        self, db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None
    ) -> tuple[dict[int, int], dict[int, Priced]]:
        prices = {s.sku_id: s.price_fen for s in skus}
        notes: dict[int, Priced] = {}
        for rule in self.price_rules:
            for sku_id, answer in rule(db, skus, buyer, dict(prices)).items():
                if sku_id not in prices:
                    continue
                price = answer.price_fen if isinstance(answer, Priced) else answer
                if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                    raise ValueError(f"a price rule gave SKU {sku_id} the price {price!r}")
                prices[sku_id] = price
                if isinstance(answer, Priced):
                    notes[sku_id] = answer
                else:
                    notes.pop(sku_id, None)
        return prices, notes

    def offers(
        self, db: Session, skus: Mapping[int, SkuInfo] | Sequence[SkuInfo], buyer: Buyer | None
    ) -> dict[int, PurchaseInfo]:
        """The answer for each SKU (by id) for this buyer (None: a visitor, or a batch of
        many buyers). No statement of its own unless a rule reads one for the batch."""
        rows = list(skus.values()) if isinstance(skus, Mapping) else list(skus)
        prices, notes = self._priced(db, rows, buyer) if rows else ({}, {})
        return {
            s.sku_id: PurchaseInfo(s, prices[s.sku_id], self.availability(s), notes.get(s.sku_id))
            for s in rows
        }


policy = Policy()


def use(new: Policy, *, keep_rules: bool = True) -> Policy:
    """Install ``new`` as the policy every caller asks; returns the one it replaces. The
    rules registered so far move to it unless ``keep_rules`` is False (a test putting the
    policy it replaced back)."""
    global policy
    old = policy
    if keep_rules:
        new.price_rules[:0] = [r for r in old.price_rules if r not in new.price_rules]
    policy = new
    return old


def current() -> Policy:
    return policy


def price_rule(rule: PriceRule) -> PriceRule:
    """Register a price rule with the policy (a decorator); see the module's docstring."""
    policy.price_rules.append(rule)
    return rule


def remove_price_rule(rule: PriceRule) -> None:
    """Unregister a rule (tests)."""
    if rule in policy.price_rules:
        policy.price_rules.remove(rule)


def offer(db: Session, sku_id: int, buyer: Buyer | None = None) -> PurchaseInfo | None:
    """The answer for one SKU (None: no such SKU)."""
    skus = load_skus(db, [sku_id])
    return current().offers(db, skus, buyer).get(sku_id)

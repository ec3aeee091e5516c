"""Limited-time discounts (限时折扣): a shop's listed SKUs at a percentage of their price or
at a set price, between two times.

The price reaches every place that sells through the sellability policy: ``limited_time``
is a price rule (one query for the whole batch of SKUs, the discounts on at this moment),
so the product page, the cart, checkout and its preview agree, and refunds return what the
line was paid. A flash sale's live price is the server's own (its lines are never
repriced): in the live room the live price wins, everywhere else the discount. Coupons
apply on top of the discounted price (a product's own discount comes first, as the
stacking policy says).

Rules, checked when written: a name; a window that ends after it starts, in the future,
at most ``MAX_DAYS`` long; 1 to ``MAX_ITEMS`` of the shop's own SKUs; each either a
percentage paid between 20 (2折, WeChat's floor) and 99, or a set price of at least 20 %
of the SKU's price and below it. One discount per SKU at a time: a SKU already in another
active discount whose window overlaps is refused (the shop's discounts are written one at
a time: an advisory lock on PostgreSQL, SQLite's single writer). Cancelling ends a
discount at once. Each public function is one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns.models import Discount, DiscountItem, DiscountStatus
from xiaodian.catalog import prices as price_history
from xiaodian.catalog import sellability
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, _

MAX_ITEMS = 100
MAX_DAYS = 90
FLOOR_PERCENT = 20  # WeChat's floor: never below 2折
LABEL = _("Limited-time discount")


@dataclass(frozen=True)
class ItemInput:
    sku_id: int
    rate_percent: int | None = None  # pay this percentage of the price (80: 8折)
    price_fen: int | None = None  # or this price


@dataclass(frozen=True)
class DiscountInput:
    name: str
    starts_at: datetime
    ends_at: datetime
    items: Sequence[ItemInput]


def _check(data: DiscountInput, now: datetime) -> tuple[str, datetime, datetime]:
    name = (data.name or "").strip()
    if not name or len(name) > 40:
        raise InvalidInput(_("Give the discount a name (at most 40 characters)."), code="bad_name")
    starts, ends = clock.as_utc(data.starts_at), clock.as_utc(data.ends_at)
    if ends <= starts or ends <= now:
        raise InvalidInput(
            _("The discount must end after it starts, and in the future."), code="bad_window"
        )
    if ends - starts > timedelta(days=MAX_DAYS):
        raise InvalidInput(
            _("A discount lasts at most %(days)s days."), code="bad_window", days=MAX_DAYS
        )
    if not 1 <= len(data.items) <= MAX_ITEMS:
        raise InvalidInput(_("List between 1 and %(n)s SKUs."), code="bad_items", n=MAX_ITEMS)
    if len({i.sku_id for i in data.items}) != len(data.items):
        raise InvalidInput(_("A SKU is listed twice."), code="bad_items")
    if any(not 1 <= i.sku_id <= MAX_ID for i in data.items):
        raise InvalidInput(
            _("A listed SKU does not exist or is not this shop's."), code="bad_items"
        )
    return name, starts, ends


def _check_item(item: ItemInput, sku: sellability.SkuInfo) -> None:
    if (item.rate_percent is None) == (item.price_fen is None):
        raise InvalidInput(
            _("Give %(item)s either a percentage or a price."), code="bad_offer", item=sku.label
        )
    if item.rate_percent is not None and not FLOOR_PERCENT <= item.rate_percent <= 99:
        raise InvalidInput(
            _("%(item)s: the percentage paid is between 20 (2折) and 99."),
            code="bad_offer",
            item=sku.label,
        )
    if item.price_fen is not None and not (
        sku.price_fen * FLOOR_PERCENT <= item.price_fen * 100 and item.price_fen < sku.price_fen
    ):
        raise InvalidInput(
            _("%(item)s: the discounted price is below its price and at least 20 %% of it."),
            code="bad_offer",
            item=sku.label,
        )


def create_discount(db: Session, actor: Actor, shop_id: int, data: DiscountInput) -> Discount:
    """A limited-time discount of the shop; its staff. Raises InvalidInput (the rules
    above; a SKU that is not the shop's is refused like an unknown one), Conflict (a SKU
    already discounted then), NotFound (not the actor's shop)."""
    user_id = actor.require_shop(shop_id)
    now = clock.now()
    name, starts, ends = _check(data, now)
    skus = sellability.load_skus(db, [i.sku_id for i in data.items])
    for item in data.items:
        sku = skus.get(item.sku_id)
        if sku is None or sku.shop_id != shop_id:
            raise InvalidInput(
                _("A listed SKU does not exist or is not this shop's."), code="bad_items"
            )
        _check_item(item, sku)
    if db.get_bind().dialect.name == "postgresql":  # the shop's discounts, one at a time
        db.execute(select(func.pg_advisory_xact_lock(0x5844_0000 + shop_id)))
    taken = db.scalar(
        select(DiscountItem.sku_id)
        .join(Discount, Discount.id == DiscountItem.discount_id)
        .where(
            DiscountItem.sku_id.in_([i.sku_id for i in data.items]),
            Discount.status == DiscountStatus.ACTIVE,
            DiscountItem.starts_at < ends,
            DiscountItem.ends_at > starts,
        )
        .limit(1)
    )
    if taken is not None:
        raise Conflict(
            _("%(item)s already has a discount at that time."),
            code="discount_overlap",
            item=skus[taken].label,
        )
    discount = Discount(
        shop_id=shop_id,
        name=name,
        starts_at=starts,
        ends_at=ends,
        status=DiscountStatus.ACTIVE,
        created_by=user_id,
        created_at=now,
    )
    db.add(discount)
    db.flush()
    db.add_all(
        DiscountItem(
            discount_id=discount.id,
            shop_id=shop_id,
            sku_id=i.sku_id,
            rate_percent=i.rate_percent,
            price_fen=i.price_fen,
            starts_at=starts,
            ends_at=ends,
        )
        for i in data.items
    )
    db.flush()
    price_history.flag_if_above_lowest(  # a "discount" above the 30-day lowest price
        db,
        shop_id=shop_id,
        source="discount",
        ref_id=discount.id,
        label=name,
        prices={i.sku_id: _price_of(skus[i.sku_id].price_fen, i) for i in data.items},
    )
    db.commit()
    return discount


def _price_of(price_fen: int, item: ItemInput) -> int:
    return discounted_price(
        price_fen, DiscountItem(rate_percent=item.rate_percent, price_fen=item.price_fen)
    )


def cancel_discount(db: Session, actor: Actor, discount_id: int) -> Discount:
    """End the discount now (its staff): its SKUs go back to their price at once."""
    discount = db.scalar(select(Discount).where(Discount.id == discount_id).with_for_update())
    if discount is None or not actor.can_manage_shop(discount.shop_id):
        raise NotFound(_("Discount not found."), code="discount_not_found")
    if discount.status == DiscountStatus.ACTIVE:
        now = clock.now()
        discount.status, discount.cancelled_at = DiscountStatus.CANCELLED, now
        db.execute(  # those under way end now; those not started never will (status)
            update(DiscountItem)
            .where(
                DiscountItem.discount_id == discount.id,
                DiscountItem.starts_at < now,
                DiscountItem.ends_at > now,
            )
            .values(ends_at=now)
            .execution_options(synchronize_session=False)
        )
    db.commit()
    return discount


@dataclass(frozen=True)
class DiscountRow:
    discount: Discount
    items: list[DiscountItem]
    state: str  # scheduled | on | ended | cancelled


def shop_discounts(db: Session, actor: Actor, shop_id: int) -> list[DiscountRow]:
    """The shop's discounts, newest first, with their SKUs (two queries)."""
    actor.require_shop(shop_id)
    discounts = list(
        db.scalars(
            select(Discount)
            .where(Discount.shop_id == shop_id)
            .order_by(Discount.id.desc())
            .limit(200)
        )
    )
    items: dict[int, list[DiscountItem]] = {d.id: [] for d in discounts}
    if discounts:
        for item in db.scalars(
            select(DiscountItem)
            .where(DiscountItem.discount_id.in_(list(items)))
            .order_by(DiscountItem.id)
        ):
            items[item.discount_id].append(item)
    now = clock.now()
    db.commit()
    return [DiscountRow(d, items[d.id], _state(d, now)) for d in discounts]


def discount_row(db: Session, actor: Actor, discount_id: int) -> DiscountRow:
    """One of the actor's shops' discounts with its SKUs (NotFound for anyone else's)."""
    discount = db.get(Discount, discount_id)
    if discount is None or not actor.can_manage_shop(discount.shop_id):
        raise NotFound(_("Discount not found."), code="discount_not_found")
    items = list(
        db.scalars(
            select(DiscountItem)
            .where(DiscountItem.discount_id == discount.id)
            .order_by(DiscountItem.id)
        )
    )
    row = DiscountRow(discount, items, _state(discount, clock.now()))
    db.commit()
    return row


def _state(discount: Discount, now: datetime) -> str:
    if discount.status == DiscountStatus.CANCELLED:
        return "cancelled"
    if now < clock.as_utc(discount.starts_at):
        return "scheduled"
    return "on" if now < clock.as_utc(discount.ends_at) else "ended"


def discounted_price(price_fen: int, item: DiscountItem | Row[Any]) -> int:
    """What the SKU costs under the item: a percentage rounded half up to the fen (never
    below one fen), or the set price, never above the price it had."""
    if item.rate_percent is not None:
        return max(1, min(price_fen, (price_fen * item.rate_percent * 2 + 100) // 200))
    return min(price_fen, item.price_fen or price_fen)


_ITEMS, _DISCOUNTS = DiscountItem.__table__.c, Discount.__table__.c
# The items' columns, on the tables (read, never loaded as objects: no ORM execution for
# the batch of every product page and checkout).
_ON_NOW = (
    select(*DiscountItem.__table__.c)
    .join(Discount.__table__, _DISCOUNTS.id == _ITEMS.discount_id)
    .where(
        _ITEMS.sku_id.in_(bindparam("ids", expanding=True)),
        _ITEMS.starts_at <= bindparam("now", type_=_ITEMS.starts_at.type),
        _ITEMS.ends_at > bindparam("now"),
        _DISCOUNTS.status == DiscountStatus.ACTIVE,
    )
)


@sellability.price_rule
def limited_time(
    db: Session,
    skus: Sequence[sellability.SkuInfo],
    buyer: sellability.Buyer | None,
    prices: Mapping[int, int],
) -> dict[int, int | sellability.Priced]:
    """The discounts on now for the batch, one query."""
    now = clock.now()
    rows = db.execute(_ON_NOW, {"ids": [s.sku_id for s in skus], "now": now})
    changed: dict[int, int | sellability.Priced] = {}
    for item in rows:
        price = discounted_price(prices[item.sku_id], item)
        changed[item.sku_id] = sellability.Priced(price, LABEL, clock.as_utc(item.ends_at))
    return changed

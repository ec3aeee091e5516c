"""Checkout: lines in, one order per shop out, all stock reserved in the one transaction.

Two layers:

- ``checkout(db, actor, ...)`` is the public use case (the page and the API): it checks the
  buyer's input, prices every line from the SKU as it is NOW (whatever the client sent),
  handles the ``Idempotency-Key`` and commits.
- ``create_orders(db, *, buyer_id, lines, address, channel, ...)`` is the internal step that
  does the work and does NOT commit (joins the caller's transaction). Another use case, such
  as a flash sale, calls it with ``PricedLine(sku_id, quantity, unit_price_fen=...)`` to set
  a server-decided unit price per line; ``unit_price_fen=None`` means the price the
  sellability policy gives the buyer (``catalog/sellability.py``, which also decides
  availability, stock as read and purchase limits). It splits by shop, reserves all stock
  atomically (any line short -> nothing reserved, Conflict naming it) and writes the orders,
  their lines and a "created" event each.

The number of SQL statements does not grow with the number of lines: SKUs are read in one
query, reserved in one UPDATE, and lines and events inserted in one batch each.
"""

from __future__ import annotations

import functools
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian import bulk, clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.catalog import inventory, sellability
from xiaodian.catalog.sellability import PurchaseInfo, SkuInfo
from xiaodian.db import MAX_ID, loaded
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.orders import adjust, idempotency, lifecycle, service, shipping
from xiaodian.orders.addresses import get_address
from xiaodian.orders.limits import check_limits, lock_buyer
from xiaodian.orders.models import (
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)

_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_EVENTS = cast(Table, OrderEvent.__table__)
# Executed with the rows as parameters: one multi-row INSERT ("insertmanyvalues"), compiled
# once (``.values(rows)`` has no cache key: it was compiled anew at every checkout).
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, _LINES.c.order_id, _LINES.c.sku_id)

MAX_QUANTITY = 999
MAX_LINES = 50
CHANNELS = ("shelf", "video", "live", "share", "group")
# Channels only the server decides (never a buyer's request): a creator's sample (寄样).
SERVER_CHANNELS = ("sample",)
# Orders that did not go ahead do not count against a purchase limit.


@dataclass(frozen=True)
class PricedLine:
    """A line to order; ``unit_price_fen=None`` means the sellability policy's price."""

    sku_id: int
    quantity: int
    unit_price_fen: int | None = None


@dataclass(frozen=True)
class Channel:
    """Where the buyer came from (attribution for content and commission)."""

    type: str = "shelf"
    ref_id: int | None = None
    promoter_id: int | None = None
    # What the buyer's request carried for a higher domain (``web.deps.request_touch``: a
    # promoter's tracked link), handed on opaque with the "created" change; not part of
    # the Idempotency-Key's body.
    touch: str = ""


@dataclass
class CheckoutResult:
    orders: list[Order]
    replayed: bool = False  # True when an Idempotency-Key was seen before


def check_quantity(quantity: Any) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidInput(_("The quantity must be a whole number."), code="bad_quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(
            _("The quantity must be between 1 and %(max)s."), code="bad_quantity", max=MAX_QUANTITY
        )
    return quantity


def merge_lines(lines: list[tuple[int, int]]) -> dict[int, int]:
    """Quantities per SKU (the same SKU twice is one line), checked."""
    if not lines:
        raise InvalidInput(_("Choose at least one item."), code="no_lines")
    merged: dict[int, int] = defaultdict(int)
    for sku_id, quantity in lines:
        if not isinstance(sku_id, int) or isinstance(sku_id, bool) or not 0 < sku_id <= MAX_ID:
            raise NotFound(_("This item does not exist."), code="sku_not_found")
        merged[sku_id] += check_quantity(quantity)
    if len(merged) > MAX_LINES:
        raise InvalidInput(
            _("At most %(n)s different items per checkout."), code="too_many_lines", n=MAX_LINES
        )
    for quantity in merged.values():
        check_quantity(quantity)
    return dict(merged)


def offers_for(db: Session, sku_ids: list[int], buyer_id: int | None) -> dict[int, PurchaseInfo]:
    """What the sellability policy offers this buyer (None: many buyers at once) for the
    SKUs, read in one query; unknown ids are absent. Joins the caller's transaction."""
    buyer = sellability.Buyer(buyer_id) if buyer_id is not None else None
    return sellability.current().offers(db, sellability.load_skus(db, sku_ids), buyer)


def available_skus(
    db: Session, sku_ids: list[int], buyer_id: int | None = None
) -> dict[int, PurchaseInfo]:
    """The policy's offers, each SKU existing (else NotFound) and for sale (else the
    policy's refusal: Conflict naming it)."""
    offers = offers_for(db, sku_ids, buyer_id)
    for sku_id in sku_ids:
        offer = offers.get(sku_id)
        if offer is None:
            raise NotFound(_("This item does not exist."), code="sku_not_found")
        if offer.unavailable is not None:
            raise offer.unavailable.error()
    return offers


def order_numbers(count: int) -> list[str]:
    """``count`` distinct order numbers (business date + 10 random digits), unchecked: the
    INSERT that uses them finds a number already taken (orders' own writers)."""
    prefix = clock.today().strftime("%Y%m%d")
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(f"{prefix}{secrets.randbelow(10**10):010d}")
    return sorted(numbers)


def _new_order_numbers(db: Session, count: int) -> list[str]:
    """Business date (Asia/Shanghai) + 10 random digits, unused so far."""
    prefix = clock.today().strftime("%Y%m%d")
    numbers: list[str] = []
    while len(numbers) < count:
        candidates = {f"{prefix}{secrets.randbelow(10**10):010d}" for _ in range(count)}
        taken = set(
            db.scalars(select(Order.order_no).where(bulk.in_values(db, Order.order_no, candidates)))
        )
        numbers.extend(sorted(candidates - taken - set(numbers))[: count - len(numbers)])
    return numbers


def _proven(db: Session, channel: Channel, product_ids: list[int], *, claimed: bool) -> Channel:
    """A "video" channel counts only for a published video featuring one of the products;
    a "live" channel claimed by the buyer's page (not decided by the server, as a flash
    sale's is) only when the room lists one. Other domains prove them
    (``lifecycle.channel_check``); an unproven claim is the shelf."""
    if channel.type == "video" or (channel.type == "live" and claimed):
        ref = (
            channel.ref_id if channel.ref_id is not None and 0 < channel.ref_id <= MAX_ID else None
        )
        proven = lifecycle.prove_channel(db, channel.type, ref, product_ids)
        if proven is None:
            return Channel()
        return Channel(channel.type, proven, channel.promoter_id)
    return channel


def create_orders(
    db: Session,
    *,
    buyer_id: int,
    lines: list[PricedLine],
    address: dict[str, str],
    channel: Channel | None = None,
    note: str = "",
    enforce_limits: bool = True,
    reserve_stock: bool = True,
    verify_live: bool = False,
    coupons: list[int] | None = None,
    charge_shipping: bool = True,
) -> list[Order]:
    """Write one order per shop for ``lines`` and reserve their stock. Does NOT commit
    (joins the caller's transaction; on an error the caller must roll back).

    A "video" channel counts only for a published video featuring one of the products. With
    ``verify_live`` (a channel claimed by the buyer's page or request, not decided by the
    server like a flash sale's), a "live" channel counts only when the room lists one of
    the products; an unproven claim falls back to "shelf".

    Raises NotFound (unknown SKU), Conflict (the sellability policy's refusal: off sale,
    out of stock, over the purchase limit, in that order; stock is decided for good by the
    reservation).

    ``coupons``: the buyer's chosen coupon ids, given to the registered adjusters
    (``orders/adjust.py``); each line then stores its discount and the platform's part, and
    the adjusters mark what was used in this transaction. One that does not apply is the
    adjuster's DomainError, before anything is written.

    ``charge_shipping``: each order's ``shipping_fen`` is what the registered quoter
    (``orders/shipping.py``: the shop's shipping templates) asks for its lines and the
    address's province, and ``total_fen`` is the items plus it; a province the shop does
    not deliver to is the quoter's DomainError, before anything is written. False: free
    shipping (a live flash price is all-in, as the batch of ``create_orders_for_buyers``).
    """
    channel = channel or Channel()
    chosen = adjust.check_chosen(coupons)
    if channel.type not in CHANNELS + SERVER_CHANNELS:
        raise InvalidInput(_("Unknown sales channel."), code="bad_channel")
    wanted = merge_lines([(line.sku_id, line.quantity) for line in lines])
    prices: dict[int, int | None] = {}
    for line in lines:
        if line.unit_price_fen is not None and line.unit_price_fen < 0:
            raise InvalidInput(_("A price cannot be negative."), code="bad_price")
        prices[line.sku_id] = line.unit_price_fen
    offers = available_skus(db, list(wanted), buyer_id)
    if reserve_stock:  # as the policy sees it now; the reservation below decides for good
        for sku_id, quantity in wanted.items():
            if offers[sku_id].stock_refusal(quantity) is not None:
                raise _out_of_stock(offers[sku_id].sku)
    product_ids = list(dict.fromkeys(o.sku.product_id for o in offers.values()))
    channel = _proven(db, channel, product_ids, claimed=verify_live)
    if enforce_limits and any(o.sku.purchase_limit is not None for o in offers.values()):
        lock_buyer(db, buyer_id)  # before the limit is read (a no-op if checkout holds it)
        check_limits(db, buyer_id=buyer_id, wanted=wanted, offers=offers)
    quoted = adjust.quote(db, buyer_id, adjust_lines(wanted, prices, offers), chosen, strict=True)

    orders = _write_orders(
        db,
        [_Cart(buyer_id, wanted, prices, address, quoted.discount_fen, quoted.subsidy_fen)],
        offers=offers,
        channel=channel,
        note=note,
        reserve_stock=reserve_stock,
        charge_shipping=charge_shipping,
    )[0]
    if quoted.parts:
        adjust.redeem(
            db,
            buyer_id,
            quoted,
            {line.sku_id: order.id for order in orders for line in order.lines},
        )
    return orders


def create_sample_order(
    db: Session, *, buyer_id: int, sku_id: int, address: dict[str, str], ref: str
) -> Order:
    """One unit of ``sku_id`` for ``buyer_id`` at no cost (a creator's sample, 寄样):
    an ordinary order of channel "sample" with its stock reserved as for any order, free
    shipping, no purchase limit, paid at once (``mark_paid`` with amount 0 and ``ref`` as
    the payment's reference), so it waits to be shipped through the ordinary fulfilment.
    No money moves: the ledger posts nothing for a 0-fen order. Raises what
    ``create_orders`` raises (NotFound, Conflict: off sale, out of stock). Does NOT commit
    (joins the caller's transaction)."""
    (order,) = create_orders(
        db,
        buyer_id=buyer_id,
        lines=[PricedLine(sku_id, 1, unit_price_fen=0)],
        address=address,
        channel=Channel("sample"),
        enforce_limits=False,
        charge_shipping=False,
    )
    service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref=ref[:64])
    db.refresh(order)
    return order


def adjust_lines(
    wanted: dict[int, int], prices: dict[int, int | None], offers: dict[int, PurchaseInfo]
) -> list[adjust.Line]:
    """The lines as the adjusters see them: what each costs at the price it is ordered at."""
    out = []
    for sku_id, quantity in wanted.items():
        info = offers[sku_id]
        price = prices.get(sku_id)
        unit = info.price_fen if price is None else price
        out.append(adjust.Line(sku_id, info.sku.shop_id, info.sku.product_id, unit * quantity))
    return out


@dataclass(frozen=True)
class _Cart:
    buyer_id: int
    wanted: dict[int, int]
    prices: dict[int, int | None]
    address: dict[str, str]
    discounts: dict[int, int] = field(default_factory=dict)  # SKU -> fen off (adjusters)
    subsidies: dict[int, int] = field(default_factory=dict)  # SKU -> the platform's part


@dataclass(frozen=True)
class CreatedOrder:
    """What ``create_orders_for_buyers`` returns per order (no ORM object: the batch is
    written with Core multi-row INSERTs ... RETURNING, nothing loaded into the session)."""

    id: int
    order_no: str
    buyer_id: int
    shop_id: int
    total_fen: int


def create_orders_for_buyers(
    db: Session,
    carts: list[tuple[int, list[PricedLine], dict[str, str]]],
    *,
    channel: Channel,
    reserve_stock: bool = True,
    also: Callable[[list[CreatedOrder]], list[tuple[Table, list[dict[str, Any]]]]] | None = None,
) -> list[list[CreatedOrder]]:
    """``create_orders`` for many buyers at once: ``carts`` is [(buyer_id, lines, address)],
    the result their orders in the same order. The same few statements for 1 or 200
    buyers (a live flash sale's batch): the orders, their lines and their events are one
    Core multi-row INSERT each, and the orders come back as ``CreatedOrder`` (read the
    full order through ``orders.service`` if needed). No purchase limits, and the channel
    is taken as given ("video" is not accepted here). ``also``: rows of the caller's own to
    write with the lines and events (one statement on PostgreSQL), made from the new orders.
    Does NOT commit (joins the caller's transaction; on an error, which concerns the whole
    batch, the caller must roll back)."""
    if channel.type not in CHANNELS or channel.type == "video":
        raise InvalidInput(_("Unknown sales channel."), code="bad_channel")
    if not carts:
        return []
    parsed: list[_Cart] = []
    for buyer_id, lines, address in carts:
        prices: dict[int, int | None] = {}
        for line in lines:
            if line.unit_price_fen is not None and line.unit_price_fen < 0:
                raise InvalidInput(_("A price cannot be negative."), code="bad_price")
            prices[line.sku_id] = line.unit_price_fen
        wanted = merge_lines([(line.sku_id, line.quantity) for line in lines])
        parsed.append(_Cart(buyer_id, wanted, prices, address))
    offers = available_skus(db, sorted({sku_id for cart in parsed for sku_id in cart.wanted}))
    rows, line_rows, owners, now = _order_rows(
        db, parsed, offers=offers, channel=channel, note="", reserve_stock=reserve_stock
    )
    # One statement whatever the batch size (``bulk``); matched back by order number.
    new_ids = {
        order_no: order_id
        for order_id, order_no in bulk.insert_rows(db, _ORDERS, rows, returning=("id", "order_no"))
    }
    ids = [new_ids[row["order_no"]] for row in rows]
    created = [
        CreatedOrder(
            id=order_id,
            order_no=row["order_no"],
            buyer_id=row["buyer_id"],
            shop_id=row["shop_id"],
            total_fen=row["total_fen"],
        )
        for order_id, row in zip(ids, rows, strict=True)
    ]
    _insert_lines_and_events(
        db,
        ids,
        [row["buyer_id"] for row in rows],
        line_rows,
        now,
        also=also(created) if also is not None else [],
    )
    _announce_created(db, ids, now)
    out: list[list[CreatedOrder]] = [[] for _cart in parsed]
    for index, order in zip(owners, created, strict=True):
        out[index].append(order)
    return out


def _announce_created(
    db: Session,
    order_ids: list[int],
    at: datetime,
    touch: str = "",
    orders: list[Order] | None = None,
) -> None:
    """``created`` for these new orders; with ``orders`` (loaded with their lines), the
    change carries their lines, so its listeners read none."""
    lines = None
    if orders is not None:
        lines = tuple(
            lifecycle.PaidLine(
                order.id,
                order.order_no,
                order.shop_id,
                order.paid_fen,
                order.paid_at,
                line.product_id,
                line.amount_fen,
                order.buyer_id,
                order.subsidy_fen,
                order.held,
                order.channel,
            )
            for order in sorted(orders, key=lambda o: o.id)
            for line in sorted(order.lines, key=lambda line: line.id)
        )
    lifecycle.announce(
        db,
        lifecycle.Change(
            "created", tuple(order_ids), at, action="created", touch=touch, lines=lines
        ),
    )


def _order_rows(
    db: Session,
    carts: list[_Cart],
    *,
    offers: dict[int, PurchaseInfo],
    channel: Channel,
    note: str,
    reserve_stock: bool,
    checked_numbers: bool = True,
    charge_shipping: bool = False,
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], list[int], datetime]:
    """Split each cart by shop and reserve all stock in one move; the rows of the orders
    (with the index of their cart) and of their lines, still to be inserted. Order numbers
    are checked against the table first unless ``checked_numbers`` is False (the caller's
    INSERT then finds a number already taken: ``_insert_orders``). With
    ``charge_shipping`` each order's shipping fee is quoted (``_charge_shipping``, one call
    for all the orders). Joins the caller's transaction."""
    groups: list[tuple[int, _Cart, int, list[int]]] = []  # (cart index, cart, shop, skus)
    for index, cart in enumerate(carts):
        by_shop: dict[int, list[int]] = defaultdict(list)
        for sku_id in cart.wanted:
            by_shop[offers[sku_id].sku.shop_id].append(sku_id)
        groups.extend((index, cart, shop_id, skus) for shop_id, skus in sorted(by_shop.items()))
    numbers = _new_order_numbers(db, len(groups)) if checked_numbers else order_numbers(len(groups))
    now = clock.now()
    deadline = now + timedelta(minutes=settings_module.current().order_payment_timeout_minutes)

    orders: list[dict[str, Any]] = []
    owners: list[int] = []
    line_rows: list[list[dict[str, Any]]] = []
    moves: list[inventory.Move] = []
    for order_no, (index, cart, shop_id, sku_ids) in zip(numbers, groups, strict=True):
        rows: list[dict[str, Any]] = []
        items = 0
        discount = 0
        subsidy = 0
        for sku_id in sku_ids:
            info = offers[sku_id].sku
            price = cart.prices[sku_id]
            unit = offers[sku_id].price_fen if price is None else price
            quantity = cart.wanted[sku_id]
            off = cart.discounts.get(sku_id, 0)
            funded = cart.subsidies.get(sku_id, 0)
            rows.append(
                {
                    "product_id": info.product_id,
                    "sku_id": sku_id,
                    "title": info.title,
                    "spec_text": info.spec_text,
                    "thumb_path": info.cover_path,
                    "unit_price_fen": unit,
                    "quantity": quantity,
                    "amount_fen": unit * quantity - off,
                    "discount_fen": off,
                    "subsidy_fen": funded,
                }
            )
            moves.append(inventory.Move(sku_id, quantity, order_no))
            items += unit * quantity - off
            discount += off
            subsidy += funded
        line_rows.append(rows)
        owners.append(index)
        orders.append(
            {
                "order_no": order_no,
                "buyer_id": cart.buyer_id,
                "shop_id": shop_id,
                "status": OrderStatus.PENDING_PAYMENT,
                "items_fen": items,
                "shipping_fen": 0,
                "total_fen": items,
                "paid_fen": 0,
                "discount_fen": discount,
                "subsidy_fen": subsidy,
                "refunded_fen": 0,
                "aftersale_open": False,
                "held": False,
                "address": dict(cart.address),
                "note": note,
                "channel": channel.type,
                "channel_ref_id": channel.ref_id,
                "promoter_id": channel.promoter_id,
                "pay_deadline": deadline,
                "created_at": now,
            }
        )

    if charge_shipping:
        _charge_shipping(db, groups, orders, offers)
    # reserve_stock=False: the caller already holds these units reserved (a live flash
    # sale's reservation "flash:<id>"); paying sells them and cancelling releases them.
    short = inventory.reserve_many(db, moves) if reserve_stock else []
    if short:
        raise _out_of_stock(offers[short[0]].sku)
    return orders, line_rows, owners, now


def _charge_shipping(
    db: Session,
    groups: list[tuple[int, _Cart, int, list[int]]],
    orders: list[dict[str, Any]],
    offers: dict[int, PurchaseInfo],
) -> None:
    """Set each order row's shipping fee and total; a refusal (undeliverable) raises."""
    parcels = shipping.parcels_of(
        [
            (
                cart.address,
                shop_id,
                {sku_id: cart.wanted[sku_id] for sku_id in sku_ids},
                {sku_id: _amount(cart, offers, sku_id) for sku_id in sku_ids},
            )
            for _index, cart, shop_id, sku_ids in groups
        ],
        offers,
    )
    for row, fee in zip(orders, shipping.quote(db, parcels), strict=True):
        if fee.refusal is not None:
            raise fee.refusal
        row["shipping_fen"] = fee.fen
        row["total_fen"] = row["items_fen"] + fee.fen


def _amount(cart: _Cart, offers: dict[int, PurchaseInfo], sku_id: int) -> int:
    price = cart.prices[sku_id]
    unit = offers[sku_id].price_fen if price is None else price
    return unit * cart.wanted[sku_id] - cart.discounts.get(sku_id, 0)


def _out_of_stock(info: SkuInfo) -> Conflict:
    return Conflict(
        _("Not enough stock for %(item)s."),
        code="out_of_stock",
        item=info.label,
        sku_id=info.sku_id,
    )


def _insert_lines_and_events(
    db: Session,
    order_ids: list[int],
    buyer_ids: list[int],
    line_rows: list[list[dict[str, Any]]],
    now: datetime,
    *,
    also: list[tuple[Table, list[dict[str, Any]]]] | None = None,
) -> None:
    """Lines and "created" events of new orders (and the caller's ``also`` rows), in one
    statement on PostgreSQL (``bulk.insert_together``)."""
    lines = [
        {"order_id": order_id, **row}
        for order_id, rows in zip(order_ids, line_rows, strict=True)
        for row in rows
    ]
    bulk.insert_together(
        db, [(_LINES, lines), (_EVENTS, _created_events(order_ids, buyer_ids, now)), *(also or [])]
    )


def _created_events(
    order_ids: list[int], buyer_ids: list[int], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "actor_id": buyer_id,
            "actor_kind": "buyer",
            "action": "created",
            "from_status": None,
            "to_status": str(OrderStatus.PENDING_PAYMENT),
            "note": None,
            "at": now,
        }
        for order_id, buyer_id in zip(order_ids, buyer_ids, strict=True)
    ]


def _write_orders(
    db: Session,
    carts: list[_Cart],
    *,
    offers: dict[int, PurchaseInfo],
    channel: Channel,
    note: str,
    reserve_stock: bool,
    charge_shipping: bool = False,
) -> list[list[Order]]:
    """Split each cart by shop, reserve all stock in one move, write orders, lines and
    events in one statement each (whatever the number of lines and shops); the orders as
    ORM objects with their lines, every column loaded, so that nothing read after the
    commit goes back to the database (on SQLite a lazy load after the commit was a second
    write transaction per checkout). Joins the caller's transaction."""
    rows, line_rows, owners, now = _order_rows(
        db,
        carts,
        offers=offers,
        channel=channel,
        note=note,
        reserve_stock=reserve_stock,
        checked_numbers=False,
        charge_shipping=charge_shipping,
    )
    ids = _insert_orders(db, rows)
    lines = [
        {"order_id": order_id, **line}
        for order_id, group in zip(ids, line_rows, strict=True)
        for line in group
    ]
    line_ids = {
        (order_id, sku_id): line_id
        for line_id, order_id, sku_id in db.execute(_INSERT_LINES, lines)
    }
    bulk.insert_rows(db, _EVENTS, _created_events(ids, [r["buyer_id"] for r in rows], now))
    orders = []
    for order_id, row, group in zip(ids, rows, line_rows, strict=True):
        order = loaded(Order, {**_ORDER_DEFAULTS, **row, "id": order_id})
        order_lines = [
            loaded(
                OrderLine, {**line, "order_id": order_id, "id": line_ids[order_id, line["sku_id"]]}
            )
            for line in group
        ]
        db.add_all([order, *order_lines])
        set_committed_value(order, "lines", order_lines)
        orders.append(order)
    _announce_created(db, ids, now, channel.touch, orders)
    out: list[list[Order]] = [[] for _cart in carts]
    for index, order in zip(owners, orders, strict=True):
        out[index].append(order)
    return out


# Columns of a new order that ``_order_rows`` leaves to their defaults.
_ORDER_DEFAULTS: dict[str, Any] = {
    "payment_ref": None,
    "carrier": None,
    "tracking_no": None,
    "paid_at": None,
    "shipped_at": None,
    "delivered_at": None,
    "completed_at": None,
    "cancelled_at": None,
    "closed_at": None,
}


def _insert_orders(db: Session, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT the orders in one statement, their ids in ``rows``' order. An order number
    already taken (10 random digits a day, so almost never) is drawn again for those
    orders, by the same statement (``ON CONFLICT (order_no) DO NOTHING``)."""
    ids: dict[str, int] = {}
    todo = rows
    while todo:
        stmt = _insert_orders_stmt(db.get_bind().dialect.name)
        ids.update({no: order_id for order_id, no in db.execute(stmt, todo)})
        todo = [row for row in todo if row["order_no"] not in ids]
        for row, number in zip(todo, order_numbers(len(todo)), strict=True):
            row["order_no"] = number
    return [ids[row["order_no"]] for row in rows]


@functools.cache
def _insert_orders_stmt(dialect: str) -> Any:
    """Built once per dialect and executed with the rows as parameters (one multi-row
    statement, "insertmanyvalues"): a statement built with ``.values(rows)`` has no cache
    key, and SQLAlchemy compiled it anew at every checkout."""
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert_(_ORDERS)
        .on_conflict_do_nothing(index_elements=["order_no"])
        .returning(_ORDERS.c.id, _ORDERS.c.order_no)
    )


def _dialect_insert(db: Session) -> Any:
    return postgresql.insert if bulk.is_postgresql(db) else sqlite.insert


# --------------------------------------------------------------------------- public


def checkout(
    db: Session,
    actor: Actor,
    *,
    lines: list[tuple[int, int]],
    address_id: int,
    note: str = "",
    channel: Channel | None = None,
    idempotency_key: str | None = None,
    from_cart: bool = True,
    coupons: list[int] | None = None,
) -> CheckoutResult:
    """Place the buyer's orders (one per shop) at today's prices; commits.

    The same ``idempotency_key`` from the same buyer returns the same orders; the key with a
    different body is a Conflict. Checked-out SKUs leave the cart when ``from_cart``.
    """
    buyer_id = actor.require_user()
    channel = channel or Channel()
    if channel.type not in CHANNELS:  # a server's channel is not the buyer's to claim
        raise InvalidInput(_("Unknown sales channel."), code="bad_channel")
    note = " ".join((note or "").split())
    if len(note) > 200:
        raise InvalidInput(_("The note can be at most 200 characters."), code="bad_note")
    key = idempotency.check_key(idempotency_key)
    wanted = merge_lines(lines)
    chosen = adjust.check_chosen(coupons)
    digest = idempotency.body_hash(
        wanted, address_id, note, (channel.type, channel.ref_id), from_cart, chosen
    )
    # One checkout per buyer at a time (PostgreSQL; SQLite writers queue anyway): a repeat
    # of an Idempotency-Key then finds the first request's orders instead of racing it,
    # and purchase limits count the orders of a checkout that committed a moment ago.
    lock_buyer(db, buyer_id)
    if key:
        seen = idempotency.orders_of(db, buyer_id, key, digest)
        if seen is not None:
            db.commit()  # end the read; commit keeps what was loaded (a rollback would not)
            return CheckoutResult(orders=seen, replayed=True)
    try:
        address = get_address(db, actor, address_id)
        orders = create_orders(
            db,
            buyer_id=buyer_id,
            lines=[PricedLine(sku_id, qty) for sku_id, qty in wanted.items()],
            address=address.snapshot(),
            channel=channel,
            note=note,
            verify_live=True,
            coupons=chosen,
        )
        if key:
            # Last, with the orders' ids: a concurrent request with the same key that
            # committed first makes this INSERT fail (unique), and its orders are given back.
            idempotency.record(db, buyer_id, key, digest, [o.id for o in orders])
        if from_cart:
            db.execute(
                delete(CartItem).where(
                    CartItem.buyer_id == buyer_id, CartItem.sku_id.in_(list(wanted))
                )
            )
        db.commit()
    except IntegrityError:
        # The same key committed by a concurrent request: give back its orders.
        db.rollback()
        if key:
            seen = idempotency.orders_of(db, buyer_id, key, digest)
            if seen is not None:
                return CheckoutResult(orders=seen, replayed=True)
        raise
    except Exception:
        db.rollback()
        raise
    return CheckoutResult(orders=orders)

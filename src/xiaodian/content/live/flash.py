"""Flash sales (秒杀) in a live room: thousands of buyers, a few units, never oversold.

How the units move:

- ``start_sale`` moves the sale's ``quantity`` from the SKU's on-hand stock into ONE stock
  reservation (``inventory.reserve``, ref ``flash:<id>``). From then on the hot row is the
  sale, not the SKU.
- Each purchase is a conditional UPDATE of the sale row (``remaining >= q``, running, not
  past its end), a conditional upsert of the buyer's row (``bought + q <= limit``), an order
  at the live price through ``orders.checkout.create_orders(..., reserve_stock=False)`` (its
  units are already reserved) and a ``flash_sale_orders`` row. With Redis configured an
  atomic Lua script gates first (remaining and per-buyer hash), so turned-away buyers never
  reach the database; the database stays the record and keeps its own conditions.
- Paying sells the reserved units (orders). A cancelled or timed-out order releases its
  units to the SKU (orders); ``return_cancelled_units`` then gives them back to the sale,
  exactly once per order (conditional update of its ``flash_sale_orders`` row).
- ``stop_sale`` (or the end of the room, or ``expire_sales``) releases what is left.

Invariant (a CHECK on the row): ``quantity == sold + remaining``.

In the web process purchases go through ``FlashEngine`` (``flash_engine``; the Redis gate is
``flash_gate``): requests are answered from memory when the sale is sold out, ended or the
buyer is at the limit, and the rest are queued to writer threads that commit them in batches
(group commit): ONE on SQLite, so 64 concurrent buyers never spin on its busy lock;
``WRITERS`` on PostgreSQL, each on a connection of its own, where a batch is ONE statement
(``onestatement``: every statement is a network round trip there, and the client work around
each one was most of a batch's time) that writes the orders BEFORE taking the units from the
sale row (``optimistic``), so the hot row is locked from the end of that statement to the
commit only and the writers' batches overlap. An optimistic batch that finds too few units
rolls back and runs again in the locked order, one statement per table. Updates of
"remaining" are coalesced to at most 4 events per second per sale, 2 when a crowd watches
the room in this process (each event goes to every viewer), between all the processes when
Redis is configured, plus one the moment it sells out; the last state is always published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import bulk, clock, realtime
from xiaodian.actor import Actor
from xiaodian.catalog import inventory, sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.content.live import flash_gate
from xiaodian.content.live.flash_gate import redis_gate
from xiaodian.content.live.models import (
    FlashOrderState,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    LiveRoom,
    LiveRoomEvent,
    LiveRoomProduct,
    RoomStatus,
    SaleStatus,
)
from xiaodian.content.live.service import channel, host_room
from xiaodian.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    _,
)
from xiaodian.money import format_fen

if TYPE_CHECKING:
    from xiaodian.orders.checkout import CreatedOrder

log = logging.getLogger(__name__)

_FLASH_ORDERS = cast(Table, FlashSaleOrder.__table__)
_FLASH_BUYERS = cast(Table, FlashSaleBuyer.__table__)

MAX_LIMIT = 99
MIN_DURATION = 10
MAX_DURATION = 6 * 3600
MAX_QUANTITY = 999
RETURN_BATCH = 1000


def _rowcount(result: Any) -> int:
    """Rows matched by an UPDATE (a conditional one decides by it)."""
    return int(getattr(result, "rowcount", 0) or 0)


def ref(sale_id: int) -> str:
    return f"flash:{sale_id}"


# --------------------------------------------------------------------------- errors


def _sold_out() -> Conflict:
    return Conflict(_("Sold out."), code="sold_out")


def _limit_reached(limit: int) -> Conflict:
    return Conflict(
        _("You can buy at most %(n)s of this flash sale."), code="limit_reached", n=limit
    )


def _no_address() -> InvalidInput:
    return InvalidInput(_("Add a shipping address first."), code="address_required")


def _not_running() -> IllegalTransition:
    return IllegalTransition(_("This flash sale is not running."), code="sale_not_running")


def _room_not_live() -> IllegalTransition:
    return IllegalTransition(_("The room is not live."), code="room_not_live")


def _unknown() -> NotFound:
    return NotFound(_("Flash sale not found."), code="sale_not_found")


def check_quantity(quantity: Any) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidInput(_("The quantity must be a whole number."), code="bad_quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(
            _("The quantity must be between 1 and %(max)s."), code="bad_quantity", max=MAX_QUANTITY
        )
    return quantity


# --------------------------------------------------------------------------- views


def sale_view(sale: FlashSale) -> dict[str, Any]:
    """What viewers see of a sale (the ``sale`` event and the snapshot)."""
    return {
        "id": sale.id,
        "room_id": sale.room_id,
        "product_id": sale.product_id,
        "sku_id": sale.sku_id,
        "title": sale.title,
        "price_fen": sale.price_fen,
        "regular_price_fen": sale.regular_price_fen,
        "quantity": sale.quantity,
        "remaining": sale.remaining,
        "sold": sale.sold,
        "per_buyer_limit": sale.per_buyer_limit,
        "status": str(sale.status),
        "duration_seconds": sale.duration_seconds,
        "ends_at": sale.ends_at.isoformat() if sale.ends_at else None,
        "sold_out": sale.status == SaleStatus.RUNNING and sale.remaining <= 0,
    }


def room_sales(db: Session, room_id: int) -> list[FlashSale]:
    """A room's sales, oldest first."""
    return list(
        db.scalars(select(FlashSale).where(FlashSale.room_id == room_id).order_by(FlashSale.id))
    )


def host_sale(db: Session, actor: Actor, room_id: int, sale_id: int) -> tuple[LiveRoom, FlashSale]:
    room = host_room(db, actor, room_id)
    sale = db.get(FlashSale, sale_id) if sale_id > 0 else None
    if sale is None or sale.room_id != room.id:
        raise _unknown()
    return room, sale


def _event(db: Session, room_id: int, actor_id: int | None, kind: str, note: str) -> None:
    db.add(LiveRoomEvent(room_id=room_id, actor_id=actor_id, kind=kind, note=note, at=clock.now()))


def _publish_sale(db: Session, sale: FlashSale, **extra: Any) -> None:
    realtime.publish(
        channel(sale.room_id), {"type": "sale", "sale": sale_view(sale), **extra}, db=db
    )


# --------------------------------------------------------------------------- host


@dataclass
class SaleInput:
    product_id: int
    sku_id: int
    price_fen: int
    quantity: int
    per_buyer_limit: int = 1
    duration_seconds: int = 300


def _whole(value: Any, code: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(_("Enter a whole number."), code=code)
    return value


def open_sale(db: Session, actor: Actor, room_id: int, data: SaleInput) -> FlashSale:
    """The host opens a flash sale (draft) on one SKU of a product in the room's list.

    The live price must be below the SKU's price, the quantity at most its on-hand stock,
    the per-buyer limit between 1 and the quantity. Stock moves when the sale starts."""
    room = host_room(db, actor, room_id)
    if room.status == RoomStatus.ENDED:
        raise IllegalTransition(_("The live has ended."), code="room_ended")
    listed = db.scalar(
        select(LiveRoomProduct.id).where(
            LiveRoomProduct.room_id == room.id, LiveRoomProduct.product_id == data.product_id
        )
    )
    if listed is None:
        raise NotFound(_("This product is not in the room's list."), code="product_not_listed")
    product = catalog_service.get_product(db, data.product_id)
    sku = next((s for s in product.skus if s.id == data.sku_id and s.is_active), None)
    if sku is None:
        raise NotFound(_("SKU not found."), code="sku_not_found")
    offer = sellability.offer(db, sku.id)  # what the policy sells it at, how many on hand
    if offer is None:
        raise NotFound(_("SKU not found."), code="sku_not_found")
    if offer.unavailable is not None:  # taken off the shelf, or the shop closed, since listed
        raise offer.unavailable.error()
    price = _whole(data.price_fen, "bad_price")
    quantity = _whole(data.quantity, "bad_quantity")
    limit = _whole(data.per_buyer_limit, "bad_limit")
    duration = _whole(data.duration_seconds, "bad_duration")
    if not 0 < price < offer.price_fen:
        raise InvalidInput(
            _("The live price must be above 0 and below the regular price %(price)s."),
            code="bad_price",
            price=format_fen(offer.price_fen),
        )
    if quantity < 1:
        raise InvalidInput(_("The quantity must be at least 1."), code="bad_quantity")
    if quantity > offer.num_available:
        raise InvalidInput(
            _("Only %(n)s in stock: lower the quantity."), code="over_stock", n=offer.num_available
        )
    if not 1 <= limit <= min(quantity, MAX_LIMIT):
        raise InvalidInput(
            _("The per-buyer limit must be between 1 and the quantity."), code="bad_limit"
        )
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InvalidInput(
            _("The duration must be between 10 seconds and 6 hours."), code="bad_duration"
        )
    title = product.title if not sku.spec_key else f"{product.title} {sku.spec_key}"
    sale = FlashSale(
        room_id=room.id,
        product_id=product.id,
        sku_id=sku.id,
        title=title[:120],
        price_fen=price,
        regular_price_fen=offer.price_fen,
        quantity=quantity,
        sold=0,
        remaining=quantity,
        per_buyer_limit=limit,
        duration_seconds=duration,
        status=SaleStatus.DRAFT,
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    db.add(sale)
    db.flush()
    _event(db, room.id, actor.user_id, "sale_opened", f"sale {sale.id}")
    _publish_sale(db, sale)
    db.commit()
    return sale


def start_sale(db: Session, actor: Actor, room_id: int, sale_id: int) -> FlashSale:
    """Start a draft sale while the room is live: reserve its units from the SKU in one
    move and open it for ``duration_seconds``. Conflict if the stock is no longer there."""
    room, sale = host_sale(db, actor, room_id, sale_id)
    if room.status != RoomStatus.LIVE:
        raise _room_not_live()
    now = clock.now()
    moved = _rowcount(
        db.execute(
            update(FlashSale)
            .where(FlashSale.id == sale.id, FlashSale.status == SaleStatus.DRAFT)
            .values(
                status=SaleStatus.RUNNING,
                started_at=now,
                ends_at=now + timedelta(seconds=sale.duration_seconds),
            )
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        raise IllegalTransition(_("This flash sale has already started."), code="already_started")
    if not inventory.reserve(db, sku_id=sale.sku_id, quantity=sale.quantity, ref=ref(sale.id)):
        db.rollback()
        raise Conflict(_("Not enough stock left for this flash sale."), code="out_of_stock")
    db.refresh(sale)
    _event(db, room.id, actor.user_id, "sale_started", f"sale {sale.id}")
    _publish_sale(db, sale)
    gate = redis_gate()
    if gate is not None:
        gate.open(sale.id, sale.remaining)
    db.commit()
    return sale


def stop_sale_in_tx(
    db: Session, sale: FlashSale, *, actor_id: int | None, reason: str = "stopped"
) -> bool:
    """Stop a sale and release its unsold units to the SKU. Joins the caller's
    transaction. False if it was already stopped (nothing moves twice)."""
    now = clock.now()
    row = db.execute(
        update(FlashSale)
        .where(FlashSale.id == sale.id, FlashSale.status == SaleStatus.RUNNING)
        .values(status=SaleStatus.STOPPED, stopped_at=now)
        .returning(FlashSale.remaining)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        if row[0] > 0:
            inventory.release(db, sku_id=sale.sku_id, quantity=row[0], ref=ref(sale.id))
    else:
        # A draft never reserved anything: nothing was offered.
        moved = _rowcount(
            db.execute(
                update(FlashSale)
                .where(FlashSale.id == sale.id, FlashSale.status == SaleStatus.DRAFT)
                .values(status=SaleStatus.STOPPED, stopped_at=now, quantity=0, remaining=0)
                .execution_options(synchronize_session=False)
            )
        )
        if not moved:
            return False
    db.refresh(sale)
    _event(db, sale.room_id, actor_id, "sale_stopped", f"sale {sale.id}: {reason}")
    _publish_sale(db, sale)
    gate = redis_gate()
    if gate is not None:
        gate.close(sale.id)
    return True


def stop_sale(db: Session, actor: Actor, room_id: int, sale_id: int) -> FlashSale:
    """The host stops a sale; unsold units go back on hand. 409 if already stopped."""
    _room, sale = host_sale(db, actor, room_id, sale_id)
    if not stop_sale_in_tx(db, sale, actor_id=actor.user_id):
        raise IllegalTransition(_("This flash sale has already stopped."), code="already_stopped")
    db.commit()
    return sale


def expire_sales(db: Session) -> int:
    """Stop running sales past their end time (a periodic job). Idempotent; commits."""
    now = clock.now()
    sales = list(
        db.scalars(
            select(FlashSale).where(
                FlashSale.status == SaleStatus.RUNNING, FlashSale.ends_at <= now
            )
        )
    )
    stopped = sum(1 for sale in sales if stop_sale_in_tx(db, sale, actor_id=None, reason="time"))
    db.commit()
    return stopped


# --------------------------------------------------------------------------- buying


@dataclass(frozen=True)
class SaleInfo:
    """The parts of a sale that never change once it is opened (safe to cache)."""

    id: int
    room_id: int
    product_id: int
    sku_id: int
    price_fen: int
    per_buyer_limit: int


@dataclass
class Purchased:
    sale_id: int
    room_id: int
    order_no: str
    quantity: int
    amount_fen: int
    remaining: int

    @property
    def pay_url(self) -> str:
        return f"/pay?orders={self.order_no}"


def _upsert_insert(db: Session) -> Any:
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


def _take_limit(db: Session, info: SaleInfo, buyer_id: int, quantity: int) -> bool:
    """Count ``quantity`` more units against the buyer's limit, atomically; False if over."""
    stmt = _upsert_insert(db)(FlashSaleBuyer).values(
        sale_id=info.id, buyer_id=buyer_id, bought=quantity
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["sale_id", "buyer_id"],
        set_={"bought": FlashSaleBuyer.bought + quantity},
        where=FlashSaleBuyer.bought + quantity <= info.per_buyer_limit,
    )
    if quantity > info.per_buyer_limit:
        return False
    # RETURNING decides (a row only when inserted or when the WHERE let the update through).
    return db.execute(stmt.returning(FlashSaleBuyer.bought)).first() is not None


def _address(db: Session, buyer: Actor, address_id: int | None) -> dict[str, str]:
    from xiaodian.orders import addresses

    if address_id is not None:
        if not isinstance(address_id, int) or isinstance(address_id, bool) or address_id <= 0:
            raise NotFound(_("Address not found."), code="address_not_found")
        return addresses.get_address(db, buyer, address_id).snapshot()
    found = addresses.default_address(db, buyer)
    if found is None:
        raise InvalidInput(_("Add a shipping address first."), code="address_required")
    return found.snapshot()


def _diagnose(db: Session, sale_id: int, quantity: int) -> DomainError:
    row = db.execute(
        select(FlashSale.status, FlashSale.remaining, FlashSale.ends_at).where(
            FlashSale.id == sale_id
        )
    ).first()
    if row is None:
        return _unknown()
    status, remaining, ends_at = row
    if status != SaleStatus.RUNNING or (ends_at is not None and ends_at <= clock.now()):
        return _not_running()
    if remaining < quantity:
        return (
            _sold_out()
            if remaining <= 0
            else Conflict(_("Only %(n)s left."), code="sold_out", n=remaining)
        )
    return _not_running()


def purchase_in_tx(
    db: Session,
    info: SaleInfo,
    buyer: Actor,
    quantity: int,
    *,
    address_id: int | None = None,
) -> Purchased:
    """One purchase, inside the caller's transaction (joins it; roll back on an error).

    Raises Conflict (sold out, limit reached), IllegalTransition (not running),
    InvalidInput (no address), NotFound."""
    from xiaodian.orders.checkout import Channel, PricedLine, create_orders

    buyer_id = buyer.require_user()
    address = _address(db, buyer, address_id)
    if not _take_limit(db, info, buyer_id, quantity):
        raise _limit_reached(info.per_buyer_limit)
    now = clock.now()
    row = db.execute(
        update(FlashSale)
        .where(
            FlashSale.id == info.id,
            FlashSale.status == SaleStatus.RUNNING,
            FlashSale.ends_at > now,
            FlashSale.remaining >= quantity,
        )
        .values(remaining=FlashSale.remaining - quantity, sold=FlashSale.sold + quantity)
        .returning(FlashSale.remaining)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise _diagnose(db, info.id, quantity)
    orders = create_orders(
        db,
        buyer_id=buyer_id,
        lines=[PricedLine(info.sku_id, quantity, info.price_fen)],
        address=address,
        channel=Channel(type="live", ref_id=info.room_id),
        enforce_limits=False,
        reserve_stock=False,
    )
    order = orders[0]
    db.execute(
        insert(FlashSaleOrder).values(
            sale_id=info.id,
            room_id=info.room_id,
            order_id=order.id,
            order_no=order.order_no,
            buyer_id=buyer_id,
            quantity=quantity,
            amount_fen=order.total_fen,
            state=FlashOrderState.LIVE,
            created_at=now,
        )
    )
    return Purchased(
        sale_id=info.id,
        room_id=info.room_id,
        order_no=order.order_no,
        quantity=quantity,
        amount_fen=order.total_fen,
        remaining=int(row[0]),
    )


class SaleMoved(Exception):
    """An optimistic batch found fewer units than it wrote orders for: roll back, retry."""


def _write_purchases(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    indexes: list[int],
    found: dict[int, Any],
    now: datetime,
) -> list[CreatedOrder]:
    """The orders (one batch per table) and ``flash_sale_orders`` rows of ``indexes``."""
    from xiaodian.orders.checkout import Channel, PricedLine, create_orders_for_buyers

    channel_ = Channel(type="live", ref_id=info.room_id)
    carts = [
        (
            int(buyers[i][0].user_id or 0),
            [PricedLine(info.sku_id, buyers[i][1], info.price_fen)],
            found[int(buyers[i][0].user_id or 0)].snapshot(),
        )
        for i in indexes
    ]
    quantities = {int(buyers[i][0].user_id or 0): buyers[i][1] for i in indexes}

    def flash_rows(created: list[CreatedOrder]) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [
            (
                _FLASH_ORDERS,
                [
                    {
                        "sale_id": info.id,
                        "room_id": info.room_id,
                        "order_id": order.id,
                        "order_no": order.order_no,
                        "buyer_id": order.buyer_id,
                        "quantity": quantities[order.buyer_id],
                        "amount_fen": order.total_fen,
                        "state": FlashOrderState.LIVE,
                        "created_at": now,
                    }
                    for order in created
                ],
            )
        ]

    # The flash-sale rows go with the orders' lines and events (one statement on PostgreSQL).
    orders = [
        o[0]
        for o in create_orders_for_buyers(
            db, carts, channel=channel_, reserve_stock=False, also=flash_rows
        )
    ]
    return orders


def purchase_batch_in_tx(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    *,
    optimistic: bool = False,
) -> list[Purchased | DomainError]:
    """Many purchases of one sale, each at the buyer's default address, inside the caller's
    transaction (joins it): the same few statements for 1 or 200 buyers. ``buyers`` are
    (actor, quantity) of DISTINCT buyers. Returns, per buyer, the purchase or the refusal
    (sold out, limit reached, not running, no address). Any exception means: roll back.

    One statement per table and step, whatever the number of buyers (on PostgreSQL each
    statement is a network round trip): the default addresses in one read, the per-buyer
    limits in one conditional upsert, the units in ONE conditional UPDATE of the sale row
    (``remaining >= total``, running, not past its end) and the orders, their lines and
    the ``flash_sale_orders`` rows in one batch each. The sale row is locked only from that
    UPDATE to the commit. When the UPDATE does not match (selling out in this batch, or the
    sale stopped) the row is read under its lock (FOR UPDATE on PostgreSQL; SQLite's write
    transaction is IMMEDIATE) and the units that fit are handed out in order; the buyers
    counted against their limit without units get the count back.

    ``optimistic``: write the orders BEFORE taking the units, so the sale row is locked
    only for its UPDATE and the commit (several writers overlap); raises ``SaleMoved``
    when the units are not all there (the caller rolls back and calls again without).
    On PostgreSQL that is the whole batch in ONE statement (``onestatement``)."""
    from xiaodian.orders import addresses

    count = len(buyers)
    if len({actor.user_id for actor, _q in buyers}) != count:
        raise ValueError("purchase_batch_in_tx needs distinct buyers")
    if optimistic and bulk.is_postgresql(db):  # the whole batch in one statement
        from xiaodian.content.live import onestatement

        return onestatement.purchase(
            db,
            info,
            buyers,
            [
                _limit_reached(info.per_buyer_limit) if q > info.per_buyer_limit else None
                for _a, q in buyers
            ],
            limit_reached=lambda: _limit_reached(info.per_buyer_limit),
            no_address=_no_address,
        )
    results: list[Purchased | DomainError | None] = [None] * count
    now = clock.now()
    found = addresses.default_addresses(db, [actor.require_user() for actor, _q in buyers])
    candidates: list[int] = []
    for index, (actor, quantity) in enumerate(buyers):
        if quantity > info.per_buyer_limit:
            results[index] = _limit_reached(info.per_buyer_limit)
        elif actor.user_id not in found:
            results[index] = _no_address()
        else:
            candidates.append(index)
    counted: list[int] = []
    if candidates:
        limit_rows = [  # in buyer order: concurrent batches lock rows in one order
            {"sale_id": info.id, "buyer_id": buyers[i][0].user_id, "bought": buyers[i][1]}
            for i in sorted(candidates, key=lambda i: int(buyers[i][0].user_id or 0))
        ]
        table = _FLASH_BUYERS
        upsert: Any
        if bulk.is_postgresql(db):  # one statement text whatever the batch size (``bulk``)
            names = ("sale_id", "buyer_id", "bought")
            source = bulk.rows_source(db, table, names)
            upsert = postgresql.insert(table).from_select(names, source)
            params: dict[str, Any] = bulk.rows_param(table, names, limit_rows)
        else:
            upsert = sqlite.insert(table).values(limit_rows)
            params = {}
        upsert = upsert.on_conflict_do_update(
            index_elements=["sale_id", "buyer_id"],
            set_={"bought": table.c.bought + upsert.excluded.bought},
            where=table.c.bought + upsert.excluded.bought <= info.per_buyer_limit,
        )
        ids = set(db.scalars(upsert.returning(table.c.buyer_id), params))
        for index in candidates:
            if buyers[index][0].user_id in ids:
                counted.append(index)
            else:
                results[index] = _limit_reached(info.per_buyer_limit)
    taken: list[int] = []
    after = 0
    total = sum(buyers[i][1] for i in counted)
    take = (
        update(FlashSale)
        .where(
            FlashSale.id == info.id,
            FlashSale.status == SaleStatus.RUNNING,
            FlashSale.ends_at > now,
            FlashSale.remaining >= total,
        )
        .values(remaining=FlashSale.remaining - total, sold=FlashSale.sold + total)
        .returning(FlashSale.remaining)
        .execution_options(synchronize_session=False)
    )
    orders: list[CreatedOrder] = []
    moved = None
    if counted and optimistic:
        # Write first, take the units last: the sale row stays locked for one statement
        # and the commit only, so other writers' batches overlap with this one.
        orders = _write_purchases(db, info, buyers, counted, found, now)
        moved = db.execute(take).first()
        if moved is None:
            raise SaleMoved(info.id)
    elif counted:
        moved = db.execute(take).first()
    if moved is not None:  # the common case: everyone counted gets their units
        taken, after = counted, int(moved[0])
    else:
        read = select(FlashSale.status, FlashSale.remaining, FlashSale.ends_at).where(
            FlashSale.id == info.id
        )
        if db.get_bind().dialect.name == "postgresql":
            read = read.with_for_update()
        row = db.execute(read).first()
        running = (
            row is not None and row[0] == SaleStatus.RUNNING and row[2] is not None and row[2] > now
        )
        left = int(row[1]) if row is not None and running else 0
        back: dict[int, list[int]] = {}  # quantity -> buyers counted without units
        for index in counted:
            actor, quantity = buyers[index]
            if quantity <= left:
                taken.append(index)
                left -= quantity
                continue
            results[index] = (
                _sold_out()
                if left <= 0
                else Conflict(_("Only %(n)s left."), code="sold_out", n=left)
            )
            back.setdefault(quantity, []).append(int(actor.user_id or 0))
        for quantity, buyer_ids in back.items():  # take their counts back
            db.execute(
                update(FlashSaleBuyer)
                .where(FlashSaleBuyer.sale_id == info.id, FlashSaleBuyer.buyer_id.in_(buyer_ids))
                .values(bought=FlashSaleBuyer.bought - quantity)
                .execution_options(synchronize_session=False)
            )
        if row is None:
            return [_unknown() for _b in buyers]
        if not running:
            return [_not_running() for _b in buyers]
        if taken:
            part = sum(buyers[i][1] for i in taken)
            again = db.execute(
                update(FlashSale)
                .where(
                    FlashSale.id == info.id,
                    FlashSale.status == SaleStatus.RUNNING,
                    FlashSale.remaining >= part,
                )
                .values(remaining=FlashSale.remaining - part, sold=FlashSale.sold + part)
                .returning(FlashSale.remaining)
                .execution_options(synchronize_session=False)
            ).first()
            if again is None or int(again[0]) != int(row[1]) - part:
                raise RuntimeError("flash sale row changed under its lock")
            after = int(again[0])
    if taken:
        if not orders:
            orders = _write_purchases(db, info, buyers, taken, found, now)
        left = after + sum(buyers[i][1] for i in taken)
        for i, order in zip(taken, orders, strict=True):
            left -= buyers[i][1]
            results[i] = Purchased(
                sale_id=info.id,
                room_id=info.room_id,
                order_no=order.order_no,
                quantity=buyers[i][1],
                amount_fen=order.total_fen,
                remaining=left,
            )
    out: list[Purchased | DomainError] = []
    for result in results:
        assert result is not None
        out.append(result)
    return out


def load_info(db: Session, sale_id: int) -> tuple[SaleInfo, FlashSale, RoomStatus]:
    sale = db.get(FlashSale, sale_id) if isinstance(sale_id, int) and sale_id > 0 else None
    if sale is None:
        raise _unknown()
    room_status = db.scalar(select(LiveRoom.status).where(LiveRoom.id == sale.room_id))
    info = SaleInfo(
        id=sale.id,
        room_id=sale.room_id,
        product_id=sale.product_id,
        sku_id=sale.sku_id,
        price_fen=sale.price_fen,
        per_buyer_limit=sale.per_buyer_limit,
    )
    return info, sale, RoomStatus(str(room_status))


def _precheck(
    room_id: int, info: SaleInfo, status: str, ends_at: datetime | None, room_status: str
) -> None:
    if info.room_id != room_id:
        raise _unknown()
    if room_status != RoomStatus.LIVE:
        raise _room_not_live()
    if status != SaleStatus.RUNNING or ends_at is None or ends_at <= clock.now():
        raise _not_running()


def buy(
    db: Session,
    actor: Actor,
    *,
    room_id: int,
    sale_id: int,
    quantity: int,
    address_id: int | None = None,
) -> Purchased:
    """A viewer buys from a flash sale: one transaction, commits, publishes the new
    remaining. (The web process batches the same work through ``flash_engine``.)"""
    actor.require_user()
    quantity = check_quantity(quantity)
    info, sale, room_status = load_info(db, sale_id)
    _precheck(room_id, info, sale.status, sale.ends_at, room_status)
    if quantity > info.per_buyer_limit:
        raise _limit_reached(info.per_buyer_limit)
    remaining = sale.remaining
    db.rollback()  # end the read; the write transaction starts below (IMMEDIATE on SQLite)
    gate = redis_gate()
    ticket = ""
    if gate is not None:
        taken = gate.take(info, actor.user_id or 0, quantity)
        # The gate does not know the sale, or says sold out while the database had the
        # units a moment ago: rebuild it if nothing is in flight, and ask again.
        doubtful = taken.left == flash_gate.NOT_OPEN or (
            taken.left == flash_gate.SOLD_OUT and remaining >= quantity
        )
        if doubtful and gate.heal(db, info.id):
            taken = gate.take(info, actor.user_id or 0, quantity)
        if taken.left == flash_gate.SOLD_OUT:
            raise _sold_out()
        if taken.left == flash_gate.LIMIT_REACHED:
            raise _limit_reached(info.per_buyer_limit)
        ticket = taken.ticket
    try:
        result = purchase_in_tx(db, info, actor, quantity, address_id=address_id)
        realtime.publish(
            channel(info.room_id),
            {
                "type": "sale_progress",
                "sale_id": info.id,
                "remaining": result.remaining,
                "buyers": [mask_name(actor.display_name)],
            },
            db=db,
        )
        db.commit()
    except BaseException:
        db.rollback()
        if gate is not None:
            gate.settle([(info.id, ticket, False)])
        raise
    if gate is not None:
        gate.settle([(info.id, ticket, True)])
    return result


def mask_name(name: str) -> str:
    """ "张三丰" -> "张**" for the "just bought" notices."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


# --------------------------------------------------------------------------- returns


def return_cancelled_units(db: Session) -> int:
    """Give the units of cancelled flash orders back to their sale, exactly once each.

    Orders' timeout (or the buyer's cancel) released the units to the SKU's on-hand stock;
    if the sale is still running they are reserved for it again (if the shelf sold them in
    between, the sale offers that much less: ``quantity`` drops with ``sold``); if it has
    stopped they stay on the shelf and count as unsold. Paid orders are marked so they are
    not looked at again. Idempotent (each row moves by a conditional UPDATE); commits.
    """
    from xiaodian.orders import service as orders_service
    from xiaodian.orders.service import OrderStatus

    rows = list(
        db.scalars(
            select(FlashSaleOrder)
            .where(FlashSaleOrder.state == FlashOrderState.LIVE)
            .order_by(FlashSaleOrder.id)
            .limit(RETURN_BATCH)
        )
    )
    if not rows:
        return 0
    orders = orders_service.orders_by_ids(db, order_ids=[r.order_id for r in rows])
    now = clock.now()
    paid_ids = []
    returned = 0
    touched: set[int] = set()
    gate = redis_gate()
    for row in rows:
        order = orders.get(row.order_id)
        if order is None or order.status == OrderStatus.PENDING_PAYMENT:
            continue
        if order.status != OrderStatus.CANCELLED:
            paid_ids.append(row.id)
            continue
        moved = _rowcount(
            db.execute(
                update(FlashSaleOrder)
                .where(FlashSaleOrder.id == row.id, FlashSaleOrder.state == FlashOrderState.LIVE)
                .values(state=FlashOrderState.RETURNED, settled_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if not moved:
            continue
        returned += 1
        q = row.quantity
        db.execute(
            update(FlashSaleBuyer)
            .where(FlashSaleBuyer.sale_id == row.sale_id, FlashSaleBuyer.buyer_id == row.buyer_id)
            .values(bought=FlashSaleBuyer.bought - q)
            .execution_options(synchronize_session=False)
        )
        back_to_sale = db.execute(
            update(FlashSale)
            .where(FlashSale.id == row.sale_id, FlashSale.status == SaleStatus.RUNNING)
            .values(sold=FlashSale.sold - q, remaining=FlashSale.remaining + q)
            .returning(FlashSale.sku_id)
            .execution_options(synchronize_session=False)
        ).first()
        if back_to_sale is not None:
            if inventory.reserve(db, sku_id=back_to_sale[0], quantity=q, ref=ref(row.sale_id)):
                if gate is not None:
                    gate.returned(row.sale_id, row.buyer_id, q)
            else:  # the shelf sold them meanwhile: the sale offers that much less
                db.execute(
                    update(FlashSale)
                    .where(FlashSale.id == row.sale_id)
                    .values(remaining=FlashSale.remaining - q, quantity=FlashSale.quantity - q)
                    .execution_options(synchronize_session=False)
                )
        else:  # stopped: the units are on the shelf already and count as unsold
            db.execute(
                update(FlashSale)
                .where(FlashSale.id == row.sale_id)
                .values(sold=FlashSale.sold - q, remaining=FlashSale.remaining + q)
                .execution_options(synchronize_session=False)
            )
        touched.add(row.sale_id)
    if paid_ids:
        db.execute(
            update(FlashSaleOrder)
            .where(FlashSaleOrder.id.in_(paid_ids), FlashSaleOrder.state == FlashOrderState.LIVE)
            .values(state=FlashOrderState.PAID, settled_at=now)
            .execution_options(synchronize_session=False)
        )
    for sale_id in sorted(touched):
        sale = db.get(FlashSale, sale_id)
        if sale is not None:
            db.refresh(sale)
            _publish_sale(db, sale)
    db.commit()
    return returned

"""Flash sales (秒杀) in a live room: thousands of buyers, a few units, never oversold.

Three modules: this one (the sales: open, start, stop, expire; what viewers see; the types
and refusals the others share), ``flash_purchase`` (buying) and ``flash_returns`` (units of
cancelled orders back to the sale), beside ``flash_engine`` (a process's engine) and
``flash_gate`` (the Redis gate).

How the units move:

- ``start_sale`` moves the sale's ``quantity`` from the SKU's on-hand stock into ONE stock
  reservation (``inventory.reserve``, ref ``flash:<id>``). From then on the hot row is the
  sale, not the SKU.
- Each purchase is a conditional UPDATE of the sale row (``remaining >= q``, running, not
  past its end), a conditional upsert of the buyer's row (``bought + q <= limit``), an order
  at the live price through the orders domain (its units are already reserved) and a
  ``flash_sale_orders`` row (``flash_purchase``). With Redis configured an atomic Lua script
  gates first (remaining and per-buyer hash), so turned-away buyers never reach the
  database; the database stays the record and keeps its own conditions.
- Paying sells the reserved units (orders). A cancelled or timed-out order releases its
  units to the SKU (orders), and in the same transaction the orders lifecycle's
  "cancelled" gives them back to the sale, exactly once per order (``flash_returns``).
- ``stop_sale`` (or the end of the room, or ``expire_sales``) releases what is left.

Invariant (a CHECK on the row): ``quantity == sold + remaining``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian import clock, realtime
from xiaodian.actor import Actor
from xiaodian.catalog import inventory, sellability
from xiaodian.catalog import prices as catalog_prices
from xiaodian.catalog import service as catalog_service
from xiaodian.content.live.flash_gate import redis_gate
from xiaodian.content.live.models import (
    FlashSale,
    LiveRoom,
    LiveRoomEvent,
    LiveRoomProduct,
    RoomStatus,
    SaleStatus,
)
from xiaodian.content.live.service import channel, host_room
from xiaodian.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    _,
)
from xiaodian.money import format_fen

MAX_LIMIT = 99
MIN_DURATION = 10
MAX_DURATION = 6 * 3600
MAX_QUANTITY = 999


def rowcount(result: Any) -> int:
    """Rows matched by an UPDATE (a conditional one decides by it); the flash modules'."""
    return int(getattr(result, "rowcount", 0) or 0)


def ref(sale_id: int) -> str:
    return f"flash:{sale_id}"


# --------------------------------------------------------------------------- errors
# The refusals, the same from the database and from a process's memory (``flash_engine``).


def sold_out() -> Conflict:
    return Conflict(_("Sold out."), code="sold_out")


def limit_reached(limit: int) -> Conflict:
    return Conflict(
        _("You can buy at most %(n)s of this flash sale."), code="limit_reached", n=limit
    )


def no_address() -> InvalidInput:
    return InvalidInput(_("Add a shipping address first."), code="address_required")


def not_running() -> IllegalTransition:
    return IllegalTransition(_("This flash sale is not running."), code="sale_not_running")


def room_not_live() -> IllegalTransition:
    return IllegalTransition(_("The room is not live."), code="room_not_live")


def unknown_sale() -> NotFound:
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
        raise unknown_sale()
    return room, sale


def _event(db: Session, room_id: int, actor_id: int | None, kind: str, note: str) -> None:
    db.add(LiveRoomEvent(room_id=room_id, actor_id=actor_id, kind=kind, note=note, at=clock.now()))


def publish_sale(db: Session, sale: FlashSale, **extra: Any) -> None:
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
    catalog_prices.flag_if_above_lowest(  # a live price above the 30-day lowest
        db,
        shop_id=product.shop_id,
        source="flash",
        ref_id=sale.id,
        label=sale.title,
        prices={sku.id: price},
    )
    _event(db, room.id, actor.user_id, "sale_opened", f"sale {sale.id}")
    publish_sale(db, sale)
    db.commit()
    return sale


def start_sale(db: Session, actor: Actor, room_id: int, sale_id: int) -> FlashSale:
    """Start a draft sale while the room is live: reserve its units from the SKU in one
    move and open it for ``duration_seconds``. Conflict if the stock is no longer there."""
    room, sale = host_sale(db, actor, room_id, sale_id)
    if room.status != RoomStatus.LIVE:
        raise room_not_live()
    now = clock.now()
    moved = rowcount(
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
    publish_sale(db, sale)
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
        moved = rowcount(
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
    publish_sale(db, sale)
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
# What the buying modules share (``flash_purchase``, ``onestatement``, ``flash_engine``).


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


class SaleMoved(Exception):
    """An optimistic batch found fewer units than it wrote orders for: roll back, retry."""


def load_info(db: Session, sale_id: int) -> tuple[SaleInfo, FlashSale, RoomStatus]:
    sale = db.get(FlashSale, sale_id) if isinstance(sale_id, int) and sale_id > 0 else None
    if sale is None:
        raise unknown_sale()
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


def precheck(
    room_id: int, info: SaleInfo, status: str, ends_at: datetime | None, room_status: str
) -> None:
    """Refuse a purchase of a sale not in this room, a room not live, a sale not running."""
    if info.room_id != room_id:
        raise unknown_sale()
    if room_status != RoomStatus.LIVE:
        raise room_not_live()
    if status != SaleStatus.RUNNING or ends_at is None or ends_at <= clock.now():
        raise not_running()


def mask_name(name: str) -> str:
    """ "张三丰" -> "张**" for the "just bought" notices."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)

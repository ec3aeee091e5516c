"""Tables of the live rooms domain: rooms, their product list (小黄车), events, comments,
flash sales with their buyers and orders, the cross-process event outbox and live statistics.

A flash sale holds its units as ONE stock reservation on the SKU (ref ``flash:<id>``) and
counts them itself: ``quantity == sold + remaining`` at all times (a CHECK). Each purchase is
a conditional UPDATE of the sale row (or an atomic Redis gate), never of the SKU row.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum

# The channel of the orders a live room sells (``Order.channel``): its flash sales' orders
# and the pinned products bought from it.
ORDER_CHANNEL = "live"


class RoomStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class SaleStatus(enum.StrEnum):
    DRAFT = "draft"  # opened by the host, stock not yet moved
    RUNNING = "running"  # stock reserved for the sale, buyers may buy until ends_at
    STOPPED = "stopped"  # unsold units went back to the SKU's on-hand stock


class FlashOrderState(enum.StrEnum):
    LIVE = "live"  # the order holds the units (pending payment or paid)
    PAID = "paid"  # seen paid: never comes back
    RETURNED = "returned"  # cancelled order: units went back to the sale (or the shelf)


class LiveRoom(Base):
    __tablename__ = "live_rooms"
    __table_args__ = (
        Index("ix_live_rooms_host_status", "host_id", "status"),
        Index("ix_live_rooms_status_scheduled", "status", "scheduled_at"),
        CheckConstraint("peak_viewers >= 0", name="peak_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Merchant rooms belong to a shop (its staff host); creator rooms have none.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    cover_path: Mapped[str | None] = mapped_column(String(300))
    cover_thumb_path: Mapped[str | None] = mapped_column(String(300))
    scheduled_at: Mapped[datetime]
    stream_url: Mapped[str | None] = mapped_column(String(500))
    replay_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[RoomStatus] = mapped_column(str_enum(RoomStatus), default=RoomStatus.SCHEDULED)
    pinned_product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    peak_viewers: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class LiveRoomProduct(Base):
    """One product in a room's 小黄车, numbered by ``position`` (1..N)."""

    __tablename__ = "live_room_products"
    __table_args__ = (UniqueConstraint("room_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    position: Mapped[int]


class LiveRoomEvent(Base):
    """Every change of a room or its sales: who, when, what (transitions, pins, sales)."""

    __tablename__ = "live_room_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class LiveComment(Base):
    __tablename__ = "live_comments"
    __table_args__ = (Index("ix_live_comments_room_id_id", "room_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class FlashSale(Base):
    __tablename__ = "flash_sales"
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        CheckConstraint("sold >= 0", name="sold_nonnegative"),
        CheckConstraint("remaining >= 0", name="remaining_nonnegative"),
        CheckConstraint("quantity = sold + remaining", name="quantity_balanced"),
        CheckConstraint("per_buyer_limit > 0", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    price_fen: Mapped[int]  # the live price
    regular_price_fen: Mapped[int]  # the SKU's price when the sale was opened
    quantity: Mapped[int]  # units offered (less any lost to the shelf, see returns)
    sold: Mapped[int] = mapped_column(default=0)  # units in live (not cancelled) orders
    remaining: Mapped[int]
    per_buyer_limit: Mapped[int] = mapped_column(default=1)
    duration_seconds: Mapped[int]
    status: Mapped[SaleStatus] = mapped_column(str_enum(SaleStatus), default=SaleStatus.DRAFT)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class FlashSaleBuyer(Base):
    """How many units one buyer holds in one sale: the per-buyer limit under concurrency."""

    __tablename__ = "flash_sale_buyers"
    __table_args__ = (
        UniqueConstraint("sale_id", "buyer_id"),
        CheckConstraint("bought >= 0", name="bought_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    bought: Mapped[int] = mapped_column(default=0)


class FlashSaleOrder(Base):
    """One purchase: the order it created and whether its units came back (exactly once)."""

    __tablename__ = "flash_sale_orders"
    __table_args__ = (
        Index("ix_flash_sale_orders_state_created", "state", "created_at"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(
        ForeignKey("flash_sales.id", ondelete="CASCADE"), index=True
    )
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    order_no: Mapped[str] = mapped_column(String(24))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    quantity: Mapped[int]
    amount_fen: Mapped[int]
    state: Mapped[FlashOrderState] = mapped_column(
        str_enum(FlashOrderState), default=FlashOrderState.LIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    settled_at: Mapped[datetime | None]


class LiveViewer(Base):
    """A distinct viewer of a room ("u:<id>" or "a:<cookie>") and their total watch time."""

    __tablename__ = "live_viewers"
    __table_args__ = (UniqueConstraint("room_id", "viewer_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    viewer_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    watch_seconds: Mapped[int] = mapped_column(default=0)
    first_seen: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen: Mapped[datetime] = mapped_column(default=clock.now)


class LiveProductStat(Base):
    """Clicks on a product card or the 小黄车 sheet during a live (batched counters)."""

    __tablename__ = "live_product_stats"
    __table_args__ = (UniqueConstraint("room_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    clicks: Mapped[int] = mapped_column(default=0)

"""Tables of the orders domain: carts, addresses, orders, their lines and events.

An order belongs to one buyer and one shop. Its status follows the table in
``orders/states.py``; refund progress (``refunded_fen``, ``aftersale_open``) lives beside the
status rather than in it, so a shipped order can be partly refunded and stay shipped.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian import clock
from xiaodian.db import Base, str_enum


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"  # fully refunded before shipping


class CartItem(Base):
    """One SKU in a buyer's cart. Prices are never stored: the cart shows today's price."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("buyer_id", "sku_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]
    selected: Mapped[bool] = mapped_column(default=True)
    added_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Address(Base):
    """A buyer's shipping address. Orders keep a snapshot, so editing one is safe."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(11))
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(20))
    district: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    def snapshot(self) -> dict[str, str]:
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "detail": self.detail,
        }

    @property
    def full_text(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.detail}"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_buyer_created", "buyer_id", "created_at"),
        Index("ix_orders_shop_status_created", "shop_id", "status", "created_at"),
        Index("ix_orders_status_deadline", "status", "pay_deadline"),
        Index("ix_orders_status_shipped", "status", "shipped_at"),
        Index("ix_orders_status_delivered", "status", "delivered_at"),
        CheckConstraint("items_fen >= 0", name="items_nonnegative"),
        CheckConstraint("shipping_fen >= 0", name="shipping_nonnegative"),
        CheckConstraint("total_fen = items_fen + shipping_fen", name="total_sum"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refund_capped"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(24), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus), default=OrderStatus.PENDING_PAYMENT
    )
    items_fen: Mapped[int]
    shipping_fen: Mapped[int] = mapped_column(default=0)  # 0: free shipping
    total_fen: Mapped[int]
    paid_fen: Mapped[int] = mapped_column(default=0)
    # What the checkout's adjusters (coupons) took off the lines, already out of
    # ``items_fen``, and the part of it the platform funds (its subsidy, ``orders/adjust.py``).
    discount_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    subsidy_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(default=0)
    aftersale_open: Mapped[bool] = mapped_column(default=False)
    # held by a campaign (a group buy forming): paid, but not shippable until released
    held: Mapped[bool] = mapped_column(default=False, server_default="0")
    payment_ref: Mapped[str | None] = mapped_column(String(64))
    # The address as it was at checkout: name, phone, province, city, district, detail.
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(200), default="")
    # Attribution: where the buyer came from (filled by the content domain).
    channel: Mapped[str] = mapped_column(String(20), default="shelf")
    channel_ref_id: Mapped[int | None]
    promoter_id: Mapped[int | None]
    carrier: Mapped[str | None] = mapped_column(String(20))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    pay_deadline: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    # The parcel was signed for (签收, reported by the carrier): the confirmation countdown
    # runs from here instead of ``shipped_at``.
    delivered_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.id", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def title(self) -> str:
        """First line's product title, and "等N件" when there is more than one item."""
        if not self.lines:
            return self.order_no
        first = self.lines[0].title
        count = self.item_count
        return f"{first} 等{count}件" if count > 1 else first

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def address_text(self) -> str:
        a = self.address or {}
        parts = ("province", "city", "district", "detail")
        return "".join(str(a.get(k, "")) for k in parts)


class OrderLine(Base):
    """One SKU of an order, with the price and names as they were at checkout.

    ``amount_fen`` is what the buyer pays for the line: unit price x quantity less
    ``discount_fen`` (the adjusters' share of this line), of which ``subsidy_fen`` is the
    platform's. Refunds and commissions work from ``amount_fen``."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_fen >= 0", name="unit_price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    spec_text: Mapped[str] = mapped_column(String(200), default="")
    thumb_path: Mapped[str | None] = mapped_column(String(300))
    unit_price_fen: Mapped[int]
    quantity: Mapped[int]
    amount_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    subsidy_fen: Mapped[int] = mapped_column(default=0, server_default="0")


class OrderEvent(Base):
    """Every change of an order: who (a user, or "system"), when, from, to, note."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # buyer | merchant | system | payment | aftersale | operator
    actor_kind: Mapped[str] = mapped_column(String(20), default="system")
    action: Mapped[str] = mapped_column(String(30))  # created | paid | shipped | refund | ...
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def who(self) -> str:
        return f"user:{self.actor_id}" if self.actor_id is not None else "system"


class CheckoutRequest(Base):
    """An Idempotency-Key seen at checkout: the same key gives back the same orders."""

    __tablename__ = "checkout_requests"
    __table_args__ = (UniqueConstraint("buyer_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    body_hash: Mapped[str] = mapped_column(String(64))
    order_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AppliedRefund(Base):
    """A provider-confirmed refund counted into ``Order.refunded_fen`` (once per ref)."""

    __tablename__ = "order_applied_refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "refund_ref"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    refund_ref: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=clock.now)

"""Tables of the payments domain.

Our side: payments (one per checkout of one or several orders), the orders each payment
covers, refunds, events (who/when/what), the notification log an operator reads, and the
ids of notifications already processed (idempotency).

The sandbox's "WeChat side" (its own trade and refund records and its outbox of
notifications to deliver) lives here too, in tables prefixed ``sandbox_``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, and_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from xiaodian import clock
from xiaodian.db import Base, str_enum


class PaymentStatus(enum.StrEnum):
    OPEN = "open"  # created, waiting for the buyer
    PAID = "paid"
    CLOSED = "closed"  # expired or replaced; a late success still pays it


class PaymentMethod(enum.StrEnum):
    NATIVE = "native"  # QR code (code_url) scanned with WeChat
    JSAPI = "jsapi"  # inside WeChat (official account / mini program)
    SANDBOX = "sandbox"  # the local sandbox cashier


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, not yet submitted to the provider
    PROCESSING = "processing"  # accepted by the provider, money on its way
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class NotificationOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REFUSED = "refused"
    ERROR = "error"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_sharing", "profit_sharing", "paid_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod))
    status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus), default=PaymentStatus.OPEN, index=True
    )
    amount_fen: Mapped[int]
    description: Mapped[str] = mapped_column(String(127))
    # "buyer:order ids" while open, NULL otherwise: one open payment per set of orders
    open_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    prepay: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    payer_total_fen: Mapped[int | None]
    # created with settle_info.profit_sharing: frozen at WeChat Pay until split (分账)
    profit_sharing: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    orders: Mapped[list[PaymentOrder]] = relationship(
        back_populates="payment", order_by="PaymentOrder.id", cascade="all, delete-orphan"
    )


class PaymentOrder(Base):
    """An order a payment covers, with its share of the amount and what paying did to it."""

    __tablename__ = "payment_orders"
    __table_args__ = (UniqueConstraint("payment_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_no: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int]
    # paid | unpayable (cancelled meanwhile or paid by another payment: refunded)
    outcome: Mapped[str | None] = mapped_column(String(20))

    payment: Mapped[Payment] = relationship(back_populates="orders")


ABNORMAL_NOTE = "ABNORMAL"  # how ``Refund.failure`` starts for an ABNORMAL refund


class Refund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (UniqueConstraint("payment_id", "order_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_fen: Mapped[int]
    reason: Mapped[str] = mapped_column(String(80))
    ref: Mapped[str] = mapped_column(String(64))
    # False for money that never counted as the order's (paid after it was cancelled)
    settles_order: Mapped[bool] = mapped_column(default=True)
    status: Mapped[RefundStatus] = mapped_column(
        str_enum(RefundStatus), default=RefundStatus.PENDING, index=True
    )
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    # A failed refund sent again by an operator: the new refund's out_refund_no
    retried_as: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    submitted_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]

    @hybrid_property
    def abnormal(self) -> bool:
        """WeChat Pay answered ABNORMAL: the money left but did not reach the buyer, and
        waits there for the merchant (the refund stays processing, see payments.core)."""
        return (self.failure or "").startswith(ABNORMAL_NOTE)

    @abnormal.inplace.expression
    @classmethod
    def _abnormal_expression(cls) -> ColumnElement[bool]:
        # never NULL (a NULL would sort apart and count as unknown): false without a note
        return and_(cls.failure.is_not(None), cls.failure.startswith(ABNORMAL_NOTE))


class PaymentEvent(Base):
    """Who did what to a payment or refund, and when."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("payment_refunds.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class NotificationLog(Base):
    """Every notification received: verified and processed, or why it was refused."""

    __tablename__ = "payment_notification_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    notification_id: Mapped[str | None] = mapped_column(String(64), index=True)
    event_type: Mapped[str | None] = mapped_column(String(40))
    serial: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[NotificationOutcome] = mapped_column(str_enum(NotificationOutcome))
    reason: Mapped[str | None] = mapped_column(String(200))
    out_trade_no: Mapped[str | None] = mapped_column(String(32), index=True)
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    http_status: Mapped[int]
    body: Mapped[str] = mapped_column(Text, default="")


class ProcessedNotification(Base):
    """The id of each notification whose effect was applied: a second one is a duplicate."""

    __tablename__ = "payment_processed_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    processed_at: Mapped[datetime] = mapped_column(default=clock.now)


# --- the sandbox's "WeChat side" ---------------------------------------------------------


class SandboxTradeState(enum.StrEnum):
    NOTPAY = "NOTPAY"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    REFUND = "REFUND"


class SandboxRefundStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    ABNORMAL = "ABNORMAL"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after WeChat's retry schedule


class SandboxTrade(Base):
    __tablename__ = "sandbox_trades"

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(32), unique=True)
    mchid: Mapped[str] = mapped_column(String(32))
    appid: Mapped[str] = mapped_column(String(32))
    trade_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(127))
    amount_fen: Mapped[int]
    notify_url: Mapped[str] = mapped_column(String(300))
    state: Mapped[SandboxTradeState] = mapped_column(
        str_enum(SandboxTradeState), default=SandboxTradeState.NOTPAY
    )
    payer_openid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    time_expire: Mapped[datetime | None]
    success_time: Mapped[datetime | None]
    profit_sharing: Mapped[bool] = mapped_column(default=False, server_default="0")
    unfrozen_at: Mapped[datetime | None]  # the unsplit rest given back (分账完结)


class SandboxSharingReceiver(Base):
    """A receiver added to the sandbox's profit sharing (``/v3/profitsharing/receivers/add``)."""

    __tablename__ = "sandbox_sharing_receivers"
    __table_args__ = (UniqueConstraint("type", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SandboxSharingOrder(Base):
    """A profit-sharing order at the sandbox (a split, or the unfreeze of the rest): its
    receivers with their results, PROCESSING until the trade's money has settled there."""

    __tablename__ = "sandbox_sharing_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    out_order_no: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(32), index=True)
    unfreeze: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16))
    receivers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    refund_id: Mapped[str] = mapped_column(String(32), unique=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    amount_fen: Mapped[int]
    total_fen: Mapped[int]
    status: Mapped[SandboxRefundStatus] = mapped_column(str_enum(SandboxRefundStatus))
    notify_url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    success_time: Mapped[datetime | None]


class SandboxDelivery(Base):
    """The sandbox's outbox: one notification to POST, retried on WeChat's schedule.

    The body is fixed; each attempt is signed afresh (new timestamp and nonce), as WeChat does.
    """

    __tablename__ = "sandbox_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered_at: Mapped[datetime | None]

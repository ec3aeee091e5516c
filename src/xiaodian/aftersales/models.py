"""Tables of the after-sales domain (售后): one case per request, and its events.

A case covers one order line (``line_id`` and ``quantity``) or the whole order
(``line_id`` NULL). Its status follows the one table in ``aftersales/states.py``.

``open_key`` is ``"line:<id>"`` or ``"order:<id>"`` while the case is open and NULL
otherwise; it is UNIQUE, so two open cases for the same line (or two whole-order cases)
cannot both be written even by two racing requests. NULLs do not collide on SQLite or
PostgreSQL, so closed cases are unlimited by the index (the service caps them at five).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian import clock
from xiaodian.db import Base, str_enum


class CaseKind(enum.StrEnum):
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_REFUND = "return_refund"  # 退货退款
    EXCHANGE = "exchange"  # 换货


class CaseStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    AWAITING_RETURN = "awaiting_return"  # the buyer sent the goods back (tracking entered)
    RETURNED = "returned"  # the merchant confirmed receipt of the returned goods
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    RESHIPPED = "reshipped"  # exchange: the replacement is on its way
    COMPLETED = "completed"  # exchange done
    CLOSED = "closed"  # rejection upheld, or not escalated in time
    CANCELLED = "cancelled"  # withdrawn by the buyer


class CaseReason(enum.StrEnum):
    NO_LONGER_WANTED = "no_longer_wanted"  # 不想要了
    WRONG_ITEM_ORDERED = "wrong_item_ordered"  # 拍错了
    QUALITY = "quality"  # 质量问题
    NOT_AS_DESCRIBED = "not_as_described"  # 与描述不符
    MISSING_ITEMS = "missing_items"  # 少件漏发
    OTHER = "other"  # 其他


class AftersaleCase(Base):
    __tablename__ = "aftersale_cases"
    __table_args__ = (
        Index("ix_aftersale_cases_buyer_created", "buyer_id", "created_at"),
        Index("ix_aftersale_cases_shop_status_created", "shop_id", "status", "created_at"),
        Index("ix_aftersale_cases_status_respond_by", "status", "respond_by"),
        CheckConstraint("requested_fen >= 0", name="requested_nonnegative"),
        CheckConstraint("approved_fen IS NULL OR approved_fen >= 0", name="approved_nonnegative"),
        CheckConstraint("refunded_fen >= 0", name="refunded_nonnegative"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_no: Mapped[str] = mapped_column(String(24))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    # NULL: the whole order.
    line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int | None]
    open_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    kind: Mapped[CaseKind] = mapped_column(str_enum(CaseKind))
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus), default=CaseStatus.REQUESTED)
    reason: Mapped[CaseReason] = mapped_column(str_enum(CaseReason))
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"path": ..., "thumb": ...}], at most three.
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the case is about, as it read when it was opened (line title or order title).
    title: Mapped[str] = mapped_column(String(200))
    spec_text: Mapped[str] = mapped_column(String(200), default="")
    thumb_path: Mapped[str | None] = mapped_column(String(300))
    requested_fen: Mapped[int] = mapped_column(default=0)
    approved_fen: Mapped[int | None]
    refunded_fen: Mapped[int] = mapped_column(default=0)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    return_carrier: Mapped[str | None] = mapped_column(String(20))
    return_tracking_no: Mapped[str | None] = mapped_column(String(40))
    reship_carrier: Mapped[str | None] = mapped_column(String(20))
    reship_tracking_no: Mapped[str | None] = mapped_column(String(40))
    restocked: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The merchant must answer by then, or the case is approved by the system.
    respond_by: Mapped[datetime]
    rejected_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    reshipped_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    events: Mapped[list[AftersaleEvent]] = relationship(
        order_by="AftersaleEvent.id", cascade="all, delete-orphan", lazy="raise"
    )

    @property
    def is_whole_order(self) -> bool:
        return self.line_id is None


class AftersaleEvent(Base):
    """Every change of a case: who (a user, or the system), in which role, when, note."""

    __tablename__ = "aftersale_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("aftersale_cases.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # buyer | merchant | operator | system | payment
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    amount_fen: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(default=clock.now)

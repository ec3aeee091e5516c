"""Tables of logistics: one parcel per shipped order and its tracking events (物流跟踪);
the shops' shipping templates (运费模板, ``logistics/fees.py`` reckons with them).

A parcel is made when its order ships (the carrier and tracking number are the order's).
``state`` is the latest state the tracking service reported (Kuaidi100's codes, kept as
text: "0" 在途 ... "14" 拒签); ``last_event_at`` is the carrier's time of the newest event,
what the "no update for 72 h" rule measures. An event is stored once: ``key`` (a digest of
its time and text) is UNIQUE per parcel, so a replayed or repeated push adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base


class Parcel(Base):
    __tablename__ = "logistics_parcels"
    __table_args__ = (
        Index("ix_logistics_parcels_tracking", "carrier", "tracking_no"),
        Index("ix_logistics_parcels_shop_open", "shop_id", "finished", "last_event_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    carrier: Mapped[str] = mapped_column(String(20))  # the order's carrier code (SF, ZTO...)
    tracking_no: Mapped[str] = mapped_column(String(40))
    state: Mapped[str | None] = mapped_column(String(4))  # None: nothing reported yet
    # Signed for, returned, refused: the journey is over and needs nobody's attention.
    finished: Mapped[bool] = mapped_column(default=False)
    signed_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class TrackingEvent(Base):
    __tablename__ = "logistics_events"
    __table_args__ = (UniqueConstraint("parcel_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("logistics_parcels.id"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]  # the carrier's time (sent as Beijing time)
    context: Mapped[str] = mapped_column(Text)
    area: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="")  # the event's own word: 在途...
    received_at: Mapped[datetime] = mapped_column(default=clock.now)


class ShippingTemplate(Base):
    """A shop's shipping template: by piece or by weight (grams), a default rule (the first
    ``first_units`` cost ``first_fen``, each further ``extra_units`` or part of them
    ``extra_fen``), rules of their own for some provinces (``regions``: a list of
    ``{"provinces": [...], "first_units", "first_fen", "extra_units", "extra_fen"}``), the
    provinces not delivered to (``excluded``) and free shipping from ``free_over_fen`` of
    the shop-order's items. Rules are JSON in the row, so checkout reads every template of
    its shops in one query; they are written only through ``fees.check_terms``. One
    template per shop may be its default (a partial unique index)."""

    __tablename__ = "logistics_shipping_templates"
    __table_args__ = (
        Index(
            "uq_logistics_shipping_templates_default",
            "shop_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
        CheckConstraint("method IN ('piece', 'weight')", name="method_known"),
        CheckConstraint(
            "first_units >= 1 AND extra_units >= 1 AND first_fen >= 0 AND extra_fen >= 0",
            name="rule_sane",
        ),
        CheckConstraint("free_over_fen IS NULL OR free_over_fen >= 1", name="free_over_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(10))  # "piece" | "weight"
    first_units: Mapped[int]
    first_fen: Mapped[int]
    extra_units: Mapped[int]
    extra_fen: Mapped[int]
    regions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    excluded: Mapped[list[str]] = mapped_column(JSON, default=list)
    free_over_fen: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

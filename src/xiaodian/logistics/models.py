"""Tables of logistics (物流跟踪): one parcel per shipped order, and its tracking events.

A parcel is made when its order ships (the carrier and tracking number are the order's).
``state`` is the latest state the tracking service reported (Kuaidi100's codes, kept as
text: "0" 在途 ... "14" 拒签); ``last_event_at`` is the carrier's time of the newest event,
what the "no update for 72 h" rule measures. An event is stored once: ``key`` (a digest of
its time and text) is UNIQUE per parcel, so a replayed or repeated push adds nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
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

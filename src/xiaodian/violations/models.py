"""Tables of the violations domain: a violation recorded against a shop (or one of its
products, videos, live rooms) with its rule, evidence and penalty; the shop's one appeal of
it; and the violation's own log (who did what, when).

The penalty's effect lives with its owner (a product taken down in catalog, a suspended
shop in merchants); the violation keeps what it did and what undoing it needs
(``prior_state``), so an accepted appeal puts things back as they were.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian import clock
from xiaodian.db import Base, str_enum


class ViolationStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the shop: fix it or appeal, until ``due_at``
    FIXED = "fixed"  # the shop says it fixed it; the penalty stands
    EXPIRED = "expired"  # the deadline passed without an answer; the penalty stands
    APPEALED = "appealed"  # an appeal waits for an arbitrator
    UPHELD = "upheld"  # the appeal was rejected; the penalty stands
    REVERSED = "reversed"  # the appeal was accepted; the penalty was undone


class Penalty(enum.StrEnum):
    WARNING = "warning"
    POINTS = "points"  # points off the health score
    REMOVE_PRODUCT = "remove_product"  # the product taken down
    LIVE_LIMIT = "live_limit"  # no live selling for ``days`` days
    SUSPEND = "suspend"  # the shop suspended for ``days`` days, or until lifted


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Violation(Base):
    __tablename__ = "violations"
    __table_args__ = (
        CheckConstraint("points >= 0 AND points <= 100", name="points_range"),
        UniqueConstraint("rule_key", name="uq_violations_rule_key"),
        Index("ix_violations_shop", "shop_id", "id"),
        Index("ix_violations_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    target_kind: Mapped[str] = mapped_column(String(20))  # shop | product | video | live_room
    target_id: Mapped[int | None]
    rule: Mapped[str] = mapped_column(String(40))
    # what a rule run found, so the next run does not record it twice (operators: NULL)
    rule_key: Mapped[str | None] = mapped_column(String(120))
    evidence_text: Mapped[str] = mapped_column(Text, default="")
    # [{"path", "thumb"}]
    evidence_photos: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    penalty: Mapped[Penalty] = mapped_column(str_enum(Penalty))
    points: Mapped[int] = mapped_column(default=0)
    days: Mapped[int | None]  # live limit / suspension length; NULL suspension: until lifted
    status: Mapped[ViolationStatus] = mapped_column(str_enum(ViolationStatus))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # NULL: a rule
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime]  # to fix or appeal
    closed_at: Mapped[datetime | None]  # left OPEN / APPEALED
    penalty_until: Mapped[datetime | None]  # a live limit's or suspension's end
    penalty_lifted_at: Mapped[datetime | None]  # ended early (reversed, lifted) or expired
    # what undoing the penalty needs: {"product_status": ...} | {"shop_was_active": ...}
    prior_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    appeal: Mapped[Appeal | None] = relationship(back_populates="violation", lazy="selectin")
    events: Mapped[list[ViolationEvent]] = relationship(
        order_by="ViolationEvent.id", lazy="selectin", back_populates="violation"
    )


class Appeal(Base):
    """The shop's one appeal of a violation (UNIQUE ``violation_id``)."""

    __tablename__ = "violation_appeals"
    __table_args__ = (UniqueConstraint("violation_id", name="uq_violation_appeals_violation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    status: Mapped[AppealStatus] = mapped_column(str_enum(AppealStatus))
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")

    violation: Mapped[Violation] = relationship(back_populates="appeal")


class ViolationEvent(Base):
    """Who did what to a violation, when: recorded, fixed, appealed, accepted, rejected,
    expired, lifted."""

    __tablename__ = "violation_events"
    __table_args__ = (Index("ix_violation_events_violation", "violation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # NULL: the platform
    action: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")

    violation: Mapped[Violation] = relationship(back_populates="events")

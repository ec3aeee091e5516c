"""The health domain's table: each shop's latest score, its parts and what lowered them.

The daily job writes one row per shop (replacing yesterday's), so a threshold is one
lookup: ``score`` and ``business_day`` beside the explanation the merchant page shows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base


class ShopHealth(Base):
    __tablename__ = "shop_health"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        Index("ix_shop_health_score", "score"),
    )

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    score: Mapped[int]
    business_day: Mapped[date]  # the day (Asia/Shanghai) it was computed for
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    # [{"part", "measure", "weight", "points", "inputs": {...}, "note"}]: ``health.score``.
    measures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # [{"measure", "kind": "order" | "case", "ref", "why"}], at most ``MAX_LOWERED`` a measure.
    lowered_by: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(default=clock.now)

"""Tables of the follows domain: who follows which shop or creator, since when, and until
when (an unfollow ends the row, so the number of followers on any past day is known)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        # one current follow per (follower, kind, target); ended ones stay as history
        Index(
            "uq_follows_current",
            "user_id",
            "kind",
            "target_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_follows_target", "kind", "target_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # shop | creator
    target_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[datetime | None]

"""Tables of the cases domain: one row per case of any queue (a shop application, a
product to review, a withdrawal, an appeal...), its deadline, its owner and its log, and
the operators' roles.

A case names its subject by a key the owning domain chose (``application:12``), never by a
foreign key: the cases domain sits under every domain that opens cases and knows none of
them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("queue", "key", name="uq_cases_queue_key"),
        # the queues, oldest deadline first; the merchant's "due today"; who holds what
        Index(
            "ix_cases_open_queue_due",
            "queue",
            "due_at",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_cases_open_shop_due",
            "shop_id",
            "due_at",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_cases_open_owner",
            "owner_id",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(80))  # the subject, as its domain names it
    shop_id: Mapped[int | None]  # the shop it concerns (the merchant's side sees it)
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(300))  # where the case is acted on
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime]
    paused_at: Mapped[datetime | None]  # waiting on someone else (its rule allows it)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))


class CaseLog(Base):
    """Who did what to a case, when: opened, claimed, released, handed over, paused,
    extended, closed."""

    __tablename__ = "case_log"
    __table_args__ = (Index("ix_case_log_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(300), default="")


class OperatorRole(Base):
    """An operator's roles (reviewer, arbitrator, finance, admin); an operator with none is
    an admin (the platform's first operators, before anyone gave out roles)."""

    __tablename__ = "operator_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=clock.now)

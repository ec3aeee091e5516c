from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class EntityType(enum.StrEnum):
    INDIVIDUAL = "individual"
    INDIVIDUAL_BUSINESS = "individual_business"
    ENTERPRISE = "enterprise"


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    FINANCE = "finance"  # staff who also see the shop's money (the owner grants it)


# Partial unique indexes: at most one open application per applicant, and an open
# application's shop name is reserved (both SQLite and PostgreSQL support them).
_OPEN = text("status = 'submitted'")


class MerchantApplication(Base):
    """商家入驻: an application to open a shop, worked by operators."""

    __tablename__ = "merchant_applications"
    __table_args__ = (
        Index(
            "uq_merchant_applications_open_applicant_id",
            "applicant_id",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index(
            "uq_merchant_applications_open_shop_name",
            "shop_name",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(
        str_enum(ApplicationStatus), default=ApplicationStatus.SUBMITTED, index=True
    )
    entity_type: Mapped[EntityType] = mapped_column(str_enum(EntityType))
    legal_name: Mapped[str] = mapped_column(String(100))
    license_no: Mapped[str] = mapped_column(String(18))
    contact_name: Mapped[str] = mapped_column(String(40))
    contact_phone: Mapped[str] = mapped_column(String(20))
    main_category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    shop_name: Mapped[str] = mapped_column(String(40))
    logo_path: Mapped[str | None] = mapped_column(String(300))
    license_image_path: Mapped[str | None] = mapped_column(String(300))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApplicationEvent(Base):
    """Who did what to an application, and when."""

    __tablename__ = "merchant_application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("merchant_applications.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))  # submitted | resubmitted | approved | rejected
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    logo_path: Mapped[str | None] = mapped_column(String(300))
    main_category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    entity_type: Mapped[EntityType] = mapped_column(str_enum(EntityType))
    legal_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ShopMember(Base):
    __tablename__ = "shop_members"
    __table_args__ = (UniqueConstraint("shop_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole))
    added_at: Mapped[datetime] = mapped_column(default=clock.now)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from xiaodian.merchants.applications import ApplicationData, ApplicationDetail
from xiaodian.merchants.models import ApplicationEvent, MerchantApplication, Shop
from xiaodian.merchants.service import MemberView
from xiaodian.web.types import Id


def media_url(path: str) -> str:
    """Where the app serves a stored media file (see ``app.py``)."""
    return f"/media/{path}"


def licence_url(application: MerchantApplication) -> str:
    """Where its applicant and operators see an application's licence image (not /media)."""
    return f"/api/v1/merchant/applications/{application.id}/licence"


class ApplicationIn(BaseModel):
    """A merchant application (JSON, or the text fields of a multipart form)."""

    entity_type: Literal["individual", "individual_business", "enterprise"]
    legal_name: str = Field(max_length=200, description="as on the business licence")
    license_no: str = Field(max_length=40, description="统一社会信用代码, 18 characters")
    contact_name: str = Field(max_length=80)
    contact_phone: str = Field(max_length=30, description="mainland mobile number")
    # An id read from its text too: the same model takes a multipart form's fields.
    main_category_id: Id = Field(description="a leaf category id")
    shop_name: str = Field(max_length=80, description="2-40 characters, unique")

    def to_data(self) -> ApplicationData:
        return ApplicationData(**self.model_dump())


class RejectIn(BaseModel):
    reason: str = Field(max_length=2000)


class ShopUpdateIn(BaseModel):
    description: str | None = Field(default=None, max_length=2000)


class StaffIn(BaseModel):
    login: str = Field(max_length=254, description="phone or email of an existing account")


class EventOut(BaseModel):
    action: str
    actor_id: int
    actor_name: str
    note: str | None
    at: datetime

    @classmethod
    def of(cls, event: ApplicationEvent, name: str) -> EventOut:
        return cls(
            action=event.action,
            actor_id=event.actor_id,
            actor_name=name,
            note=event.note,
            at=event.at,
        )


class ApplicationOut(BaseModel):
    id: int
    applicant_id: int
    status: str
    entity_type: str
    legal_name: str
    license_no: str
    contact_name: str
    contact_phone: str
    main_category_id: int
    shop_name: str
    logo_url: str | None
    license_image_url: str | None
    reject_reason: str | None
    shop_id: int | None
    submitted_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, a: MerchantApplication) -> ApplicationOut:
        return cls(
            id=a.id,
            applicant_id=a.applicant_id,
            status=str(a.status),
            entity_type=str(a.entity_type),
            legal_name=a.legal_name,
            license_no=a.license_no,
            contact_name=a.contact_name,
            contact_phone=a.contact_phone,
            main_category_id=a.main_category_id,
            shop_name=a.shop_name,
            logo_url=media_url(a.logo_path) if a.logo_path else None,
            license_image_url=licence_url(a) if a.license_image_path else None,
            reject_reason=a.reject_reason,
            shop_id=a.shop_id,
            submitted_at=a.submitted_at,
            decided_at=a.decided_at,
        )


class ApplicationDetailOut(ApplicationOut):
    events: list[EventOut]

    @classmethod
    def of_detail(cls, d: ApplicationDetail) -> ApplicationDetailOut:
        base = ApplicationOut.of(d.application).model_dump()
        names = {uid: u.display_name for uid, u in d.people.items()}
        events = [EventOut.of(e, names.get(e.actor_id, "")) for e in d.events]
        return cls(**base, events=events)


class ShopOut(BaseModel):
    id: int
    name: str
    description: str
    logo_url: str | None
    main_category_id: int
    entity_type: str
    is_active: bool
    created_at: datetime
    role: str | None = Field(default=None, description="your role in the shop, if any")

    @classmethod
    def of(cls, shop: Shop, role: str | None = None) -> ShopOut:
        return cls(
            id=shop.id,
            name=shop.name,
            description=shop.description,
            logo_url=media_url(shop.logo_path) if shop.logo_path else None,
            main_category_id=shop.main_category_id,
            entity_type=str(shop.entity_type),
            is_active=shop.is_active,
            created_at=shop.created_at,
            role=role,
        )


class MemberOut(BaseModel):
    user_id: int
    display_name: str
    login: str = Field(description="masked phone or email")
    role: str
    added_at: datetime

    @classmethod
    def of(cls, m: MemberView) -> MemberOut:
        return cls(
            user_id=m.user_id,
            display_name=m.display_name,
            login=m.login,
            role=str(m.role),
            added_at=m.added_at,
        )

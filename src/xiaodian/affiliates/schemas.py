"""Pydantic models at the edge of the affiliates' JSON API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from xiaodian.web.types import BodyId, Count


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("a time out of range") from None
    return value


class PlanCreate(BaseModel):
    product_id: BodyId
    kind: Literal["open", "targeted", "exclusive"]
    rate_pct: Count
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    promoter_id: BodyId | None = None

    _times = field_validator("starts_at", "ends_at")(_utc)


class PlanUpdate(BaseModel):
    rate_pct: Count
    ends_at: AwareDatetime | None = None
    is_active: bool = True

    _times = field_validator("ends_at")(_utc)


class InviteIn(BaseModel):
    promoter_id: BodyId
    rate_pct: Count


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    promoter_id: int
    rate_pct: int


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int
    product_id: int
    kind: str
    rate_pct: int
    promoter_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    is_active: bool
    invites: list[InviteOut] = []


class RuleIn(BaseModel):
    product_days: Count = Field(ge=1, le=90)
    product_order_days: Count = Field(ge=1, le=90)
    content_days: Count = Field(ge=1, le=90)
    content_order_days: Count = Field(ge=1, le=90)
    allow_self_purchase: bool = False


class RuleOut(RuleIn):
    model_config = ConfigDict(from_attributes=True)

    shop_id: int
    version: int


class LinkIn(BaseModel):
    kind: Literal["product", "shop", "content"] = "product"
    product_id: BodyId | None = None
    shop_id: BodyId | None = None


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    kind: str
    shop_id: int
    product_id: int
    url: str


class TouchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    order_id: int
    product_id: int
    amount_fen: int
    promoter_id: int | None
    link_id: int | None
    plan_id: int | None
    rate_pct: int
    reason: str
    extends_until: datetime | None
    rule: dict[str, Any]
    chain: list[Any]


class SampleIn(BaseModel):
    """A creator's request for a sample (寄样): the product, one of their addresses, an
    optional SKU (the product's first by default) and a note."""

    model_config = ConfigDict(extra="forbid")

    product_id: BodyId
    address_id: BodyId
    sku_id: BodyId | None = None
    note: str = Field(default="", max_length=200)


class SampleDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)


class SampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int
    shop_name: str
    product_id: int
    product_title: str
    creator_id: int
    creator_name: str
    note: str
    status: str  # requested | approved | declined
    stage: str  # the furthest: requested, declined, approved, shipped, received, first_sale
    reason: str
    order_id: int | None
    created_at: datetime
    decided_at: datetime | None
    shipped_at: datetime | None
    received_at: datetime | None
    first_sale_at: datetime | None


class ShopSamplesOut(BaseModel):
    counts: dict[str, int]  # per stage reached
    samples: list[SampleOut]

"""The campaigns' JSON API: a shop's coupon templates (its staff), the platform's
(operators), claiming (buyers) and the buyer's coupons."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import status
from pydantic import BaseModel, ConfigDict, Field

from xiaodian.campaigns import claims, discounts, groups, service, templates
from xiaodian.campaigns.service import CouponTemplate
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import BodyId, Count, Fen, Id

router = routing.router(tags=["campaigns"], responses=error_responses(401, 403, 404, 409, 422))


class TemplateIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    kind: Literal["threshold", "percent", "no_threshold"]
    level: Literal["product", "shop", "platform"]
    starts_at: datetime
    ends_at: datetime
    quantity: Count = Field(ge=1)
    off_fen: Fen = 0
    rate_percent: Count = Field(default=100, le=100)
    cap_fen: Fen = 0
    min_spend_fen: Fen = 0
    scope: Literal["all", "categories", "products"] = "all"
    scope_ids: list[BodyId] = Field(default_factory=list, max_length=100)
    per_buyer_limit: Count = Field(default=1, ge=1)
    budget_fen: Fen | None = None
    valid_days: Count | None = None
    audience: Literal["everyone", "new_buyers", "followers", "live_room"] = "everyone"
    room_id: BodyId | None = None

    def to_input(self) -> templates.TemplateInput:
        return templates.TemplateInput(**self.model_dump())


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int | None
    name: str
    kind: str
    level: str
    off_fen: int
    rate_percent: int
    cap_fen: int
    min_spend_fen: int
    scope: str
    scope_ids: list[int]
    quantity: int
    issued: int
    per_buyer_limit: int
    budget_fen: int | None
    committed_fen: int
    starts_at: datetime
    ends_at: datetime
    valid_days: int | None
    status: str
    audience: str
    room_id: int | None


class CouponOut(BaseModel):
    id: int
    template_id: int
    status: str
    claimed_at: datetime
    valid_from: datetime
    expires_at: datetime
    template: TemplateOut


def _out(template: CouponTemplate) -> TemplateOut:
    return TemplateOut.model_validate(template)


def _coupon(coupon: service.Coupon, template: CouponTemplate) -> CouponOut:
    return CouponOut(
        id=coupon.id,
        template_id=coupon.template_id,
        status=coupon.status,
        claimed_at=coupon.claimed_at,
        valid_from=coupon.valid_from,
        expires_at=coupon.expires_at,
        template=_out(template),
    )


@router.get("/merchant/shops/{shop_id}/coupons")
def shop_templates(shop_id: Id, db: DbDep, actor: SignedIn) -> list[TemplateOut]:
    """The shop's coupon templates, newest first (its staff)."""
    return [_out(t) for t in service.shop_templates(db, actor, shop_id)]


@router.post("/merchant/shops/{shop_id}/coupons", status_code=status.HTTP_201_CREATED)
def create_shop_template(shop_id: Id, body: TemplateIn, db: DbDep, actor: SignedIn) -> TemplateOut:
    """A coupon of the shop, product or shop level, within WeChat's floors."""
    return _out(templates.create_shop_template(db, actor, shop_id, body.to_input()))


@router.post("/coupons/{template_id}/stop")
def stop_template(template_id: Id, db: DbDep, actor: SignedIn) -> TemplateOut:
    """No more claims (the shop's staff, or operators for a platform coupon)."""
    return _out(templates.stop_template(db, actor, template_id))


@router.get("/ops/coupons", tags=["ops"])
def platform_templates(db: DbDep, actor: SignedIn) -> list[TemplateOut]:
    """The platform's coupon templates (operators)."""
    return [_out(t) for t in service.platform_templates(db, actor)]


@router.post("/ops/coupons", tags=["ops"], status_code=status.HTTP_201_CREATED)
def create_platform_template(body: TemplateIn, db: DbDep, actor: SignedIn) -> TemplateOut:
    """A platform coupon, funded by the platform (operators)."""
    return _out(templates.create_platform_template(db, actor, body.to_input()))


@router.get("/shops/{shop_id}/coupons")
def claimable(shop_id: Id, db: DbDep) -> list[TemplateOut]:
    """The shop's coupons anyone may claim now."""
    return [_out(t) for t in service.claimable(db, shop_id=shop_id)]


@router.get("/live/rooms/{room_id}/coupons")
def room_coupons(room_id: Id, db: DbDep) -> list[TemplateOut]:
    """The coupons claimable in this live room while it is on air."""
    return [_out(t) for t in service.room_coupons(db, room_id=room_id)]


@router.get("/platform/coupons")
def claimable_platform(db: DbDep) -> list[TemplateOut]:
    """The platform's coupons anyone may claim now."""
    return [_out(t) for t in service.claimable(db, shop_id=None)]


@router.post("/coupons/{template_id}/claim", status_code=status.HTTP_201_CREATED)
def claim(template_id: Id, db: DbDep, actor: SignedIn) -> CouponOut:
    """Claim one coupon of the template (atomic: never more than the quantity, never above
    the limit per buyer)."""
    return _coupon(*claims.claim(db, actor, template_id))


@router.get("/me/coupons")
def my_coupons(db: DbDep, actor: SignedIn, usable: bool = False) -> list[CouponOut]:
    """The buyer's coupons, newest first (``usable``: unused and not expired)."""
    return [_coupon(c, t) for c, t in service.my_coupons(db, actor, usable_only=usable)]


# --------------------------------------------------------------------------- discounts


class DiscountItemIn(BaseModel):
    sku_id: BodyId
    rate_percent: Count | None = Field(default=None, le=100)
    price_fen: Fen | None = None


class DiscountIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    starts_at: datetime
    ends_at: datetime
    items: list[DiscountItemIn] = Field(min_length=1, max_length=discounts.MAX_ITEMS)


class DiscountItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sku_id: int
    rate_percent: int | None
    price_fen: int | None


class DiscountOut(BaseModel):
    id: int
    shop_id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    status: str
    state: str  # scheduled | on | ended | cancelled
    items: list[DiscountItemOut]


def _discount(row: discounts.DiscountRow) -> DiscountOut:
    d = row.discount
    return DiscountOut(
        id=d.id,
        shop_id=d.shop_id,
        name=d.name,
        starts_at=d.starts_at,
        ends_at=d.ends_at,
        status=d.status,
        state=row.state,
        items=[DiscountItemOut.model_validate(i) for i in row.items],
    )


@router.get("/merchant/shops/{shop_id}/discounts")
def shop_discounts(shop_id: Id, db: DbDep, actor: SignedIn) -> list[DiscountOut]:
    """The shop's limited-time discounts, newest first (its staff)."""
    return [_discount(r) for r in discounts.shop_discounts(db, actor, shop_id)]


@router.post("/merchant/shops/{shop_id}/discounts", status_code=status.HTTP_201_CREATED)
def create_discount(shop_id: Id, body: DiscountIn, db: DbDep, actor: SignedIn) -> DiscountOut:
    """A limited-time discount (限时折扣) of the shop's SKUs: a percentage paid (20-99) or a
    set price, between two times; one discount per SKU at a time."""
    data = discounts.DiscountInput(
        name=body.name,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        items=[discounts.ItemInput(**i.model_dump()) for i in body.items],
    )
    found = discounts.create_discount(db, actor, shop_id, data)
    return _discount(discounts.discount_row(db, actor, found.id))


@router.post("/discounts/{discount_id}/cancel")
def cancel_discount(discount_id: Id, db: DbDep, actor: SignedIn) -> DiscountOut:
    """End the discount now (the shop's staff)."""
    discounts.cancel_discount(db, actor, discount_id)
    return _discount(discounts.discount_row(db, actor, discount_id))


# --------------------------------------------------------------------------- group buying


class GroupOfferIn(BaseModel):
    sku_id: BodyId
    price_fen: Fen
    size: Count = Field(ge=2, le=10)
    hours: Count = Field(default=24, ge=1, le=72)
    per_buyer_limit: Count = Field(default=1, ge=1, le=99)


class GroupOfferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int
    product_id: int
    sku_id: int
    price_fen: int
    size: int
    hours: int
    per_buyer_limit: int
    status: str


class GroupOut(BaseModel):
    id: int
    offer_id: int
    size: int
    paid: int
    status: str
    expires_at: datetime


class JoinIn(BaseModel):
    quantity: Count = Field(default=1, ge=1, le=99)
    address_id: BodyId | None = None


class JoinedOut(BaseModel):
    group_id: int
    order_no: str
    pay_url: str


def _group(group: Any) -> GroupOut:
    return GroupOut(
        id=group.id,
        offer_id=group.offer_id,
        size=group.size,
        paid=group.paid,
        status=group.status,
        expires_at=group.expires_at,
    )


@router.post("/merchant/shops/{shop_id}/group-offers", status_code=status.HTTP_201_CREATED)
def create_group_offer(
    shop_id: Id, body: GroupOfferIn, db: DbDep, actor: SignedIn
) -> GroupOfferOut:
    """A group price (拼团) for one of the shop's SKUs."""
    offer = groups.create_offer(db, actor, shop_id, groups.OfferInput(**body.model_dump()))
    return GroupOfferOut.model_validate(offer)


@router.get("/products/{product_id}/groups")
def product_groups(product_id: Id, db: DbDep) -> list[GroupOfferOut]:
    """A product's active group buys (the product page shows them)."""
    return [GroupOfferOut.model_validate(o) for o, _g in groups.offers_for_product(db, product_id)]


@router.get("/groups/{group_id}")
def get_group(group_id: Id, db: DbDep) -> GroupOut:
    """A group: its size, how many have paid, its status and end."""
    return _group(groups.group_view(db, group_id).group)


@router.post("/group-offers/{offer_id}/open", status_code=status.HTTP_201_CREATED)
def open_group(offer_id: Id, body: JoinIn, db: DbDep, actor: SignedIn) -> JoinedOut:
    """Open a group: the first order at the group price (pay it to open the group)."""
    done = groups.open_group(
        db, actor, offer_id, quantity=body.quantity, address_id=body.address_id
    )
    return JoinedOut(group_id=done.group_id, order_no=done.order_no, pay_url=done.pay_url)


@router.post("/groups/{group_id}/join", status_code=status.HTTP_201_CREATED)
def join_group(group_id: Id, body: JoinIn, db: DbDep, actor: SignedIn) -> JoinedOut:
    """Join an open group: an order at the group price (paying it takes a place)."""
    done = groups.join_group(
        db, actor, group_id, quantity=body.quantity, address_id=body.address_id
    )
    return JoinedOut(group_id=done.group_id, order_no=done.order_no, pay_url=done.pay_url)

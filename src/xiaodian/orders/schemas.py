"""Pydantic models at the edge of the orders API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from xiaodian.orders.cart import PROBLEMS, CartView
from xiaodian.orders.models import Address, Order, OrderEvent
from xiaodian.web.types import BodyId, Count

# Strict, as every count and id of a JSON body: true is not 1, nor "2" 2.
Quantity = Annotated[Count, Field(ge=1, le=999)]


# --------------------------------------------------------------------------- cart


class CartAddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_id: BodyId
    quantity: Quantity = 1


class CartPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: Quantity | None = None
    selected: bool | None = None


class CartLineOut(BaseModel):
    item_id: int
    sku_id: int
    product_id: int
    title: str
    spec: str
    thumb: str | None
    price_fen: int
    quantity: int
    amount_fen: int
    selected: bool
    problem: str | None


class CartGroupOut(BaseModel):
    shop_id: int
    shop_name: str
    lines: list[CartLineOut]


class CartOut(BaseModel):
    groups: list[CartGroupOut]
    selected_fen: int

    @classmethod
    def of(cls, cart: CartView) -> CartOut:
        return cls(
            groups=[
                CartGroupOut(
                    shop_id=g.shop_id,
                    shop_name=g.shop_name,
                    lines=[
                        CartLineOut(
                            item_id=ln.item.id,
                            sku_id=ln.info.sku_id,
                            product_id=ln.info.product_id,
                            title=ln.info.title,
                            spec=ln.info.spec_text,
                            thumb=ln.info.cover_path,
                            price_fen=ln.price_fen,
                            quantity=ln.item.quantity,
                            amount_fen=ln.amount_fen,
                            selected=ln.item.selected,
                            problem=ln.problem if ln.problem in PROBLEMS else None,
                        )
                        for ln in g.lines
                    ],
                )
                for g in cart.groups
            ],
            selected_fen=cart.selected_fen,
        )


class CartItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    sku_id: int
    quantity: int
    selected: bool


# --------------------------------------------------------------------------- addresses


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=40)]
    phone: Annotated[str, Field(max_length=20)]
    province: Annotated[str, Field(max_length=40)]
    city: Annotated[str, Field(max_length=40)]
    district: Annotated[str, Field(max_length=40)]
    detail: Annotated[str, Field(max_length=240)]
    is_default: bool = False


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool

    @classmethod
    def of(cls, address: Address) -> AddressOut:
        return cls.model_validate(address)


# --------------------------------------------------------------------------- checkout


class LineIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client's price_fen is ignored
    sku_id: BodyId
    quantity: Quantity


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["shelf", "video", "live", "share"] = "shelf"
    id: BodyId | None = None


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=50)]
    address_id: BodyId
    note: Annotated[str, Field(max_length=200)] = ""
    channel: ChannelIn | None = None
    from_cart: bool = True
    # The buyer's chosen coupons (at most one shop coupon per shop, one platform coupon).
    coupon_ids: Annotated[list[BodyId], Field(max_length=10)] = []


# --------------------------------------------------------------------------- orders


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    product_id: int
    sku_id: int
    title: str
    spec_text: str
    thumb_path: str | None
    unit_price_fen: int
    quantity: int
    amount_fen: int  # what the buyer pays for the line, after discounts
    discount_fen: int = 0
    subsidy_fen: int = 0  # the platform-funded part of the discount


class OrderEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    action: str
    actor_id: int | None
    actor_kind: str
    who: str
    from_status: str | None
    to_status: str | None
    note: str | None
    at: datetime


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    order_no: str
    shop_id: int
    buyer_id: int
    status: str
    title: str
    items_fen: int
    shipping_fen: int
    total_fen: int
    discount_fen: int = 0
    subsidy_fen: int = 0
    paid_fen: int
    refunded_fen: int
    aftersale_open: bool
    address: dict[str, str]
    note: str
    channel: str
    channel_ref_id: int | None
    carrier: str | None
    tracking_no: str | None
    pay_deadline: datetime
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    lines: list[OrderLineOut]

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls.model_validate(order)


class OrderDetailOut(OrderOut):
    events: list[OrderEventOut] = []

    @classmethod
    def with_events(cls, order: Order, events: list[OrderEvent]) -> OrderDetailOut:
        out = cls.model_validate(order)
        out.events = [OrderEventOut.model_validate(e) for e in events]
        return out


class OrderListOut(BaseModel):
    orders: list[OrderOut]
    total: int
    page: int
    pages: int


class CheckoutOut(BaseModel):
    orders: list[OrderOut]
    pay_url: str
    replayed: bool = False


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: Annotated[str, Field(max_length=20)]
    tracking_no: Annotated[str, Field(max_length=40)]


class BatchErrorOut(BaseModel):
    line: int
    order_no: str
    code: str
    message: str


class BatchOut(BaseModel):
    shipped: list[str]
    errors: list[BatchErrorOut]


class CarrierOut(BaseModel):
    code: str
    name: str

"""Pydantic models at the edge of the live rooms API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xiaodian.web.types import BodyId, Count, Fen


class RoomIn(BaseModel):
    title: str = Field(max_length=200)
    scheduled_at: datetime
    shop_id: BodyId | None = None
    stream_url: str | None = Field(default=None, max_length=2000)
    replay_url: str | None = Field(default=None, max_length=2000)
    product_ids: list[BodyId] = Field(default_factory=list, max_length=200)


class RoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    host_id: int
    shop_id: int | None
    title: str
    status: str
    scheduled_at: datetime
    stream_url: str | None
    replay_url: str | None
    pinned_product_id: int | None
    cover_path: str | None
    started_at: datetime | None
    ended_at: datetime | None
    peak_viewers: int
    likes: int


class PinIn(BaseModel):
    product_id: BodyId | None = None


class TextIn(BaseModel):
    text: str = Field(max_length=2000)


class CommentIn(BaseModel):
    body: str = Field(max_length=2000)


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    at: str


class LikesIn(BaseModel):
    count: Count = Field(default=1, ge=1, le=1000)


class ClickIn(BaseModel):
    product_id: BodyId


class SaleIn(BaseModel):
    product_id: BodyId
    sku_id: BodyId
    price_fen: Fen
    quantity: Count
    per_buyer_limit: Count = 1
    duration_seconds: Count = 300


class SaleOut(BaseModel):
    id: int
    room_id: int
    product_id: int
    sku_id: int
    title: str
    price_fen: int
    regular_price_fen: int
    quantity: int
    remaining: int
    sold: int
    per_buyer_limit: int
    status: str
    duration_seconds: int
    ends_at: str | None
    sold_out: bool


class BuyOut(BaseModel):
    order_no: str
    pay_url: str
    quantity: int
    amount_fen: int
    remaining: int


class ProductRowOut(BaseModel):
    product_id: int
    title: str
    clicks: int
    orders: int
    units: int
    gmv_fen: int


class ReportOut(BaseModel):
    room_id: int
    peak_viewers: int
    total_viewers: int
    watch_seconds: int
    clicks: int
    orders: int
    paid_orders: int
    buyers: int
    gmv_fen: int
    conversion: float
    likes: int
    comments: int
    products: list[ProductRowOut]


def report_out(report: Any) -> ReportOut:
    return ReportOut(
        room_id=report.room.id,
        peak_viewers=report.peak_viewers,
        total_viewers=report.total_viewers,
        watch_seconds=report.watch_seconds,
        clicks=report.clicks,
        orders=report.orders,
        paid_orders=report.paid_orders,
        buyers=report.buyers,
        gmv_fen=report.gmv_fen,
        conversion=round(report.conversion, 4),
        likes=report.likes,
        comments=report.comments,
        products=[ProductRowOut(**vars(row)) for row in report.rows],
    )

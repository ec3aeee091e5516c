"""Request and response shapes of the short-video API (money in integer fen)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from xiaodian.content import feed, metrics, moderation
from xiaodian.content.models import Video
from xiaodian.web.types import BodyId


def media_url(path: str | None) -> str:
    """Where a stored media file is served (the same rule as the templates' ``media``)."""
    return f"/media/{path}" if path else "/static/placeholder.svg"


class PersonOut(BaseModel):
    id: int
    name: str


class ProductCardOut(BaseModel):
    id: int
    title: str
    price_fen: int = Field(description="lowest price among the active SKUs")
    cover_url: str
    url: str


class VideoOut(BaseModel):
    id: int
    caption: str
    tags: list[str]
    status: Literal["published", "hidden", "removed"]
    author: PersonOut
    shop: PersonOut | None = Field(description="set when posted for a shop")
    video_url: str
    content_type: str
    cover_url: str
    thumb_url: str
    view_count: int
    like_count: int
    liked: bool = Field(description="whether the signed-in user likes it")
    products: list[ProductCardOut] = Field(description="attached products on sale, in order")
    created_at: datetime
    share_url: str
    cursor: str = Field(description="pass as ?cursor= to continue the feed after this video")

    @classmethod
    def of(cls, v: feed.FeedVideo) -> VideoOut:
        return cls(
            id=v.id,
            caption=v.caption,
            tags=v.tags,
            status=v.status.value,
            author=PersonOut(id=v.author_id, name=v.author_name),
            shop=PersonOut(id=v.shop_id, name=v.shop_name or "") if v.shop_id else None,
            video_url=media_url(v.file_path),
            content_type=v.content_type,
            cover_url=media_url(v.cover_path),
            thumb_url=media_url(v.cover_thumb_path),
            view_count=v.view_count,
            like_count=v.like_count,
            liked=v.liked,
            products=[
                ProductCardOut(
                    id=p.id,
                    title=p.title,
                    price_fen=p.price_fen,
                    cover_url=media_url(p.cover_path),
                    url=f"/p/{p.id}",
                )
                for p in v.products
            ],
            created_at=v.created_at,
            share_url=f"/videos/{v.id}",
            cursor=v.cursor,
        )


class VideoPage(BaseModel):
    items: list[VideoOut]
    next_cursor: str | None = Field(description="null on the last page")

    @classmethod
    def of(cls, page: feed.FeedPage) -> VideoPage:
        return cls(items=[VideoOut.of(v) for v in page.items], next_cursor=page.next_cursor)


class StudioVideoOut(BaseModel):
    """A video as its author sees it in the studio: every status, with its counters."""

    id: int
    caption: str
    tags: list[str]
    status: Literal["published", "hidden", "removed"]
    shop_id: int | None
    removed_reason: str | None
    screening_hits: list[str] = Field(description="prohibited words found in the caption")
    flagged: bool = Field(description="waiting for an operator's review")
    video_url: str
    cover_url: str
    view_count: int
    like_count: int
    impression_count: int
    click_count: int
    created_at: datetime

    @classmethod
    def of(cls, v: Video) -> StudioVideoOut:
        return cls(
            id=v.id,
            caption=v.caption,
            tags=list(v.tags or []),
            status=v.status.value,
            shop_id=v.shop_id,
            removed_reason=v.removed_reason,
            screening_hits=list(v.screening_hits or []),
            flagged=v.flagged,
            video_url=media_url(v.file_path),
            cover_url=media_url(v.cover_thumb_path or v.cover_path),
            view_count=v.view_count,
            like_count=v.like_count,
            impression_count=v.impression_count,
            click_count=v.click_count,
            created_at=v.created_at,
        )


class VideoPatch(BaseModel):
    caption: str | None = Field(default=None, max_length=1000)
    tags: list[str] | str | None = Field(
        default=None, description='["穿搭", "夏日"] or "#穿搭 #夏日"'
    )
    product_ids: list[BodyId] | None = Field(default=None, max_length=50)
    hidden: bool | None = None


class LikeOut(BaseModel):
    liked: bool
    like_count: int


class EventIn(BaseModel):
    type: Literal["view", "impression", "click"]
    product_id: BodyId | None = Field(default=None, description="for impression and click")


class EventOut(BaseModel):
    counted: bool = Field(description="false when it repeated a recent identical event")


class RemoveIn(BaseModel):
    reason: str = Field(max_length=1000)


class RestoreIn(BaseModel):
    note: str = Field(default="", max_length=1000)


class ModerationVideoOut(StudioVideoOut):
    """A video in the operators' moderation queue."""

    author: PersonOut
    shop: PersonOut | None
    content_type: str
    removed_at: datetime | None

    @classmethod
    def of_item(cls, item: moderation.ModerationItem) -> ModerationVideoOut:
        v = item.video
        return cls(
            **StudioVideoOut.of(v).model_dump(),
            author=PersonOut(id=v.author_id, name=item.author_name),
            shop=PersonOut(id=v.shop_id, name=item.shop_name or "") if v.shop_id else None,
            content_type=v.content_type,
            removed_at=v.removed_at,
        )


class ModerationPageOut(BaseModel):
    items: list[ModerationVideoOut]
    filter: Literal["flagged", "all", "removed"]
    page: int
    pages: int
    total: int
    counts: dict[str, int] = Field(description="videos per filter: flagged, all, removed")

    @classmethod
    def of(cls, page: moderation.ModerationPage) -> ModerationPageOut:
        return cls(
            items=[ModerationVideoOut.of_item(i) for i in page.items],
            filter=page.filter,
            page=page.page,
            pages=page.pages,
            total=page.total,
            counts=page.counts,
        )


class ProductStatOut(BaseModel):
    product_id: int
    title: str
    impressions: int
    clicks: int
    click_rate: float


class DayStatOut(BaseModel):
    day: date
    views: int
    impressions: int
    clicks: int


class StatsOut(BaseModel):
    video: StudioVideoOut
    products: list[ProductStatOut]
    days: list[DayStatOut] = Field(description="last 30 business days with activity, newest first")

    @classmethod
    def of(cls, stats: metrics.VideoStats) -> StatsOut:
        return cls(
            video=StudioVideoOut.of(stats.video),
            products=[
                ProductStatOut(
                    product_id=p.product_id,
                    title=p.title,
                    impressions=p.impressions,
                    clicks=p.clicks,
                    click_rate=round(p.click_rate, 4),
                )
                for p in stats.products
            ],
            days=[
                DayStatOut(day=d.day, views=d.views, impressions=d.impressions, clicks=d.clicks)
                for d in stats.days
            ],
        )

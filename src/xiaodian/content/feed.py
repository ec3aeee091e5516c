"""The feed and the reads of videos: what viewers, product pages and studios list.

The feed orders by ``rank_score``: the epoch second the video was published plus a small
boost from likes and views (``metrics.py``), recomputed by the same UPDATE that moves a
counter; paging is by an opaque cursor ``"<rank>.<id>"``, so a page never repeats or skips
an item while new videos arrive. A page costs a fixed number of queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.catalog.service import ProductStatus
from xiaodian.content import videos
from xiaodian.content.models import Video, VideoLike, VideoProduct, VideoStatus, VideoTag
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service

S = VideoStatus

FEED_DEFAULT = 10
FEED_MAX = 30
_CURSOR = re.compile(r"^(-?\d{1,12})\.(\d{1,12})$")


# ---------------------------------------------------------------------------------------
# Read models


@dataclass(frozen=True)
class ProductChip:
    """A product card under a video: what the feed shows before the sheet opens."""

    id: int
    title: str
    price_fen: int
    cover_path: str | None


@dataclass(frozen=True)
class FeedVideo:
    id: int
    author_id: int
    author_name: str
    shop_id: int | None
    shop_name: str | None
    caption: str
    tags: list[str]
    status: VideoStatus
    file_path: str
    content_type: str
    cover_path: str | None
    cover_thumb_path: str | None
    view_count: int
    like_count: int
    liked: bool
    created_at: datetime
    cursor: str
    products: list[ProductChip] = field(default_factory=list)

    @property
    def by_line(self) -> str:
        return self.shop_name or self.author_name


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedVideo]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------
# Reads


def _cursor(video: Video) -> str:
    return f"{video.rank_score}.{video.id}"


def _parse_cursor(cursor: str) -> tuple[int, int]:
    match = _CURSOR.match(cursor)
    if match is None:
        raise InvalidInput(_("Invalid cursor."), code="bad_cursor")
    return int(match.group(1)), int(match.group(2))


def feed(
    db: Session,
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int = FEED_DEFAULT,
    tag: str | None = None,
    author_id: int | None = None,
    shop_id: int | None = None,
    product_id: int | None = None,
) -> FeedPage:
    """Published videos, best first (newest, with a small engagement boost), one page.

    A fixed number of queries whatever the page holds.
    """
    if not 1 <= limit <= FEED_MAX:
        raise InvalidInput(_("limit must be between 1 and %(n)s."), code="bad_limit", n=FEED_MAX)
    query = select(Video).where(Video.status == S.PUBLISHED)
    if cursor:
        rank, last_id = _parse_cursor(cursor)
        query = query.where(
            or_(Video.rank_score < rank, and_(Video.rank_score == rank, Video.id < last_id))
        )
    if tag is not None:
        query = query.where(
            Video.id.in_(select(VideoTag.video_id).where(VideoTag.tag == videos.normalize_tag(tag)))
        )
    if author_id is not None:
        query = query.where(Video.author_id == author_id, Video.shop_id.is_(None))
    if shop_id is not None:
        query = query.where(Video.shop_id == shop_id)
    if product_id is not None:
        query = query.where(
            Video.id.in_(select(VideoProduct.video_id).where(VideoProduct.product_id == product_id))
        )
    # Counters move by UPDATE statements, so rows already in the session are refreshed.
    query = query.order_by(Video.rank_score.desc(), Video.id.desc()).limit(limit + 1)
    rows = list(db.scalars(query.execution_options(populate_existing=True)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = _feed_items(db, actor, rows)
    return FeedPage(items=items, next_cursor=items[-1].cursor if more and items else None)


def get_video(db: Session, actor: Actor, video_id: int) -> FeedVideo:
    """A published video; its author (or shop) also sees it hidden or removed."""
    video = db.get(Video, video_id, populate_existing=True)
    visible = video is not None and (
        video.status == S.PUBLISHED
        or video.author_id == actor.user_id
        or (video.shop_id is not None and actor.can_manage_shop(video.shop_id))
    )
    if video is None or not visible:
        raise NotFound(_("Video not found."), code="video_not_found")
    return _feed_items(db, actor, [video])[0]


def followed_videos(
    db: Session, actor: Actor, *, shop_ids: list[int], creator_ids: list[int], limit: int = 12
) -> list[FeedVideo]:
    """The newest published videos of these shops and creators (a buyer's "following"
    page): a fixed number of queries."""
    if not shop_ids and not creator_ids:
        return []
    rows = list(
        db.scalars(
            select(Video)
            .where(
                Video.status == S.PUBLISHED,
                or_(
                    Video.shop_id.in_(shop_ids),
                    and_(Video.shop_id.is_(None), Video.author_id.in_(creator_ids)),
                ),
            )
            .order_by(Video.created_at.desc(), Video.id.desc())
            .limit(max(1, min(limit, FEED_MAX)))
        )
    )
    return _feed_items(db, actor, rows)


def videos_for_product(db: Session, product_id: int, limit: int = 6) -> list[FeedVideo]:
    """Published videos featuring a product, best first (for its product page)."""
    limit = max(1, min(limit, FEED_MAX))
    return feed(db, Actor(), product_id=product_id, limit=limit).items


def studio_videos(
    db: Session, actor: Actor, *, shop_id: int | None = None, limit: int = 100
) -> list[Video]:
    """The actor's own videos (every status), or a shop's for its staff; newest first."""
    user_id = actor.require_user()
    query = select(Video)
    if shop_id is not None:
        actor.require_shop(shop_id)
        query = query.where(Video.shop_id == shop_id)
    else:
        query = query.where(Video.author_id == user_id)
    return list(db.scalars(query.order_by(Video.created_at.desc(), Video.id.desc()).limit(limit)))


def _feed_items(db: Session, actor: Actor, rows: list[Video]) -> list[FeedVideo]:
    if not rows:
        return []
    ids = [v.id for v in rows]
    users = accounts_service.users_by_ids(db, {v.author_id for v in rows})
    links = db.execute(
        select(VideoProduct.video_id, VideoProduct.product_id)
        .where(VideoProduct.video_id.in_(ids))
        .order_by(VideoProduct.video_id, VideoProduct.position)
    ).all()
    products = catalog_service.get_products(db, {pid for _vid, pid in links})
    # The videos' shops and the products' shops, in one query.
    shops = merchants_service.shops_by_ids(
        db,
        {v.shop_id for v in rows if v.shop_id is not None} | {p.shop_id for p in products.values()},
    )
    policy = sellability.current()
    chips: dict[int, list[ProductChip]] = {}
    for vid, pid in links:
        product = products.get(pid)
        # A card only for what the sellability policy shows (on sale, in an active shop).
        if product is None or policy.product_refusal(
            on_sale=product.status == ProductStatus.ON_SALE,
            shop_active=product.shop_id in shops and shops[product.shop_id].is_active,
        ):
            continue
        chips.setdefault(vid, []).append(
            ProductChip(product.id, product.title, product.min_price_fen, product.cover_path)
        )
    liked: set[int] = set()
    if actor.user_id is not None:
        liked = set(
            db.scalars(
                select(VideoLike.video_id).where(
                    VideoLike.user_id == actor.user_id, VideoLike.video_id.in_(ids)
                )
            )
        )
    return [
        FeedVideo(
            id=v.id,
            author_id=v.author_id,
            author_name=users[v.author_id].display_name if v.author_id in users else "",
            shop_id=v.shop_id,
            shop_name=shops[v.shop_id].name if v.shop_id in shops else None,
            caption=v.caption,
            tags=list(v.tags or []),
            status=v.status,
            file_path=v.file_path,
            content_type=v.content_type,
            cover_path=v.cover_path,
            cover_thumb_path=v.cover_thumb_path,
            view_count=v.view_count,
            like_count=v.like_count,
            liked=v.id in liked,
            created_at=v.created_at,
            cursor=_cursor(v),
            products=chips.get(v.id, []),
        )
        for v in rows
    ]

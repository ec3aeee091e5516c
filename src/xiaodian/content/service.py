"""Short videos that sell (挂车): posting, the feed, likes, metrics, attribution.

Who may post: a shop's owner or staff, for that shop (attaching only that shop's products
on sale), and a creator (``User.is_creator``), for themself (attaching any product on sale).
Everyone else gets 403; another person's video is "not found" (404) for every change.

Status machine (``TRANSITIONS``, one table)::

    published ──hide──► hidden ──show──► published       (the author)
    published / hidden ──remove──► removed               (an operator, with a reason)
    removed ──restore──► published                       (an operator)

Captions are screened for prohibited words; hits publish anyway, are stored on the video
and flag it for the operators' moderation queue (``content/moderation.py``).

The feed orders by ``rank_score``: the epoch second the video was published plus a small
boost from likes and views (capped at ``BOOST_CAP_S``), recomputed by the same UPDATE that
moves a counter; paging is by an opaque cursor ``"<rank>.<id>"``, so a page never repeats
or skips an item while new videos arrive.

Metrics: ``record_event`` drops a repeat of the same viewer, video, kind (and product)
inside its window (views 30 minutes, impressions and clicks ``REPEAT_WINDOW``) with one
upsert into ``video_event_marks``; a counted event then adds one to its per-day row
(Asia/Shanghai business day) and to the counter on the video row. Old marks are purged by
a periodic job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.catalog import service as catalog_service
from xiaodian.catalog.service import Product, ProductStatus
from xiaodian.content import video_files
from xiaodian.content.models import (
    Video,
    VideoDailyStat,
    VideoEvent,
    VideoEventMark,
    VideoLike,
    VideoProduct,
    VideoStatus,
    VideoTag,
)
from xiaodian.content.video_files import StagedVideo
from xiaodian.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
    _,
)
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import lifecycle as orders_lifecycle

S = VideoStatus

CAPTION_MAX = 200
MAX_TAGS = 5
TAG_MAX = 20
MAX_PRODUCTS = 10
REASON_MAX = 200
FEED_DEFAULT = 10
FEED_MAX = 30
VIEW_WINDOW = timedelta(minutes=30)
REPEAT_WINDOW = timedelta(seconds=60)
LIKE_BOOST_S = 600  # a like moves a video 10 minutes "newer"
VIEW_BOOST_S = 20
BOOST_CAP_S = 6 * 3600
STATS_DAYS = 30

EventKind = Literal["view", "impression", "click"]
EVENT_KINDS: tuple[str, ...] = ("view", "impression", "click")
_STAT_COLUMN = {"view": "views", "impression": "impressions", "click": "clicks"}
_VIDEO_COUNTER = {"view": "view_count", "impression": "impression_count", "click": "click_count"}

# action -> (states it may start from, state it leads to). The one table of the machine.
TRANSITIONS: dict[str, tuple[frozenset[VideoStatus], VideoStatus]] = {
    "hide": (frozenset({S.PUBLISHED}), S.HIDDEN),
    "show": (frozenset({S.HIDDEN}), S.PUBLISHED),
    "remove": (frozenset({S.PUBLISHED, S.HIDDEN}), S.REMOVED),
    "restore": (frozenset({S.REMOVED}), S.PUBLISHED),  # an operator undoes a removal
}

_VIDEOS = cast(Table, Video.__table__)
_MARKS = cast(Table, VideoEventMark.__table__)
_STATS = cast(Table, VideoDailyStat.__table__)
_CURSOR = re.compile(r"^(-?\d{1,12})\.(\d{1,12})$")
_TAG_SPLIT = re.compile(r"[\s,，、#＃;；]+")
_TAG_DROP = re.compile(r"[^\w]")
_PRODUCT_REF = re.compile(r"(?:/p/)?(\d{1,12})/?$")


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


@dataclass(frozen=True)
class ProductStat:
    product_id: int
    title: str
    impressions: int
    clicks: int

    @property
    def click_rate(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


@dataclass(frozen=True)
class DayStat:
    day: date
    views: int
    impressions: int
    clicks: int


@dataclass(frozen=True)
class VideoStats:
    video: Video
    products: list[ProductStat]
    days: list[DayStat]


# ---------------------------------------------------------------------------------------
# Input cleaning


def clean_caption(text: str) -> str:
    caption = (text or "").strip()
    if len(caption) > CAPTION_MAX:
        raise InvalidInput(
            _("The caption is too long (at most %(n)s characters)."),
            code="caption_too_long",
            n=CAPTION_MAX,
        )
    return caption


def screen_caption(caption: str) -> list[str]:
    """The catalog's prohibited-word screening (广告法) applied to a caption: the words found.

    Hits never refuse a video (a platform publishes user content and reviews it after): they
    are stored on the video (``screening_hits``) and flag it for the operators' queue.
    """
    from xiaodian.catalog import screening

    return screening.find_hits(caption)


def parse_tags(raw: str | Sequence[str] | None) -> list[str]:
    """Topic tags from "#穿搭 #夏日, 好物" or a list: normalised, deduplicated, at most 5."""
    if raw is None:
        return []
    pieces = _TAG_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    tags: dict[str, None] = {}
    for piece in pieces:
        tag = normalize_tag(str(piece))
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise InvalidInput(
                _("A topic is too long (at most %(n)s characters)."),
                code="tag_too_long",
                n=TAG_MAX,
            )
        tags.setdefault(tag, None)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(_("At most %(n)s topics per video."), code="too_many_tags", n=MAX_TAGS)
    return list(tags)


def normalize_tag(text: str) -> str:
    """NFKC, lower case, letters/digits/underscore only: "#Summer 穿搭!" -> "summer穿搭"."""
    tag = unicodedata.normalize("NFKC", text).strip().lstrip("#").lower()
    return _TAG_DROP.sub("", tag)


def parse_product_refs(raw: str | Sequence[int | str] | None) -> list[int]:
    """Product ids from ids, "12, 15" or pasted product links (…/p/12); in order, once each."""
    if raw is None:
        return []
    pieces = re.split(r"[\s,，、]+", raw) if isinstance(raw, str) else list(raw)
    ids: dict[int, None] = {}
    for piece in pieces:
        if isinstance(piece, int):
            ids.setdefault(piece, None)
            continue
        text = str(piece).strip().split("?")[0].split("#")[0]
        if not text:
            continue
        match = _PRODUCT_REF.search(text)
        if match is None:
            raise InvalidInput(
                _("Not a product id or link: %(ref)s"), code="bad_product_ref", ref=text[:60]
            )
        ids.setdefault(int(match.group(1)), None)
    return list(ids)


def _check_products(db: Session, product_ids: Sequence[int], shop_id: int | None) -> list[int]:
    ids = list(dict.fromkeys(product_ids))
    if len(ids) > MAX_PRODUCTS:
        raise InvalidInput(
            _("At most %(n)s products per video."), code="too_many_products", n=MAX_PRODUCTS
        )
    products = catalog_service.get_products(db, ids)
    for product_id in ids:
        product = products.get(product_id)
        if product is None or product.status != ProductStatus.ON_SALE:
            raise InvalidInput(
                _("Product %(id)s is not on sale and cannot be attached."),
                code="product_not_on_sale",
                id=product_id,
            )
        if shop_id is not None and product.shop_id != shop_id:
            raise InvalidInput(
                _("A shop's video can only carry that shop's products (%(id)s is not one)."),
                code="product_not_in_shop",
                id=product_id,
            )
    return ids


def _check_poster(actor: Actor, shop_id: int | None) -> int:
    if shop_id is not None:
        return actor.require_shop(shop_id)
    user_id = actor.require_user()
    if not actor.is_creator:
        raise PermissionDenied(
            _("Only creators, or merchants for their shop, can post videos."),
            code="not_a_creator",
        )
    return user_id


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Please give a reason."), code="reason_required")
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            _("The reason is too long (at most %(n)s characters)."),
            code="reason_too_long",
            n=REASON_MAX,
        )
    return reason


def _boost(like_count: Any, view_count: Any) -> Any:
    """The capped engagement boost, as a SQL expression of (new) counter values."""
    raw = like_count * LIKE_BOOST_S + view_count * VIEW_BOOST_S
    return case((raw > BOOST_CAP_S, BOOST_CAP_S), else_=raw)


def boost_value(like_count: int, view_count: int) -> int:
    """The capped engagement boost of a video's counts (seconds of rank)."""
    return min(BOOST_CAP_S, like_count * LIKE_BOOST_S + view_count * VIEW_BOOST_S)


def _cursor(video: Video) -> str:
    return f"{video.rank_score}.{video.id}"


def _parse_cursor(cursor: str) -> tuple[int, int]:
    match = _CURSOR.match(cursor)
    if match is None:
        raise InvalidInput(_("Invalid cursor."), code="bad_cursor")
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------------------
# Posting and editing


def create_video(
    db: Session,
    actor: Actor,
    *,
    video: StagedVideo,
    caption: str = "",
    tags: str | Sequence[str] | None = None,
    product_ids: Sequence[int] = (),
    shop_id: int | None = None,
    cover: bytes | None = None,
) -> Video:
    """Publish a video. Takes ownership of the staged file: on any error it is removed and
    nothing is stored (no row, no file); on success it moves into the media directory.

    ``cover``: image bytes (checked by ``media.save_image``); without one, the first frame
    (ffmpeg) or a generated placeholder.
    """
    stored: list[str] = []
    try:
        author_id = _check_poster(actor, shop_id)
        caption = clean_caption(caption)
        hits = screen_caption(caption)
        tag_list = parse_tags(tags)
        ids = _check_products(db, product_ids, shop_id)
        image = media.save_image(cover, folder="covers") if cover else _auto_cover(video)
        stored += [image.path, image.thumb_path]
        path = video.store()
        stored.append(path)
        now = clock.now()
        row = Video(
            author_id=author_id,
            shop_id=shop_id,
            caption=caption,
            tags=tag_list,
            status=S.PUBLISHED,
            file_path=path,
            content_type=video.content_type,
            size_bytes=video.size,
            cover_path=image.path,
            cover_thumb_path=image.thumb_path,
            screening_hits=hits,
            flagged=bool(hits),
            rank_base=int(now.timestamp()),
            rank_score=int(now.timestamp()),
            created_at=now,
            updated_at=now,
        )
        db.add(row)
        db.flush()
        set_video_tags(db, row, tag_list)
        set_video_products(db, row, ids)
        db.add(
            VideoEvent(
                video_id=row.id, actor_id=author_id, action="published", to_status=S.PUBLISHED.value
            )
        )
        db.commit()
    except BaseException:
        db.rollback()
        video.discard()
        for path in stored:
            media.delete(path)
        raise
    return row


def _auto_cover(video: StagedVideo) -> media.StoredImage:
    frame = video_files.first_frame(video.path)
    if frame is not None:
        try:
            return media.save_image(frame, folder="covers")
        except (InvalidInput, TooLarge):
            pass
    return media.save_image(video_files.placeholder_cover(video.path.name), folder="covers")


def set_video_tags(db: Session, video: Video, tags: list[str]) -> None:
    """Replace a video's tags (checked by the caller). Joins the caller's transaction."""
    db.execute(delete(VideoTag).where(VideoTag.video_id == video.id))
    db.add_all(VideoTag(video_id=video.id, tag=t) for t in tags)
    video.tags = tags


def set_video_products(db: Session, video: Video, product_ids: list[int]) -> None:
    """Replace a video's products (checked by the caller). Joins the caller's transaction."""
    db.execute(delete(VideoProduct).where(VideoProduct.video_id == video.id))
    db.add_all(
        VideoProduct(video_id=video.id, product_id=pid, position=i)
        for i, pid in enumerate(product_ids)
    )


def _managed_video(db: Session, actor: Actor, video_id: int) -> Video:
    """A video the actor may change: their own, or their shop's. Anyone else: NotFound."""
    user_id = actor.require_user()
    video = db.get(Video, video_id, populate_existing=True)
    if video is None or not (
        video.author_id == user_id
        or (video.shop_id is not None and actor.can_manage_shop(video.shop_id))
    ):
        raise NotFound(_("Video not found."), code="video_not_found")
    return video


def _transition(db: Session, video: Video, action: str, actor_id: int, note: str | None) -> None:
    sources, target = TRANSITIONS[action]
    if video.status not in sources:
        if video.status == S.REMOVED:
            raise IllegalTransition(
                _("This video was removed by the platform and cannot be changed."),
                code="video_removed",
            )
        raise IllegalTransition(
            _("This video cannot be %(action)s now (it is %(status)s)."),
            action=action,
            status=video.status.value,
        )
    db.add(
        VideoEvent(
            video_id=video.id,
            actor_id=actor_id,
            action=action,
            from_status=video.status.value,
            to_status=target.value,
            note=note,
        )
    )
    video.status = target


def managed_video(db: Session, actor: Actor, video_id: int) -> Video:
    """A video for its author's (or its shop's) studio pages; NotFound for anyone else."""
    return _managed_video(db, actor, video_id)


def update_video(
    db: Session,
    actor: Actor,
    video_id: int,
    *,
    caption: str | None = None,
    tags: str | Sequence[str] | None = None,
    product_ids: Sequence[int] | None = None,
    hidden: bool | None = None,
) -> Video:
    """Change caption, topics, products (each only when given) and hide/show."""
    video = _managed_video(db, actor, video_id)
    user_id = actor.require_user()
    if video.status == S.REMOVED:
        raise IllegalTransition(
            _("This video was removed by the platform and cannot be changed."),
            code="video_removed",
        )
    new_caption = clean_caption(caption) if caption is not None else None
    new_tags = parse_tags(tags) if tags is not None else None
    new_products = (
        _check_products(db, product_ids, video.shop_id) if product_ids is not None else None
    )
    if hidden is not None and hidden != (video.status == S.HIDDEN):
        _transition(db, video, "hide" if hidden else "show", user_id, None)
    if new_caption is not None and new_caption != video.caption:
        video.caption = new_caption
        video.screening_hits = screen_caption(new_caption)
        video.flagged = bool(video.screening_hits)  # a changed caption is looked at again
    if new_tags is not None:
        set_video_tags(db, video, new_tags)
    if new_products is not None:
        set_video_products(db, video, new_products)
    video.updated_at = clock.now()
    db.commit()
    return video


def delete_video(db: Session, actor: Actor, video_id: int) -> None:
    """The author (or the shop) deletes a video for good, with its files and metrics."""
    video = _managed_video(db, actor, video_id)
    if video.status == S.REMOVED:
        raise IllegalTransition(
            _("A video removed by the platform stays on record and cannot be deleted."),
            code="video_removed",
        )
    paths = [video.file_path, video.cover_path, video.cover_thumb_path]
    db.delete(video)
    db.commit()
    for path in paths:
        media.delete(path)


def remove_video(db: Session, actor: Actor, video_id: int, *, reason: str) -> Video:
    """An operator takes a video down (it leaves every feed), with the reason recorded.
    Settles its moderation flag (the decision is made)."""
    operator_id = actor.require_operator()
    reason = _check_reason(reason)
    video = db.get(Video, video_id, populate_existing=True)
    if video is None:
        raise NotFound(_("Video not found."), code="video_not_found")
    _transition(db, video, "remove", operator_id, reason)
    video.removed_reason = reason
    video.removed_by_id = operator_id
    video.removed_at = clock.now()
    video.flagged = False
    db.commit()
    return video


def video_history(db: Session, actor: Actor, video_id: int) -> list[VideoEvent]:
    """Status history, oldest first, for the author (or shop) and operators."""
    if not actor.is_operator:
        _managed_video(db, actor, video_id)
    return list(
        db.scalars(
            select(VideoEvent)
            .where(VideoEvent.video_id == video_id)
            .order_by(VideoEvent.at, VideoEvent.id)
        )
    )


# ---------------------------------------------------------------------------------------
# Likes and metrics


def set_like(db: Session, actor: Actor, video_id: int, *, liked: bool) -> tuple[bool, int]:
    """Like or unlike (one like per person); returns (liked, like count). Idempotent."""
    user_id = actor.require_user()
    _published(db, video_id)
    if liked:
        likes = cast(Table, VideoLike.__table__)
        inserted = db.execute(
            _insert(db, likes)
            .values(video_id=video_id, user_id=user_id, created_at=clock.now())
            .on_conflict_do_nothing()
            .returning(likes.c.video_id)
        ).first()
        delta = 1 if inserted is not None else 0
    else:
        result = db.execute(
            delete(VideoLike).where(VideoLike.video_id == video_id, VideoLike.user_id == user_id)
        )
        delta = -1 if _rowcount(result) == 1 else 0
    if delta:
        db.execute(
            update(_VIDEOS)
            .where(_VIDEOS.c.id == video_id)
            .values(
                like_count=_VIDEOS.c.like_count + delta,
                rank_score=_VIDEOS.c.rank_base
                + _boost(_VIDEOS.c.like_count + delta, _VIDEOS.c.view_count),
            )
        )
    count = db.scalar(select(Video.like_count).where(Video.id == video_id)) or 0
    db.commit()
    return liked, count


def record_event(
    db: Session,
    *,
    video_id: int,
    kind: str,
    viewer: str,
    product_id: int | None = None,
) -> bool:
    """Count a view, a product-card impression or a click; False if it was a repeat.

    Views count once per viewer per video per 30 minutes; impressions and clicks once per
    viewer, video and product per ``REPEAT_WINDOW``. A repeat costs one statement.
    """
    if kind not in EVENT_KINDS:
        raise InvalidInput(_("Unknown event type."), code="bad_event")
    if not viewer or len(viewer) > 64:
        raise InvalidInput(_("Unknown viewer."), code="bad_viewer")
    _published(db, video_id)
    if kind == "view":
        product_id = 0
        window = VIEW_WINDOW
    else:
        if product_id is None:
            raise InvalidInput(_("Which product? product_id is missing."), code="bad_event")
        attached = db.scalar(
            select(VideoProduct.product_id).where(
                VideoProduct.video_id == video_id, VideoProduct.product_id == product_id
            )
        )
        if attached is None:
            raise NotFound(_("This product is not on this video."), code="product_not_found")
        window = REPEAT_WINDOW
    now = clock.now()
    mark = _insert(db, _MARKS).values(
        video_id=video_id, viewer=viewer, kind=kind, product_id=product_id, last_at=now
    )
    mark = mark.on_conflict_do_update(
        index_elements=["video_id", "viewer", "kind", "product_id"],
        set_={"last_at": mark.excluded.last_at},
        where=_MARKS.c.last_at <= now - window,
    ).returning(_MARKS.c.video_id)
    # A row comes back only when the mark was new or old enough to move: the event counts.
    if db.execute(mark).first() is None:
        db.commit()
        return False
    column = _STAT_COLUMN[kind]
    counts = {"views": 0, "impressions": 0, "clicks": 0, column: 1}
    stat = _insert(db, _STATS).values(
        video_id=video_id, day=clock.today(), product_id=product_id, **counts
    )
    db.execute(
        stat.on_conflict_do_update(
            index_elements=["video_id", "day", "product_id"],
            set_={column: _STATS.c[column] + 1},
        )
    )
    counter = _VIDEO_COUNTER[kind]
    values: dict[str, Any] = {counter: _VIDEOS.c[counter] + 1}
    if kind == "view":
        values["rank_score"] = _VIDEOS.c.rank_base + _boost(
            _VIDEOS.c.like_count, _VIDEOS.c.view_count + 1
        )
    db.execute(update(_VIDEOS).where(_VIDEOS.c.id == video_id).values(**values))
    db.commit()
    return True


def purge_event_marks(db: Session) -> int:
    """Forget dedupe marks older than the longest window (a periodic job); returns how many."""
    cutoff = clock.now() - max(VIEW_WINDOW, REPEAT_WINDOW)
    result = db.execute(delete(_MARKS).where(_MARKS.c.last_at < cutoff))
    db.commit()
    return _rowcount(result)


def _insert(db: Session, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on SQLite and PostgreSQL."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _rowcount(result: Any) -> int:
    """Rows changed by an UPDATE or DELETE (INSERTs use RETURNING: psycopg reports -1)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _published(db: Session, video_id: int) -> None:
    status = db.scalar(select(Video.status).where(Video.id == video_id))
    if status != S.PUBLISHED:
        raise NotFound(_("Video not found."), code="video_not_found")


# ---------------------------------------------------------------------------------------
# Feed and reads


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
            Video.id.in_(select(VideoTag.video_id).where(VideoTag.tag == normalize_tag(tag)))
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


def video_products(db: Session, video_id: int) -> list[Product]:
    """The products attached to a video in card order, in any status (for its editor)."""
    ids = list(
        db.scalars(
            select(VideoProduct.product_id)
            .where(VideoProduct.video_id == video_id)
            .order_by(VideoProduct.position)
        )
    )
    products = catalog_service.get_products(db, ids)
    return [products[i] for i in ids if i in products]


def video_stats(db: Session, actor: Actor, video_id: int) -> VideoStats:
    """Totals, per attached product (impressions, clicks) and per day, for the author."""
    video = _managed_video(db, actor, video_id)
    per_product = db.execute(
        select(
            VideoDailyStat.product_id,
            func.sum(VideoDailyStat.impressions),
            func.sum(VideoDailyStat.clicks),
        )
        .where(VideoDailyStat.video_id == video_id, VideoDailyStat.product_id != 0)
        .group_by(VideoDailyStat.product_id)
    ).all()
    counted = {pid: (int(imp or 0), int(clk or 0)) for pid, imp, clk in per_product}
    attached = [p.id for p in video_products(db, video_id)]
    ids = attached + [pid for pid in counted if pid not in attached]
    products = catalog_service.get_products(db, ids)
    product_stats = [
        ProductStat(
            product_id=pid,
            title=products[pid].title if pid in products else f"#{pid}",
            impressions=counted.get(pid, (0, 0))[0],
            clicks=counted.get(pid, (0, 0))[1],
        )
        for pid in ids
    ]
    since = clock.today() - timedelta(days=STATS_DAYS - 1)
    per_day = db.execute(
        select(
            VideoDailyStat.day,
            func.sum(VideoDailyStat.views),
            func.sum(VideoDailyStat.impressions),
            func.sum(VideoDailyStat.clicks),
        )
        .where(VideoDailyStat.video_id == video_id, VideoDailyStat.day >= since)
        .group_by(VideoDailyStat.day)
        .order_by(VideoDailyStat.day.desc())
    ).all()
    days = [DayStat(d, int(v or 0), int(i or 0), int(c or 0)) for d, v, i, c in per_day]
    return VideoStats(video=video, products=product_stats, days=days)


def _feed_items(db: Session, actor: Actor, rows: list[Video]) -> list[FeedVideo]:
    if not rows:
        return []
    ids = [v.id for v in rows]
    users = accounts_service.users_by_ids(db, {v.author_id for v in rows})
    shops = _shop_names(db, {v.shop_id for v in rows if v.shop_id is not None})
    links = db.execute(
        select(VideoProduct.video_id, VideoProduct.product_id)
        .where(VideoProduct.video_id.in_(ids))
        .order_by(VideoProduct.video_id, VideoProduct.position)
    ).all()
    products = catalog_service.get_products(db, {pid for _vid, pid in links})
    chips: dict[int, list[ProductChip]] = {}
    for vid, pid in links:
        product = products.get(pid)
        if product is None or product.status != ProductStatus.ON_SALE:
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
            shop_name=shops.get(v.shop_id) if v.shop_id is not None else None,
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


def _shop_names(db: Session, shop_ids: Iterable[int]) -> dict[int, str]:
    shops = merchants_service.shops_by_ids(db, shop_ids)
    return {shop_id: shop.name for shop_id, shop in shops.items()}


# ---------------------------------------------------------------------------------------
# Channel attribution (called by checkout inside its own transaction)


def attribute_video(db: Session, *, video_id: int | None, product_ids: Iterable[int]) -> int | None:
    """``video_id`` if that video is published and features one of ``product_ids``, else
    None (the order then counts as "shelf"). Joins the caller's transaction; writes nothing.
    """
    ids = set(product_ids)
    if video_id is None or not ids:
        return None
    found = db.scalar(
        select(VideoProduct.video_id)
        .join(Video, Video.id == VideoProduct.video_id)
        .where(
            VideoProduct.video_id == video_id,
            VideoProduct.product_id.in_(ids),
            Video.status == S.PUBLISHED,
        )
        .limit(1)
    )
    return video_id if found is not None else None


@orders_lifecycle.channel_check("video")
def _prove_video(db: Session, video_id: int, product_ids: list[int]) -> int | None:
    """Checkout's "video" channel counts only for a published video featuring one of the
    products (``orders.lifecycle``). Joins the caller's transaction; writes nothing."""
    return attribute_video(db, video_id=video_id, product_ids=product_ids)


def shop_product_choices(db: Session, actor: Actor, shop_id: int) -> list[Product]:
    """The shop's products on sale, for the upload form's product picker."""
    page = catalog_service.list_shop_products(
        db, actor, shop_id, status=ProductStatus.ON_SALE, per_page=100
    )
    return page.items

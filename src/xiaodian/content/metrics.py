"""Likes and metrics of short videos, and a video's statistics for its author.

``record_event`` drops a repeat of the same viewer, video, kind (and product) inside its
window (views 30 minutes, impressions and clicks ``REPEAT_WINDOW``) with one upsert into
``video_event_marks``; a counted event then adds one to its per-day row (Asia/Shanghai
business day) and to the counter on the video row. Old marks are purged by a periodic job.
Likes and views move a video up the feed (``boost_value``, capped at ``BOOST_CAP_S``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, case, delete, func, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog import service as catalog_service
from xiaodian.content import videos
from xiaodian.content.models import (
    Video,
    VideoDailyStat,
    VideoEventMark,
    VideoLike,
    VideoProduct,
    VideoStatus,
)
from xiaodian.errors import InvalidInput, NotFound, _

S = VideoStatus

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
_VIDEOS = cast(Table, Video.__table__)
_MARKS = cast(Table, VideoEventMark.__table__)
_STATS = cast(Table, VideoDailyStat.__table__)


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
# Likes and events


def _boost(like_count: Any, view_count: Any) -> Any:
    """The capped engagement boost, as a SQL expression of (new) counter values."""
    raw = like_count * LIKE_BOOST_S + view_count * VIEW_BOOST_S
    return case((raw > BOOST_CAP_S, BOOST_CAP_S), else_=raw)


def boost_value(like_count: int, view_count: int) -> int:
    """The capped engagement boost of a video's counts (seconds of rank)."""
    return min(BOOST_CAP_S, like_count * LIKE_BOOST_S + view_count * VIEW_BOOST_S)


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
# Statistics


def video_stats(db: Session, actor: Actor, video_id: int) -> VideoStats:
    """Totals, per attached product (impressions, clicks) and per day, for the author."""
    video = videos.managed_video(db, actor, video_id)
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
    attached = [p.id for p in videos.video_products(db, video_id)]
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

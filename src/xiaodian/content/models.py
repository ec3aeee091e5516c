"""Tables of the short-video domain: videos, their products and tags, likes, metrics.

Metrics are written cheaply: counters on the video row, a per-day (Asia/Shanghai) table per
video and product, and a small "last counted" table that drops repeats of the same viewer
(views once per 30 minutes, impressions and clicks once per short window).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class VideoStatus(enum.StrEnum):
    PUBLISHED = "published"
    HIDDEN = "hidden"  # by its author
    REMOVED = "removed"  # by an operator, with a reason


class Video(Base):
    """A short video with products attached (挂车), posted by a shop or a creator."""

    __tablename__ = "videos"
    __table_args__ = (
        Index("ix_videos_status_rank", "status", "rank_score", "id"),
        Index("ix_videos_author_created", "author_id", "created_at"),
        Index("ix_videos_shop_created", "shop_id", "created_at"),
        Index("ix_videos_flagged_created", "flagged", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Set when posted for a shop (by its owner or staff); None for a creator's own video.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    caption: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[VideoStatus] = mapped_column(
        str_enum(VideoStatus), default=VideoStatus.PUBLISHED
    )
    file_path: Mapped[str] = mapped_column(String(300))  # relative to the media dir
    content_type: Mapped[str] = mapped_column(String(20))  # video/mp4 | video/webm
    size_bytes: Mapped[int]
    cover_path: Mapped[str | None] = mapped_column(String(300))
    cover_thumb_path: Mapped[str | None] = mapped_column(String(300))
    view_count: Mapped[int] = mapped_column(default=0)
    like_count: Mapped[int] = mapped_column(default=0)
    impression_count: Mapped[int] = mapped_column(default=0)  # product cards seen
    click_count: Mapped[int] = mapped_column(default=0)  # product cards tapped
    # Feed order: rank_base (epoch seconds when published) plus a small, capped boost
    # from likes and views, recomputed by the same UPDATE that moves a counter.
    rank_base: Mapped[int] = mapped_column(default=0)
    rank_score: Mapped[int] = mapped_column(default=0)
    # Prohibited words found in the caption (published anyway, for an operator to look at);
    # ``flagged`` while no operator has: set by a caption with hits, cleared by review/removal.
    screening_hits: Mapped[list[str]] = mapped_column(JSON, default=list)
    flagged: Mapped[bool] = mapped_column(default=False)
    removed_reason: Mapped[str | None] = mapped_column(Text)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class VideoProduct(Base):
    """A product attached to a video, in the order its cards are shown."""

    __tablename__ = "video_products"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)


class VideoTag(Base):
    """A topic (#话题) of a video, normalised; indexed for the tag pages."""

    __tablename__ = "video_tags"
    __table_args__ = (Index("ix_video_tags_tag_video", "tag", "video_id"),)

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(20), primary_key=True)


class VideoLike(Base):
    __tablename__ = "video_likes"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class VideoEventMark(Base):
    """When an event of a viewer last counted (dedupe); rows older than the window are purged.

    ``product_id`` is 0 for events about the video itself (views).
    """

    __tablename__ = "video_event_marks"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    viewer: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    product_id: Mapped[int] = mapped_column(primary_key=True)
    last_at: Mapped[datetime] = mapped_column(index=True)


class VideoDailyStat(Base):
    """Counted events per business day (Asia/Shanghai), video and product (0: the video)."""

    __tablename__ = "video_daily_stats"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    views: Mapped[int] = mapped_column(default=0)
    impressions: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)


class VideoEvent(Base):
    """Status history of a video: published, hidden, shown, removed, restored, reviewed
    (who, when, why)."""

    __tablename__ = "video_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)

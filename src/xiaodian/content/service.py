"""Short videos that sell (挂车): what other domains ask of content.

Checkout proves an order's "video" channel here (``attribute_video``, registered with
``orders.lifecycle``). The use cases live beside this module, one concept a module
(docs/architecture.md, "Inside a domain"): ``videos.py`` (posting, editing, the status
machine), ``feed.py`` (the feed and the reads of videos), ``metrics.py`` (likes, views,
impressions and clicks, a video's statistics), ``moderation.py`` (the operators' queue),
``video_files.py`` and ``containers.py`` (the uploaded files).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.content.models import Video, VideoProduct, VideoStatus
from xiaodian.orders import lifecycle as orders_lifecycle

S = VideoStatus


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


def video_shop_id(db: Session, video_id: int) -> int | None:
    """The shop a video was posted for (None: a creator's own, or no such video), for the
    violations recorded against it. One query. Read only."""
    return db.scalar(select(Video.shop_id).where(Video.id == video_id))

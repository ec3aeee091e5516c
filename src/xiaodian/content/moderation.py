"""Operator moderation of short videos: the queue, restore, and clearing a flag.

A caption with prohibited words is published anyway (``videos.screen_caption``); the words
are stored on the video (``screening_hits``) and the video is ``flagged`` until an operator
looks: "clear flag" (reviewed, it stays up) or remove it (``videos.remove_video``, with a
reason). A removal can be undone (``restore``: removed -> published). Each decision writes a
``VideoEvent`` row (who, when, what). Every function here is for operators only (403).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.catalog import screening
from xiaodian.content import videos
from xiaodian.content.models import Video, VideoEvent, VideoStatus
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service

S = VideoStatus
PAGE_SIZE = 20
NOTE_MAX = 200

QueueFilter = Literal["flagged", "all", "removed"]
FILTERS: tuple[QueueFilter, ...] = ("flagged", "all", "removed")


@dataclass(frozen=True)
class ModerationItem:
    """A video as the moderation queue shows it: who posted it and the caption's hits."""

    video: Video
    author_name: str
    shop_name: str | None
    # the caption in pieces, (text, is_hit), for the template to mark the hits
    caption_parts: list[tuple[str, bool]]


@dataclass(frozen=True)
class ModerationPage:
    items: list[ModerationItem]
    filter: QueueFilter
    page: int
    pages: int
    total: int
    counts: dict[str, int]  # per filter: flagged, all, removed


def parse_filter(value: str | None) -> QueueFilter:
    """The queue filter from a query string ("" means flagged). Raises InvalidInput."""
    if not value:
        return "flagged"
    if value not in FILTERS:
        raise InvalidInput(_("Unknown filter."), code="bad_filter")
    return value


def _counts(db: Session) -> dict[str, int]:
    flagged, removed, total = db.execute(
        select(
            func.coalesce(func.sum(case((Video.flagged.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Video.status == S.REMOVED, 1), else_=0)), 0),
            func.count(),
        ).select_from(Video)
    ).one()
    return {"flagged": int(flagged), "removed": int(removed), "all": int(total)}


def moderation_queue(
    db: Session, actor: Actor, *, filter: str = "flagged", page: int = 1
) -> ModerationPage:
    """Videos for operators, newest first: flagged (not yet reviewed), all, or removed.

    Four queries whatever the page holds (counts, videos, authors, shops).
    """
    actor.require_operator()
    chosen = parse_filter(filter)
    if not isinstance(page, int) or page < 1:
        raise InvalidInput(_("Invalid page number."), code="bad_page")
    counts = _counts(db)
    total = counts[chosen]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    query = select(Video)
    if chosen == "flagged":
        query = query.where(Video.flagged.is_(True))
    elif chosen == "removed":
        query = query.where(Video.status == S.REMOVED)
    rows = list(
        db.scalars(
            query.order_by(Video.created_at.desc(), Video.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
            .execution_options(populate_existing=True)
        )
    )
    return ModerationPage(
        items=_items(db, rows), filter=chosen, page=page, pages=pages, total=total, counts=counts
    )


def _items(db: Session, rows: list[Video]) -> list[ModerationItem]:
    if not rows:
        return []
    users = accounts_service.users_by_ids(db, {v.author_id for v in rows})
    shops = merchants_service.shops_by_ids(db, {v.shop_id for v in rows if v.shop_id})
    return [
        ModerationItem(
            video=v,
            author_name=users[v.author_id].display_name if v.author_id in users else "",
            shop_name=shops[v.shop_id].name if v.shop_id in shops else None,
            caption_parts=screening.segments(v.caption, list(v.screening_hits or [])),
        )
        for v in rows
    ]


def count_flagged(db: Session, actor: Actor) -> int:
    """Operators: videos flagged and not yet reviewed (one query, for the dashboard)."""
    actor.require_operator()
    return int(
        db.scalar(select(func.count()).select_from(Video).where(Video.flagged.is_(True))) or 0
    )


def _locked(db: Session, video_id: int) -> Video:
    video = db.scalar(
        select(Video)
        .where(Video.id == video_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if video is None:
        raise NotFound(_("Video not found."), code="video_not_found")
    return video


def _clean_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidInput(
            _("The note is too long (at most %(n)s characters)."), code="note_too_long", n=NOTE_MAX
        )
    return text or None


def restore_video(db: Session, actor: Actor, video_id: int, *, note: str = "") -> Video:
    """Undo a removal: removed -> published, back in the feeds; 409 if it is not removed.

    The event row keeps who restored it and when (the removal's reason stays in history).
    """
    operator_id = cases_service.require_role(db, actor, "video_moderation")
    text = _clean_note(note)
    video = _locked(db, video_id)
    videos.transition(db, video, "restore", operator_id, text)
    video.removed_reason = None
    video.removed_by_id = None
    video.removed_at = None
    db.commit()
    return video


def clear_flag(db: Session, actor: Actor, video_id: int) -> Video:
    """Mark a flagged video reviewed: it stays as it is and leaves the queue; 409 if it is
    not flagged (another operator was first). The hits stay on the video for the record."""
    operator_id = cases_service.require_role(db, actor, "video_moderation")
    video = _locked(db, video_id)
    if not video.flagged:
        raise Conflict(_("This video is not waiting for review."), code="not_flagged")
    video.flagged = False
    videos.sync_flag_case(db, video, actor_id=operator_id)
    db.add(
        VideoEvent(
            video_id=video.id,
            actor_id=operator_id,
            action="reviewed",
            from_status=video.status.value,
            to_status=video.status.value,
            note="、".join(video.screening_hits or []) or None,
        )
    )
    db.commit()
    return video

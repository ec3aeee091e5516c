"""The short-video JSON API: feed, videos, likes, metric beacons, studio stats, removal."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from fastapi import File, Form, Query, Request, UploadFile, status
from fastapi.responses import Response
from pydantic import AfterValidator

from xiaodian import settings
from xiaodian.actor import Actor
from xiaodian.content import feed, metrics, moderation, video_files, videos
from xiaodian.content.schemas import (
    EventIn,
    EventOut,
    LikeOut,
    ModerationPageOut,
    RemoveIn,
    RestoreIn,
    StatsOut,
    StudioVideoOut,
    VideoOut,
    VideoPage,
    VideoPatch,
)
from xiaodian.errors import TooLarge, _
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import MAX_ID, Id, existing_ids

router = routing.router(
    tags=["videos"],
    responses=error_responses(
        401,
        403,
        404,
        409,
        413,
        422,
        descriptions={
            403: "Not allowed (e.g. not a creator)",
            404: "Unknown, not published, or someone else's",
            409: "Not possible in the video's state",
        },
    ),
)

VIEWER_COOKIE = "xd_vid"
VIEWER_ID = re.compile(r"^[0-9a-f]{32}$")

_CURSOR_NUMBERS = re.compile(r"^(-?[0-9]+)\.([0-9]+)$")


def _cursor_fits(value: str | None) -> str | None:
    """A cursor is "<rank>.<id>", both INTEGER columns: one with a number past them was
    never handed out, and is refused here rather than sent to the database."""
    found = _CURSOR_NUMBERS.match(value or "")
    if found and any(abs(int(number)) > MAX_ID for number in found.groups()):
        raise ValueError("not a cursor of this feed")
    return value


CursorQ = Annotated[
    str | None,
    Query(max_length=40, description="next_cursor of the last page"),
    AfterValidator(_cursor_fits),
]
LimitQ = Annotated[int, Query(ge=1, le=feed.FEED_MAX)]


def viewer_key(request: Request, actor: Actor) -> str:
    """Who is watching, for deduplicating metrics: the account, else the viewer cookie the
    feed page sets, else a hash of address and browser."""
    if actor.user_id is not None:
        return f"u:{actor.user_id}"
    cookie = request.cookies.get(VIEWER_COOKIE, "")
    if VIEWER_ID.match(cookie):
        return f"c:{cookie}"
    host = request.client.host if request.client else ""
    agent = request.headers.get("user-agent", "")[:300]
    return "a:" + hashlib.sha256(f"{host}|{agent}".encode()).hexdigest()[:40]


@router.get("/videos")
def list_videos(
    db: DbDep,
    actor: CurrentActor,
    cursor: CursorQ = None,
    limit: LimitQ = feed.FEED_DEFAULT,
    tag: Annotated[str | None, Query(max_length=40, description="a topic, without #")] = None,
    author: Annotated[Id | None, Query(description="a creator's own videos")] = None,
    shop: Annotated[Id | None, Query(description="a shop's videos")] = None,
) -> VideoPage:
    """The feed: published videos, newest first with a small boost for engagement."""
    page = feed.feed(db, actor, cursor=cursor, limit=limit, tag=tag, author_id=author, shop_id=shop)
    return VideoPage.of(page)


@router.post(
    "/videos",
    status_code=status.HTTP_201_CREATED,
)
def create_video(
    db: DbDep,
    actor: SignedIn,
    file: Annotated[UploadFile, File(description="MP4 or WebM, checked by content")],
    caption: Annotated[str, Form(max_length=1000)] = "",
    tags: Annotated[str, Form(max_length=300, description="#话题 separated by spaces")] = "",
    product_ids: Annotated[
        str, Form(max_length=2000, description="product ids or links, comma separated")
    ] = "",
    shop_id: Annotated[Id | None, Form(description="post for this shop")] = None,
    cover: Annotated[UploadFile | None, File(description="optional cover image")] = None,
) -> VideoOut:
    """Upload a short video with a caption, topics and up to 10 products (multipart)."""
    staged = video_files.stage_stream(file.file)
    try:
        cover_bytes = read_cover(cover)
        ids = existing_ids(videos.parse_product_refs(product_ids))
    except BaseException:
        staged.discard()
        raise
    video = videos.create_video(
        db,
        actor,
        video=staged,
        caption=caption,
        tags=tags,
        product_ids=ids,
        shop_id=shop_id,
        cover=cover_bytes,
    )
    return VideoOut.of(feed.get_video(db, actor, video.id))


def read_cover(cover: UploadFile | None) -> bytes | None:
    """The cover image's bytes (413 past the image limit); None when no file was chosen."""
    if cover is None or not cover.filename:
        return None
    limit = settings.current().max_image_bytes
    data = cover.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            _("The file is too large (at most %(mb)s MB)."), mb=round(limit / 1048576, 1)
        )
    return data or None


@router.get("/videos/{video_id}")
def get_video(db: DbDep, actor: CurrentActor, video_id: Id) -> VideoOut:
    """A published video (its author also sees it hidden or removed)."""
    return VideoOut.of(feed.get_video(db, actor, video_id))


@router.patch("/videos/{video_id}")
def update_video(db: DbDep, actor: SignedIn, video_id: Id, body: VideoPatch) -> VideoOut:
    """Change the caption, topics, products or hide/show your own video."""
    videos.update_video(
        db,
        actor,
        video_id,
        caption=body.caption,
        tags=body.tags,
        product_ids=body.product_ids,
        hidden=body.hidden,
    )
    return VideoOut.of(feed.get_video(db, actor, video_id))


@router.delete(
    "/videos/{video_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_video(db: DbDep, actor: SignedIn, video_id: Id) -> Response:
    """Delete your own video with its file."""
    videos.delete_video(db, actor, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/videos/{video_id}/like")
def like(db: DbDep, actor: SignedIn, video_id: Id) -> LikeOut:
    """Like a video (once per person; liking again changes nothing)."""
    liked, count = metrics.set_like(db, actor, video_id, liked=True)
    return LikeOut(liked=liked, like_count=count)


@router.delete("/videos/{video_id}/like")
def unlike(db: DbDep, actor: SignedIn, video_id: Id) -> LikeOut:
    """Take your like back."""
    liked, count = metrics.set_like(db, actor, video_id, liked=False)
    return LikeOut(liked=liked, like_count=count)


@router.post("/videos/{video_id}/events")
def record_event(
    request: Request, db: DbDep, actor: CurrentActor, video_id: Id, body: EventIn
) -> EventOut:
    """The page's metrics beacon (JSON only): a view, or a product card's impression or click.

    Repeats of the same viewer inside the window are not counted (views: 30 minutes).
    """
    counted = metrics.record_event(
        db,
        video_id=video_id,
        kind=body.type,
        viewer=viewer_key(request, actor),
        product_id=body.product_id,
    )
    return EventOut(counted=counted)


@router.get("/videos/{video_id}/stats")
def video_stats(db: DbDep, actor: SignedIn, video_id: Id) -> StatsOut:
    """Views, likes, and per product impressions and clicks, for the video's author."""
    return StatsOut.of(metrics.video_stats(db, actor, video_id))


@router.get("/me/videos")
def my_videos(
    db: DbDep,
    actor: SignedIn,
    shop: Annotated[Id | None, Query(description="your shop's videos")] = None,
) -> list[StudioVideoOut]:
    """Your videos in every status with their counters (or your shop's)."""
    return [StudioVideoOut.of(v) for v in feed.studio_videos(db, actor, shop_id=shop)]


@router.get("/products/{product_id}/videos")
def product_videos(
    db: DbDep, product_id: Id, limit: Annotated[int, Query(ge=1, le=feed.FEED_MAX)] = 6
) -> list[VideoOut]:
    """Published videos that feature a product (for its product page)."""
    return [VideoOut.of(v) for v in feed.videos_for_product(db, product_id, limit=limit)]


@router.post("/ops/videos/{video_id}/remove")
def remove_video(db: DbDep, actor: SignedIn, video_id: Id, body: RemoveIn) -> StudioVideoOut:
    """Operators: take a video down with a reason; it leaves every feed."""
    return StudioVideoOut.of(videos.remove_video(db, actor, video_id, reason=body.reason))


@router.get("/ops/videos")
def moderation_queue(
    db: DbDep,
    actor: SignedIn,
    filter: Annotated[
        Literal["flagged", "all", "removed"],
        Query(description="flagged: not yet reviewed; all; removed"),
    ] = "flagged",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> ModerationPageOut:
    """Operators: the moderation queue, newest first, with the caption's prohibited words."""
    return ModerationPageOut.of(moderation.moderation_queue(db, actor, filter=filter, page=page))


@router.post("/ops/videos/{video_id}/restore")
def restore_video(
    db: DbDep, actor: SignedIn, video_id: Id, body: RestoreIn | None = None
) -> StudioVideoOut:
    """Operators: undo a removal (removed -> published), recorded with who and when."""
    note = body.note if body is not None else ""
    return StudioVideoOut.of(moderation.restore_video(db, actor, video_id, note=note))


@router.post("/ops/videos/{video_id}/clear-flag")
def clear_flag(db: DbDep, actor: SignedIn, video_id: Id) -> StudioVideoOut:
    """Operators: mark a flagged video reviewed; it stays published and leaves the queue."""
    return StudioVideoOut.of(moderation.clear_flag(db, actor, video_id))

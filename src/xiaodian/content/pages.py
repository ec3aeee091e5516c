"""Short-video pages: the feed, topic pages, the creator studio and the shop's content page."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from xiaodian import settings
from xiaodian.actor import Actor
from xiaodian.content import feed, metrics, moderation, video_files, videos
from xiaodian.content.api import VIEWER_COOKIE, VIEWER_ID, read_cover
from xiaodian.content.models import Video
from xiaodian.errors import DomainError
from xiaodian.merchants import service as merchants_service
from xiaodian.web import forms, routing
from xiaodian.web.deps import CurrentActor, DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, existing_ids, form_id

router = routing.router(include_in_schema=False)

FIRST_PAGE = 5


def _with_viewer_cookie(request: Request, response: Response) -> Response:
    """Anonymous viewers get a random id so their views are counted once, not per request."""
    if not VIEWER_ID.match(request.cookies.get(VIEWER_COOKIE, "")):
        response.set_cookie(
            VIEWER_COOKIE,
            secrets.token_hex(16),
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookie_secure,
        )
    return response


def _feed_page(
    request: Request, items: list[feed.FeedVideo], next_cursor: str | None, **extra: Any
) -> Response:
    ctx = {"videos": items, "next_cursor": next_cursor, "tag": None, **extra}
    return _with_viewer_cookie(request, render(request, "content/feed.html", ctx))


@router.get("/videos")
def feed_index(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    page = feed.feed(db, actor, limit=FIRST_PAGE)
    return _feed_page(request, page.items, page.next_cursor)


@router.get("/videos/tag/{tag}")
def tag_feed(request: Request, db: DbDep, actor: CurrentActor, tag: str) -> Response:
    tag = videos.normalize_tag(tag)[: videos.TAG_MAX]
    page = feed.feed(db, actor, limit=FIRST_PAGE, tag=tag)
    return _feed_page(request, page.items, page.next_cursor, tag=tag)


@router.get("/videos/{video_id}")
def video(request: Request, db: DbDep, actor: CurrentActor, video_id: Id) -> Response:
    """A shareable link: the feed opened at this video, continuing after it."""
    first = feed.get_video(db, actor, video_id)
    page = feed.feed(db, actor, limit=FIRST_PAGE, cursor=first.cursor)
    return _feed_page(request, [first, *page.items], page.next_cursor, shared=first)


# --- studio -------------------------------------------------------------------------------


@router.get("/studio/videos")
def studio(request: Request, db: DbDep, actor: PageUser) -> Response:
    mine = feed.studio_videos(db, actor)
    shops = merchants_service.my_shops(db, actor)
    return render(request, "content/studio.html", {"videos": mine, "shops": shops})


def _form_ctx(db: DbDep, actor: Actor, shop_id: int | None, **extra: Any) -> dict[str, Any]:
    shops = merchants_service.my_shops(db, actor)
    if shop_id is None and not actor.is_creator and shops:
        shop_id = shops[0].id
    choices = videos.shop_product_choices(db, actor, shop_id) if shop_id else []
    return {
        "shops": shops,
        "shop_id": shop_id,
        "choices": choices,
        "max_mb": round(settings.current().max_video_bytes / 1048576),
        "form": {},
        **extra,
    }


@router.get("/studio/videos/new")
def new_video_form(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop: Annotated[Id | None, Query()] = None,
) -> Response:
    ctx = _form_ctx(db, actor, shop)
    if ctx["shop_id"] is None and not actor.is_creator:
        ctx["error"] = request.state.gettext(
            "Only creators, or merchants for their shop, can post videos."
        )
        return render(request, "content/upload.html", ctx, status_code=403)
    return render(request, "content/upload.html", ctx)


def _upload(
    request: Request,
    db: DbDep,
    actor: Actor,
    *,
    file: UploadFile,
    cover: UploadFile | None,
    caption: str,
    tags: str,
    products: list[str],
    product_refs: str,
    shop_id: int | None,
    template: str,
    extra: dict[str, Any],
) -> Response:
    def post() -> Video:
        staged = video_files.stage_stream(file.file)
        try:
            cover_bytes = read_cover(cover)
            ids = existing_ids(videos.parse_product_refs([*products, product_refs]))
            return videos.create_video(
                db,
                actor,
                video=staged,
                caption=caption,
                tags=tags,
                product_ids=ids,
                shop_id=shop_id,
                cover=cover_bytes,
            )
        except DomainError:
            staged.discard()
            raise

    target = f"/merchant/shops/{shop_id}/content" if extra.get("shop") else "/studio/videos"
    form = {
        "caption": caption,
        "tags": tags,
        "products": set(products),
        "product_refs": product_refs,
    }
    return forms.submit(
        request,
        db,
        post,
        done=lambda created: f"{target}?posted={created.id}",
        template=template,
        context=lambda: _form_ctx(db, actor, shop_id, **extra),
        values={"form": form},
    )


UploadField = Annotated[UploadFile, File()]
CoverField = Annotated[UploadFile | None, File()]
CaptionField = Annotated[str, Form(max_length=1000)]
TagsField = Annotated[str, Form(max_length=300)]
ProductsField = Annotated[list[str], Form()]
RefsField = Annotated[str, Form(max_length=2000)]


@router.post("/studio/videos/new")
def new_video(
    request: Request,
    db: DbDep,
    actor: PageUser,
    file: UploadField,
    cover: CoverField = None,
    caption: CaptionField = "",
    tags: TagsField = "",
    products: ProductsField = [],  # noqa: B006 (FastAPI copies defaults)
    product_refs: RefsField = "",
    shop_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        shop = form_id(shop_id)
    except ValueError:
        shop = None  # posted as the creator
    return _upload(
        request,
        db,
        actor,
        file=file,
        cover=cover,
        caption=caption,
        tags=tags,
        products=products,
        product_refs=product_refs,
        shop_id=shop,
        template="content/upload.html",
        extra={},
    )


EDIT = "content/edit.html"


def _studio_ctx(db: DbDep, actor: Actor, video_id: int, **extra: Any) -> dict[str, Any]:
    stats = metrics.video_stats(db, actor, video_id)
    video = stats.video
    attached = videos.video_products(db, video_id)
    choices = videos.shop_product_choices(db, actor, video.shop_id) if video.shop_id else []
    return {
        "video": video,
        "stats": stats,
        "attached": attached,
        "choices": choices,
        "history": videos.video_history(db, actor, video_id),
        **extra,
    }


@router.get("/studio/videos/{video_id}")
def edit_video_form(request: Request, db: DbDep, actor: PageUser, video_id: Id) -> Response:
    return render(request, EDIT, _studio_ctx(db, actor, video_id))


@router.post("/studio/videos/{video_id}")
def edit_video(
    request: Request,
    db: DbDep,
    actor: PageUser,
    video_id: Id,
    caption: CaptionField = "",
    tags: TagsField = "",
    products: ProductsField = [],  # noqa: B006 (FastAPI copies defaults)
    product_refs: RefsField = "",
) -> Response:
    def save() -> None:
        ids = existing_ids(videos.parse_product_refs([*products, product_refs]))
        videos.update_video(db, actor, video_id, caption=caption, tags=tags, product_ids=ids)

    return forms.submit(
        request,
        db,
        save,
        done=f"/studio/videos/{video_id}?saved=1",
        template=EDIT,
        context=lambda: _studio_ctx(db, actor, video_id),
    )


@router.post("/studio/videos/{video_id}/visibility")
def set_visibility(
    request: Request,
    db: DbDep,
    actor: PageUser,
    video_id: Id,
    hidden: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: videos.update_video(db, actor, video_id, hidden=hidden == "1"),
        done=f"/studio/videos/{video_id}",
        template=EDIT,
        context=lambda: _studio_ctx(db, actor, video_id),
    )


@router.post("/studio/videos/{video_id}/delete")
def delete_video(request: Request, db: DbDep, actor: PageUser, video_id: Id) -> Response:
    def delete() -> int | None:
        shop_id = videos.managed_video(db, actor, video_id).shop_id
        videos.delete_video(db, actor, video_id)
        return shop_id

    return forms.submit(
        request,
        db,
        delete,
        done=lambda shop_id: f"/merchant/shops/{shop_id}/content" if shop_id else "/studio/videos",
        template=EDIT,
        context=lambda: _studio_ctx(db, actor, video_id),
    )


# --- merchant console ---------------------------------------------------------------------


@router.get("/merchant/shops/{shop_id}/content")
def shop_content(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    shop_videos: list[Video] = feed.studio_videos(db, actor, shop_id=shop_id)
    ctx = {"shop": shop, "section": "content", "videos": shop_videos}
    return render(request, "content/shop_content.html", ctx)


@router.get("/merchant/shops/{shop_id}/content/videos/new")
def shop_video_form(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    ctx = _form_ctx(db, actor, shop_id, shop=shop, section="content")
    return render(request, "content/shop_upload.html", ctx)


@router.post("/merchant/shops/{shop_id}/content/videos/new")
def shop_video(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    file: UploadField,
    cover: CoverField = None,
    caption: CaptionField = "",
    tags: TagsField = "",
    products: ProductsField = [],  # noqa: B006 (FastAPI copies defaults)
    product_refs: RefsField = "",
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    return _upload(
        request,
        db,
        actor,
        file=file,
        cover=cover,
        caption=caption,
        tags=tags,
        products=products,
        product_refs=product_refs,
        shop_id=shop_id,
        template="content/shop_upload.html",
        extra={"shop": shop, "section": "content"},
    )


# --- operators: moderation ----------------------------------------------------------------


def _queue_url(filter: str, page: int, **extra: str) -> str:
    query = urlencode({"filter": filter, "page": page, **extra})
    return f"/ops/videos?{query}"


MODERATION = "content/ops_videos.html"


def _moderation_ctx(db: DbDep, actor: Actor, *, filter: str, page: int) -> dict[str, Any]:
    queue = moderation.moderation_queue(db, actor, filter=filter, page=page)
    return {"section": "videos", "queue": queue}


@router.get("/ops/videos")
def moderation_queue(
    request: Request,
    db: DbDep,
    actor: PageUser,
    filter: Annotated[str, Query(max_length=10)] = "flagged",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Operators: flagged / all / removed videos, newest first, playable inline."""
    return render(request, MODERATION, _moderation_ctx(db, actor, filter=filter, page=page))


FilterField = Annotated[str, Form(max_length=10)]
PageField = Annotated[int, Form(ge=1, le=100_000)]


def _decide(
    request: Request,
    db: DbDep,
    actor: Actor,
    action: Callable[[], object],
    *,
    filter: str,
    page: int,
    done: str,
) -> Response:
    """Run one moderation action; on a domain error show the queue again with the message."""
    return forms.submit(
        request,
        db,
        action,
        done=_queue_url(filter, page, done=done),
        template=MODERATION,
        context=lambda: _moderation_ctx(db, actor, filter=filter, page=page),
    )


@router.post("/ops/videos/{video_id}/remove")
def remove_video(
    request: Request,
    db: DbDep,
    actor: PageUser,
    video_id: Id,
    reason: Annotated[str, Form(max_length=1000)] = "",
    filter: FilterField = "flagged",
    page: PageField = 1,
) -> Response:
    return _decide(
        request,
        db,
        actor,
        lambda: videos.remove_video(db, actor, video_id, reason=reason),
        filter=filter,
        page=page,
        done="removed",
    )


@router.post("/ops/videos/{video_id}/restore")
def restore_video(
    request: Request,
    db: DbDep,
    actor: PageUser,
    video_id: Id,
    note: Annotated[str, Form(max_length=1000)] = "",
    filter: FilterField = "removed",
    page: PageField = 1,
) -> Response:
    return _decide(
        request,
        db,
        actor,
        lambda: moderation.restore_video(db, actor, video_id, note=note),
        filter=filter,
        page=page,
        done="restored",
    )


@router.post("/ops/videos/{video_id}/clear-flag")
def clear_flag(
    request: Request,
    db: DbDep,
    actor: PageUser,
    video_id: Id,
    filter: FilterField = "flagged",
    page: PageField = 1,
) -> Response:
    return _decide(
        request,
        db,
        actor,
        lambda: moderation.clear_flag(db, actor, video_id),
        filter=filter,
        page=page,
        done="reviewed",
    )

"""Posting and editing short videos, and the status machine they move through.

Who may post: a shop's owner or staff, for that shop (attaching only that shop's products
on sale), and a creator (``User.is_creator``), for themself (attaching any product on sale).
Everyone else gets 403; another person's video is "not found" (404) for every change.

Status machine (``TRANSITIONS``, checked by ``xiaodian.transitions``)::

    published ──hide──► hidden ──show──► published       (the author)
    published / hidden ──remove──► removed               (an operator, with a reason)
    removed ──restore──► published                       (an operator)

Captions are screened for prohibited words; hits publish anyway, are stored on the video
and flag it for the operators' moderation queue (``content/moderation.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xiaodian import clock, media, transitions
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.catalog import service as catalog_service
from xiaodian.catalog.service import Product, ProductStatus
from xiaodian.content import video_files
from xiaodian.content.models import Video, VideoEvent, VideoProduct, VideoStatus, VideoTag
from xiaodian.content.video_files import StagedVideo
from xiaodian.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied, TooLarge, _
from xiaodian.transitions import Transition

S = VideoStatus

CAPTION_MAX = 200
MAX_TAGS = 5
TAG_MAX = 20
MAX_PRODUCTS = 10
REASON_MAX = 200


# action -> (states it may start from, state it leads to). The one table of the machine.
TRANSITIONS: dict[str, Transition[VideoStatus]] = {
    "hide": Transition(frozenset({S.PUBLISHED}), S.HIDDEN),
    "show": Transition(frozenset({S.HIDDEN}), S.PUBLISHED),
    "remove": Transition(frozenset({S.PUBLISHED, S.HIDDEN}), S.REMOVED),
    "restore": Transition(frozenset({S.REMOVED}), S.PUBLISHED),  # an operator undoes a removal
}


_TAG_SPLIT = re.compile(r"[\s,，、#＃;；]+")
_TAG_DROP = re.compile(r"[^\w]")
_PRODUCT_REF = re.compile(r"(?:/p/)?(\d{1,12})/?$")


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
        sync_flag_case(db, row)
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


def managed_video(db: Session, actor: Actor, video_id: int) -> Video:
    """A video the actor may change (and see in the studio pages): their own, or their
    shop's. Anyone else: NotFound."""
    user_id = actor.require_user()
    video = db.get(Video, video_id, populate_existing=True)
    if video is None or not (
        video.author_id == user_id
        or (video.shop_id is not None and actor.can_manage_shop(video.shop_id))
    ):
        raise NotFound(_("Video not found."), code="video_not_found")
    return video


def transition(db: Session, video: Video, action: str, actor_id: int, note: str | None) -> None:
    """Move the video by ``action`` of the table, with its event row; IllegalTransition (409)
    from any other state. Joins the caller's transaction (content's use cases, moderation)."""
    removed = video.status == S.REMOVED
    target = transitions.check(
        TRANSITIONS,
        action,
        video.status,
        _("This video was removed by the platform and cannot be changed.")
        if removed
        else _("This video cannot be %(action)s now (it is %(status)s)."),
        code="video_removed" if removed else IllegalTransition.code,
        action=action,
        status=video.status.value,
    ).target
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
    video = managed_video(db, actor, video_id)
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
        transition(db, video, "hide" if hidden else "show", user_id, None)
    if new_caption is not None and new_caption != video.caption:
        video.caption = new_caption
        video.screening_hits = screen_caption(new_caption)
        video.flagged = bool(video.screening_hits)  # a changed caption is looked at again
        sync_flag_case(db, video)
    if new_tags is not None:
        set_video_tags(db, video, new_tags)
    if new_products is not None:
        set_video_products(db, video, new_products)
    video.updated_at = clock.now()
    db.commit()
    return video


def delete_video(db: Session, actor: Actor, video_id: int) -> None:
    """The author (or the shop) deletes a video for good, with its files and metrics."""
    video = managed_video(db, actor, video_id)
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
    operator_id = cases_service.require_role(db, actor, "video_moderation")
    reason = _check_reason(reason)
    video = db.get(Video, video_id, populate_existing=True)
    if video is None:
        raise NotFound(_("Video not found."), code="video_not_found")
    transition(db, video, "remove", operator_id, reason)
    video.removed_reason = reason
    video.removed_by_id = operator_id
    video.removed_at = clock.now()
    video.flagged = False
    sync_flag_case(db, video, actor_id=operator_id, outcome="removed")
    db.commit()
    return video


def video_history(db: Session, actor: Actor, video_id: int) -> list[VideoEvent]:
    """Status history, oldest first, for the author (or shop) and operators."""
    if not actor.is_operator:
        managed_video(db, actor, video_id)
    return list(
        db.scalars(
            select(VideoEvent)
            .where(VideoEvent.video_id == video_id)
            .order_by(VideoEvent.at, VideoEvent.id)
        )
    )


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


def shop_product_choices(db: Session, actor: Actor, shop_id: int) -> list[Product]:
    """The shop's products on sale, for the upload form's product picker."""
    page = catalog_service.list_shop_products(
        db, actor, shop_id, status=ProductStatus.ON_SALE, per_page=100
    )
    return page.items


def sync_flag_case(
    db: Session, video: Video, *, actor_id: int | None = None, outcome: str = "reviewed"
) -> None:
    """A flagged video waits in the operators' moderation queue; an unflagged one leaves
    it. Joins the caller's transaction."""
    key = f"video:{video.id}"
    if video.flagged:
        cases_service.open_case(
            db,
            "video_moderation",
            key,
            title=(video.caption or "")[:80] or key,
            link=f"/ops/videos?filter=flagged#video-{video.id}",
            shop_id=video.shop_id,
        )
    else:
        cases_service.close_case(db, "video_moderation", key, outcome=outcome, actor_id=actor_id)

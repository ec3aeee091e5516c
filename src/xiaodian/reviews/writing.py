"""The buyer's review of a completed order, its one follow-up, and the merchant's one reply.

Each is one transaction: first every check (nothing written, no file stored), then the
photos are stored and the rows written; on any error the transaction rolls back and the
photos stored for it are removed (``merchants.uploads``, the shops' all-or-nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.merchants import uploads
from xiaodian.orders import service as orders_service
from xiaodian.reviews import figures, service
from xiaodian.reviews.models import Review, ReviewItem


@dataclass(frozen=True)
class LineReview:
    """What the buyer says of one order line."""

    line_id: int
    stars: int
    text: str = ""
    photos: Sequence[bytes] = field(default_factory=tuple)


def _photo_rows(stored: dict[str, media.StoredImage], prefix: str) -> list[dict[str, str]]:
    keys = sorted((k for k in stored if k.startswith(prefix)), key=lambda k: int(k.split(":")[1]))
    return [{"path": stored[k].path, "thumb": stored[k].thumb_path} for k in keys]


def _store(photos: dict[str, Sequence[bytes]]) -> dict[str, media.StoredImage]:
    """Each photo under "<prefix>:<n>", all or nothing."""
    return uploads.store(
        {
            f"{prefix}:{n}": (data, service.PHOTO_FOLDER)
            for prefix, datas in photos.items()
            for n, data in enumerate(datas)
        }
    )


def _completed_order(db: Session, actor: Actor, order_no: str) -> orders_service.Order:
    """The signed-in buyer's completed order (another's is "not found")."""
    order = orders_service.get_my_order(db, actor, order_no)
    if order.status != orders_service.OrderStatus.COMPLETED or order.completed_at is None:
        raise Conflict(
            _("An order can be reviewed once it is completed."), code="order_not_completed"
        )
    return order


def create_review(
    db: Session,
    actor: Actor,
    order_no: str,
    *,
    lines: Sequence[LineReview],
    service_stars: int,
    logistics_stars: int,
    anonymous: bool = False,
) -> Review:
    """The buyer reviews a completed order: every line once (stars 1-5, text, up to nine
    photos), the shop's service and the logistics (1-5), within 15 days of completion.
    The product's and the shop's figures change in the same transaction.

    Raises NotFound (not the buyer's order, or an unknown line), Conflict (not completed,
    the window has closed, reviewed already), InvalidInput (stars, text, photos)."""
    order = _completed_order(db, actor, order_no)
    assert order.completed_at is not None
    if clock.now() > service.review_deadline(order.completed_at):
        raise Conflict(
            _("Reviews are accepted within %(days)s days of completion."),
            code="review_window_closed",
            days=service.REVIEW_DAYS,
        )
    if service.review_of_order(db, order_id=order.id) is not None:
        raise Conflict(_("This order has been reviewed already."), code="already_reviewed")
    service.check_stars(service_stars, _("Shop service"))
    service.check_stars(logistics_stars, _("Logistics"))
    by_line = {line.id: line for line in order.lines}
    seen = [line.line_id for line in lines]
    unknown = [i for i in seen if i not in by_line]
    if unknown:
        raise NotFound(_("That item is not in this order."), code="line_not_found")
    if sorted(seen) != sorted(by_line):
        raise InvalidInput(_("Rate every item of the order once."), code="lines_incomplete")
    texts: dict[int, str] = {}
    for line in lines:
        service.check_stars(line.stars, by_line[line.line_id].title)
        texts[line.line_id] = service.clean_text(line.text, service.MAX_TEXT)
        service.check_photo_count(len(line.photos))
    stored = _store({f"line{line.line_id}": line.photos for line in lines})
    with uploads.all_or_nothing(db, stored):
        review = Review(
            order_id=order.id,
            order_no=order.order_no,
            buyer_id=order.buyer_id,
            shop_id=order.shop_id,
            author_name=service.author_name(actor.display_name, anonymous=anonymous),
            anonymous=anonymous,
            service_stars=service_stars,
            logistics_stars=logistics_stars,
            created_at=clock.now(),
        )
        for line in sorted(lines, key=lambda x: x.line_id):
            ordered = by_line[line.line_id]
            photos = _photo_rows(stored, f"line{line.line_id}:")
            review.items.append(
                ReviewItem(
                    order_line_id=ordered.id,
                    product_id=ordered.product_id,
                    shop_id=order.shop_id,
                    title=ordered.title,
                    spec_text=ordered.spec_text,
                    stars=line.stars,
                    text=texts[line.line_id],
                    photos=photos,
                    has_photos=bool(photos),
                    hits=service.screened(texts[line.line_id]),
                    follow_up_photos=[],
                    created_at=review.created_at,
                )
            )
        db.add(review)
        try:
            db.flush()
        except IntegrityError:  # a racing request reviewed the order first
            raise Conflict(
                _("This order has been reviewed already."), code="already_reviewed"
            ) from None
        figures.count_review(db, review)
        db.commit()
    return review


def add_follow_up(
    db: Session, actor: Actor, item_id: int, *, text: str, photos: Sequence[bytes] = ()
) -> ReviewItem:
    """The buyer adds the one follow-up (追评) to a reviewed line, within 90 days of the
    order's completion. Raises NotFound (not the buyer's), Conflict (one already, or too
    late), InvalidInput (no text, too long, too many photos)."""
    user_id = actor.require_user()
    item = service.get_item(db, item_id, lock=True)
    if item.review.buyer_id != user_id:
        raise NotFound(_("Review not found."), code="review_not_found")
    if item.follow_up_at is not None:
        raise Conflict(_("A review has one follow-up."), code="follow_up_exists")
    order = _completed_order(db, actor, item.review.order_no)
    assert order.completed_at is not None
    if clock.now() > service.follow_up_deadline(order.completed_at):
        raise Conflict(
            _("A follow-up is accepted within %(days)s days of completion."),
            code="follow_up_window_closed",
            days=service.FOLLOW_UP_DAYS,
        )
    text = service.clean_text(text, service.MAX_TEXT)
    if not text:
        raise InvalidInput(_("Write the follow-up."), code="text_required")
    service.check_photo_count(len(photos))
    stored = _store({"follow": photos})
    with uploads.all_or_nothing(db, stored):
        gained_photos = bool(stored) and not item.has_photos
        item.follow_up_text = text
        item.follow_up_photos = _photo_rows(stored, "follow:")
        item.follow_up_at = clock.now()
        item.hits = list(dict.fromkeys([*item.hits, *service.screened(text)]))
        if gained_photos:
            item.has_photos = True
            figures.count_new_photos(db, item)
        db.commit()
    return item


def reply(db: Session, actor: Actor, shop_id: int, item_id: int, *, text: str) -> ReviewItem:
    """The shop answers a review, once (a conditional UPDATE: two racing replies, one
    wins). Raises NotFound (not the shop's staff, or another shop's review), Conflict
    (answered already), InvalidInput (empty or too long)."""
    actor.require_shop(shop_id)
    item = service.get_item(db, item_id)
    if item.shop_id != shop_id:
        raise NotFound(_("Review not found."), code="review_not_found")
    text = service.clean_text(text, service.MAX_REPLY)
    if not text:
        raise InvalidInput(_("Write the reply."), code="text_required")
    result = db.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item.id, ReviewItem.reply_at.is_(None))
        .values(reply_text=text, reply_by=actor.user_id, reply_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        db.rollback()
        raise Conflict(_("The shop has replied to this review already."), code="already_replied")
    db.commit()
    db.refresh(item)
    return item

"""Reviews: the domain's face. The reads other domains use (a product's and a shop's
figures, the stars health counts), the re-exported row types and the rules every use case
shares. The use cases live beside it: ``writing.py`` (the buyer's review, the follow-up,
the merchant's reply), ``browse.py`` (the product's reviews, helpful votes, the shop's
list), ``figures.py`` (the counts kept per product and shop, and their check).

Only the buyer of a completed order may review it: orders is asked (``get_my_order``), and
orders imports nothing of reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.catalog import screening
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.reviews.models import ProductReviewFigures, ReviewItem, ShopReviewFigures
from xiaodian.reviews.models import Review as Review  # re-exported: other domains use this

REVIEW_DAYS = 15  # a review within 15 days of the order's completion
FOLLOW_UP_DAYS = 90  # one follow-up within 90 days of it
MAX_PHOTOS = 9
MAX_TEXT = 500
MAX_REPLY = 500
PHOTO_FOLDER = "reviews"
ANONYMOUS_NAME = "匿名用户"


def check_stars(value: object, what: str) -> int:
    """1 to 5 whole stars; InvalidInput naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InvalidInput(_("%(what)s: choose 1 to 5 stars."), code="bad_stars", what=what)
    return value


def clean_text(value: object, limit: int) -> str:
    """Text as typed, trimmed; InvalidInput beyond ``limit`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(_("Invalid text."), code="bad_text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(
            _("The text is too long (at most %(n)s characters)."), code="text_too_long", n=limit
        )
    return value


def check_photo_count(count: int) -> None:
    if count > MAX_PHOTOS:
        raise InvalidInput(
            _("A review can have at most %(n)s photos."), code="too_many_photos", n=MAX_PHOTOS
        )


def screened(text: str) -> list[str]:
    """The prohibited words in a review's text: catalog's screening, the same list."""
    return screening.find_hits(text)


def masked(text: str, hits: list[str]) -> str:
    """The text with each prohibited word shown as ＊ (a review is published at once, so
    the words a product's reviewer would judge are hidden from buyers instead)."""
    return "".join(
        "＊" * len(piece) if is_hit else piece for piece, is_hit in screening.segments(text, hits)
    )


def author_name(display_name: str, *, anonymous: bool) -> str:
    """ "匿名用户", or the first character of the name and two stars (张**)."""
    name = display_name.strip()
    if anonymous or not name:
        return ANONYMOUS_NAME
    return f"{name[0]}**"


def review_deadline(completed_at: datetime) -> datetime:
    return completed_at + timedelta(days=REVIEW_DAYS)


def follow_up_deadline(completed_at: datetime) -> datetime:
    return completed_at + timedelta(days=FOLLOW_UP_DAYS)


def get_item(db: Session, item_id: int, *, lock: bool = False) -> ReviewItem:
    query = select(ReviewItem).where(ReviewItem.id == item_id)
    item = db.scalar(query.with_for_update() if lock else query)
    if item is None:
        raise NotFound(_("Review not found."), code="review_not_found")
    return item


def review_of_order(db: Session, *, order_id: int) -> Review | None:
    """The order's review, if written. Joins the caller's transaction (read only)."""
    return db.scalar(select(Review).where(Review.order_id == order_id))


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class ProductFigures:
    product_id: int
    review_count: int
    star_sum: int
    photo_count: int

    @property
    def average(self) -> float | None:
        """Average stars to one decimal, None with no review."""
        if not self.review_count:
            return None
        return round(self.star_sum / self.review_count, 1)


def product_figures(db: Session, *, product_id: int) -> ProductFigures:
    """A product's review figures: one row, read as kept. Joins the caller's transaction."""
    row = db.get(ProductReviewFigures, product_id)
    if row is None:
        return ProductFigures(product_id, 0, 0, 0)
    return ProductFigures(product_id, row.review_count, row.star_sum, row.photo_count)


@dataclass(frozen=True)
class ShopFigures:
    shop_id: int
    review_count: int
    service_star_sum: int
    logistics_star_sum: int
    item_count: int
    product_star_sum: int

    def average(self, which: str) -> float | None:
        count = self.item_count if which == "product" else self.review_count
        total = getattr(self, f"{which}_star_sum")
        return round(total / count, 1) if count else None


def shop_figures(db: Session, *, shop_id: int) -> ShopFigures:
    """A shop's review figures: one row. Joins the caller's transaction (read only)."""
    row = db.get(ShopReviewFigures, shop_id)
    if row is None:
        return ShopFigures(shop_id, 0, 0, 0, 0, 0)
    return ShopFigures(
        shop_id,
        row.review_count,
        row.service_star_sum,
        row.logistics_star_sum,
        row.item_count,
        row.product_star_sum,
    )


# --------------------------------------------------------------------------- health


@dataclass(frozen=True)
class StarFact:
    """One reviewed product line, for the shop's health: its stars and when."""

    shop_id: int
    order_no: str
    title: str
    stars: int
    at: datetime


def star_facts(
    db: Session, *, since: datetime, shop_ids: list[int] | None = None
) -> list[StarFact]:
    """Reviewed product lines written since ``since``, oldest first, for every shop (or
    these). One query. Joins the caller's transaction (read only)."""
    query = (
        select(
            ReviewItem.shop_id,
            Review.order_no,
            ReviewItem.title,
            ReviewItem.stars,
            ReviewItem.created_at,
        )
        .join(Review, Review.id == ReviewItem.review_id)
        .where(ReviewItem.created_at >= since)
        .order_by(ReviewItem.created_at, ReviewItem.id)
    )
    if shop_ids is not None:
        query = query.where(ReviewItem.shop_id.in_(shop_ids))
    return [StarFact(*row) for row in db.execute(query)]

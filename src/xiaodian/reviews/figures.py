"""The figures kept per product and per shop: counts and star sums, changed in the
transaction that writes a review, and the check that recomputes them from the reviews.

Each change is one INSERT ... ON CONFLICT DO UPDATE adding to the row, so two reviews of
one product at once both count: nothing is read and written back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian.reviews.models import ProductReviewFigures, Review, ReviewItem, ShopReviewFigures


def _add(db: Session, model: Any, key: str, key_value: int, deltas: dict[str, int]) -> None:
    """INSERT the row with ``deltas``, or add them to the row there: one statement."""
    dialect = db.get_bind().dialect.name
    stmt = (postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)).values(
        {key: key_value, **deltas}
    )
    db.execute(
        stmt.on_conflict_do_update(
            index_elements=[key],
            set_={name: getattr(model, name) + delta for name, delta in deltas.items()},
        )
    )


def count_review(db: Session, review: Review) -> None:
    """Add a new review and its items to the product and shop figures. Joins the caller's
    transaction."""
    items = review.items
    _add(
        db,
        ShopReviewFigures,
        "shop_id",
        review.shop_id,
        {
            "review_count": 1,
            "service_star_sum": review.service_stars,
            "logistics_star_sum": review.logistics_stars,
            "item_count": len(items),
            "product_star_sum": sum(i.stars for i in items),
        },
    )
    for item in sorted(items, key=lambda i: i.product_id):  # a fixed order: no deadlock
        _add(
            db,
            ProductReviewFigures,
            "product_id",
            item.product_id,
            {"review_count": 1, "star_sum": item.stars, "photo_count": int(item.has_photos)},
        )


def count_new_photos(db: Session, item: ReviewItem) -> None:
    """An item without photos gained some (a follow-up's): one more "with photos". The
    product's row exists: the item was counted when its review was written."""
    db.execute(
        update(ProductReviewFigures)
        .where(ProductReviewFigures.product_id == item.product_id)
        .values(photo_count=ProductReviewFigures.photo_count + 1)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Mismatch:
    """A figures row that disagrees with the reviews: what is kept, what they add up to."""

    table: str
    key: int
    kept: tuple[int, ...]
    counted: tuple[int, ...]


def check_figures(db: Session) -> list[Mismatch]:
    """Recompute every product's and shop's figures from the reviews and name each row that
    disagrees (a missing row counts as zeros). Four queries. Read only."""
    out: list[Mismatch] = []
    photo = case((ReviewItem.has_photos, 1), else_=0)
    counted = {
        row[0]: tuple(int(v) for v in row[1:])
        for row in db.execute(
            select(
                ReviewItem.product_id,
                func.count(),
                func.sum(ReviewItem.stars),
                func.sum(photo),
            ).group_by(ReviewItem.product_id)
        )
    }
    kept: dict[int, tuple[int, ...]] = {
        r.product_id: (r.review_count, r.star_sum, r.photo_count)
        for r in db.scalars(select(ProductReviewFigures))
    }
    out += _compare("product_review_figures", kept, counted)
    items = (
        select(
            ReviewItem.review_id,
            func.count().label("n"),
            func.sum(ReviewItem.stars).label("stars"),
        )
        .group_by(ReviewItem.review_id)
        .subquery()
    )
    shop_counted = {
        row[0]: tuple(int(v or 0) for v in row[1:])
        for row in db.execute(
            select(
                Review.shop_id,
                func.count(),
                func.sum(Review.service_stars),
                func.sum(Review.logistics_stars),
                func.sum(items.c.n),
                func.sum(items.c.stars),
            )
            .join(items, items.c.review_id == Review.id, isouter=True)
            .group_by(Review.shop_id)
        )
    }
    shop_kept: dict[int, tuple[int, ...]] = {
        r.shop_id: (
            r.review_count,
            r.service_star_sum,
            r.logistics_star_sum,
            r.item_count,
            r.product_star_sum,
        )
        for r in db.scalars(select(ShopReviewFigures))
    }
    out += _compare("shop_review_figures", shop_kept, shop_counted)
    return out


def _compare(
    table: str, kept: dict[int, tuple[int, ...]], counted: dict[int, tuple[int, ...]]
) -> list[Mismatch]:
    width = len(next(iter({**kept, **counted}.values()), ()))
    zeros = (0,) * width
    return [
        Mismatch(table, key, kept.get(key, zeros), counted.get(key, zeros))
        for key in sorted(set(kept) | set(counted))
        if kept.get(key, zeros) != counted.get(key, zeros)
    ]

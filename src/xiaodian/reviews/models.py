"""Tables of the reviews domain: a review per completed order, an item per order line, the
helpful votes, and the figures kept per product and per shop.

The figures (counts and star sums) change in the transaction that writes a review, so a
product page reads its average from one row; ``figures.check_figures`` recomputes them
from the reviews and names any row that disagrees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian import clock
from xiaodian.db import Base


def _stars(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} BETWEEN 1 AND 5", name=f"{column}_range")


class Review(Base):
    """The buyer's review of one completed order: the shop's service and the logistics."""

    __tablename__ = "reviews"
    __table_args__ = (
        _stars("service_stars"),
        _stars("logistics_stars"),
        Index("ix_reviews_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    order_no: Mapped[str] = mapped_column(String(24))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    # The name shown, as it was when the review was written ("匿名用户" when anonymous).
    author_name: Mapped[str] = mapped_column(String(40))
    anonymous: Mapped[bool] = mapped_column(default=False)
    service_stars: Mapped[int]
    logistics_stars: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    items: Mapped[list[ReviewItem]] = relationship(
        order_by="ReviewItem.id",
        cascade="all, delete-orphan",
        lazy="selectin",
        back_populates="review",
    )


class ReviewItem(Base):
    """One product line's stars, text and photos, its one follow-up and the one reply."""

    __tablename__ = "review_items"
    __table_args__ = (
        _stars("stars"),
        CheckConstraint("helpful_count >= 0", name="helpful_nonnegative"),
        Index("ix_review_items_product_created", "product_id", "created_at"),
        Index("ix_review_items_product_helpful", "product_id", "helpful_count"),
        Index("ix_review_items_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    title: Mapped[str] = mapped_column(String(120))  # the line's title and spec, as bought
    spec_text: Mapped[str] = mapped_column(String(200), default="")
    stars: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"path": ..., "thumb": ...}], at most nine.
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    has_photos: Mapped[bool] = mapped_column(default=False)  # photos or follow-up photos
    # Prohibited words found in the text (shown masked), as catalog's screening finds them.
    hits: Mapped[list[str]] = mapped_column(JSON, default=list)
    follow_up_text: Mapped[str | None] = mapped_column(Text)
    follow_up_photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    follow_up_at: Mapped[datetime | None]
    reply_text: Mapped[str | None] = mapped_column(Text)
    reply_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reply_at: Mapped[datetime | None]
    helpful_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    review: Mapped[Review] = relationship(back_populates="items", lazy="joined", innerjoin=True)


class HelpfulVote(Base):
    """One user's "helpful" on one review item (the UNIQUE makes it one, even racing)."""

    __tablename__ = "review_helpful_votes"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class ProductReviewFigures(Base):
    """A product's review count, star sum and items with photos."""

    __tablename__ = "product_review_figures"
    __table_args__ = (
        CheckConstraint(
            "star_sum BETWEEN review_count AND 5 * review_count", name="star_sum_range"
        ),
        CheckConstraint(
            "photo_count >= 0 AND photo_count <= review_count", name="photo_count_range"
        ),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    review_count: Mapped[int] = mapped_column(default=0)
    star_sum: Mapped[int] = mapped_column(default=0)
    photo_count: Mapped[int] = mapped_column(default=0)


class ShopReviewFigures(Base):
    """A shop's reviewed orders with their service and logistics star sums, and its
    reviewed product lines with their star sum."""

    __tablename__ = "shop_review_figures"
    __table_args__ = (
        CheckConstraint(
            "service_star_sum BETWEEN review_count AND 5 * review_count",
            name="service_sum_range",
        ),
        CheckConstraint(
            "logistics_star_sum BETWEEN review_count AND 5 * review_count",
            name="logistics_sum_range",
        ),
        CheckConstraint(
            "product_star_sum BETWEEN item_count AND 5 * item_count", name="product_sum_range"
        ),
    )

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    review_count: Mapped[int] = mapped_column(default=0)
    service_star_sum: Mapped[int] = mapped_column(default=0)
    logistics_star_sum: Mapped[int] = mapped_column(default=0)
    item_count: Mapped[int] = mapped_column(default=0)
    product_star_sum: Mapped[int] = mapped_column(default=0)

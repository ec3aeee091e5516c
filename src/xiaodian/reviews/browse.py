"""What buyers and merchants read: a product's reviews (newest or most helpful first, all
or with photos), helpful votes (one per user), a shop's reviews to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, InvalidInput, _
from xiaodian.reviews import service
from xiaodian.reviews.models import HelpfulVote, Review, ReviewItem

PAGE_SIZE = 10
MAX_PAGE = 10_000
SORTS = {"newest": _("Newest"), "helpful": _("Most helpful")}


@dataclass(frozen=True)
class ReviewPage:
    items: list[ReviewItem]
    total: int
    page: int
    page_size: int = PAGE_SIZE

    @property
    def has_more(self) -> bool:
        return self.page * self.page_size < self.total


def _page(db: Session, query: Select[Any], count: Select[Any], page: int) -> ReviewPage:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(_("Page out of range."), code="bad_page")
    total = int(db.scalar(count) or 0)
    items = list(db.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return ReviewPage(items=items, total=total, page=page)


def product_reviews(
    db: Session, *, product_id: int, sort: str = "newest", photos: bool = False, page: int = 1
) -> tuple[catalog_service.Product, service.ProductFigures, ReviewPage]:
    """A product (NotFound if unknown), its figures and one page of its reviews."""
    if sort not in SORTS:
        raise InvalidInput(_("Unknown sort."), code="bad_sort")
    product = catalog_service.get_product(db, product_id)
    conds = [ReviewItem.product_id == product_id]
    if photos:
        conds.append(ReviewItem.has_photos.is_(True))
    order: list[Any] = (
        [ReviewItem.helpful_count.desc(), ReviewItem.created_at.desc(), ReviewItem.id.desc()]
        if sort == "helpful"
        else [ReviewItem.created_at.desc(), ReviewItem.id.desc()]
    )
    query = select(ReviewItem).where(*conds).order_by(*order)
    count = select(func.count()).select_from(ReviewItem).where(*conds)
    figures = service.product_figures(db, product_id=product_id)
    return product, figures, _page(db, query, count, page)


def shop_reviews(
    db: Session, actor: Actor, shop_id: int, *, unanswered: bool = False, page: int = 1
) -> ReviewPage:
    """The shop's reviews, newest first (staff only), or only those not answered yet."""
    actor.require_shop(shop_id)
    conds = [ReviewItem.shop_id == shop_id]
    if unanswered:
        conds.append(ReviewItem.reply_at.is_(None))
    query = (
        select(ReviewItem)
        .where(*conds)
        .order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
    )
    count = select(func.count()).select_from(ReviewItem).where(*conds)
    return _page(db, query, count, page)


def my_review(db: Session, actor: Actor, order_no: str) -> Review | None:
    """The signed-in buyer's review of their order, if written. Read only."""
    user_id = actor.require_user()
    return db.scalar(select(Review).where(Review.order_no == order_no, Review.buyer_id == user_id))


def mark_helpful(db: Session, actor: Actor, item_id: int) -> ReviewItem:
    """The signed-in user finds a review helpful: counted once per user (a second vote
    changes nothing). Raises NotFound, Conflict (one's own review)."""
    user_id = actor.require_user()
    item = service.get_item(db, item_id)
    if item.review.buyer_id == user_id:
        raise Conflict(_("You cannot vote for your own review."), code="own_review")
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = db.execute(
        insert(HelpfulVote)
        .values(item_id=item.id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=["item_id", "user_id"])
        .returning(HelpfulVote.id)
    ).scalar()
    if inserted is not None:
        db.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item.id)
            .values(helpful_count=ReviewItem.helpful_count + 1)
            .execution_options(synchronize_session=False)
        )
    db.commit()
    db.refresh(item)
    return item


def voted(db: Session, actor: Actor, item_ids: list[int]) -> set[int]:
    """Which of these items the signed-in user found helpful (one query). Read only."""
    if actor.user_id is None or not item_ids:
        return set()
    return set(
        db.scalars(
            select(HelpfulVote.item_id).where(
                HelpfulVote.user_id == actor.user_id, HelpfulVote.item_id.in_(item_ids)
            )
        )
    )

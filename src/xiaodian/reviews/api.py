"""The reviews' JSON API: a product's figures, for its product page."""

from __future__ import annotations

from pydantic import BaseModel

from xiaodian.reviews import service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id

router = routing.router(tags=["reviews"], responses=error_responses(404, 422))


class ReviewSummaryOut(BaseModel):
    product_id: int
    review_count: int
    star_sum: int
    photo_count: int
    average: float | None


@router.get("/products/{product_id}/reviews/summary")
def review_summary(db: DbDep, product_id: Id) -> ReviewSummaryOut:
    """A product's review count, average stars and reviews with photos (zeros with none)."""
    f = service.product_figures(db, product_id=product_id)
    return ReviewSummaryOut(
        product_id=f.product_id,
        review_count=f.review_count,
        star_sum=f.star_sum,
        photo_count=f.photo_count,
        average=f.average,
    )

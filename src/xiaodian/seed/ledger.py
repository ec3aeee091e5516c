"""Demo data for the ledger: the platform fee (技术服务费) of every category, set on its
leaves from the rate of its top category, in the range of WeChat Shop's published rates
(0.6% for small appliances, 1% to 5% elsewhere). Orders paid in the demo record them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.categories.models import Category
from xiaodian.ledger.models import LedgerFeeRate
from xiaodian.settings import Settings

# basis points: 100 = 1%
TOP_RATES = {
    "womens-apparel": 500,
    "mens-apparel": 500,
    "food": 200,
    "beauty": 500,
    "home": 300,
    "digital": 100,
    "mother-baby": 200,
    "crafts": 300,
}
LEAF_RATES = {"tea": 300, "small-appliances": 60}  # leaves that differ from their top


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    categories = list(db.scalars(select(Category)))
    slugs = {c.id: c.slug for c in categories}
    for category in categories:
        if category.parent_id is None:
            continue
        rate = LEAF_RATES.get(category.slug, TOP_RATES.get(slugs[category.parent_id], 100))
        db.merge(LedgerFeeRate(category_id=category.id, rate_bp=rate))
    db.flush()

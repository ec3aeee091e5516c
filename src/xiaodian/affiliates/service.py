"""The affiliates domain's face: the row types others may name and the small rules every
module of the domain shares (the rate bounds, a plan in force at a moment).

Promoters (creators, sharers, affiliates) sell a shop's products through plans and tracked
links; the domain listens to the order lifecycle (``attribution.py``) and never asks
orders to know about it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from xiaodian.affiliates.models import Link as Link  # re-exported: pages, tests
from xiaodian.affiliates.models import LinkKind as LinkKind  # re-exported
from xiaodian.affiliates.models import Plan as Plan  # re-exported
from xiaodian.affiliates.models import PlanKind as PlanKind  # re-exported
from xiaodian.affiliates.models import Touch as Touch  # re-exported
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service

MAX_RATE_PCT = 90  # WeChat's 优选联盟 caps a commission at 90% of the line


def check_rate(rate_pct: object) -> int:
    """A whole percent between 0 and 90, or InvalidInput (422)."""
    if not isinstance(rate_pct, int) or isinstance(rate_pct, bool):
        raise InvalidInput(_("The rate must be a whole percent."), code="bad_rate")
    if not 0 <= rate_pct <= MAX_RATE_PCT:
        raise InvalidInput(
            _("The rate must be between 0 and %(max)s percent."), code="bad_rate", max=MAX_RATE_PCT
        )
    return rate_pct


def in_force(plan: Plan, at: datetime) -> bool:
    """Whether ``plan`` applies to an order created at ``at``."""
    return plan.is_active and plan.starts_at <= at and (plan.ends_at is None or at < plan.ends_at)


def product_on_sale(db: Session, product_id: object) -> catalog_service.Product:
    """The product a promoter picks or asks a sample of: on sale in an active shop, as
    the sellability policy says; NotFound otherwise (unknown ids and wrong types alike)."""
    product = None
    if (
        isinstance(product_id, int)
        and not isinstance(product_id, bool)
        and 0 < product_id <= MAX_ID
    ):
        try:
            product = catalog_service.get_product(db, product_id)
        except NotFound:
            product = None
    shop = (
        merchants_service.shops_by_ids(db, [product.shop_id]).get(product.shop_id)
        if product
        else None
    )
    if (
        product is None
        or shop is None
        or sellability.current().product_refusal(
            on_sale=product.status == catalog_service.ProductStatus.ON_SALE,
            shop_active=shop.is_active,
        )
    ):
        raise NotFound(_("This product is not available."), code="product_not_found")
    return product

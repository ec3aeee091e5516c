"""Merchant health's thresholds, enforced through the hooks the lower domains own:
- below ``score.LIVE_MIN`` (60): the live rooms refuse a new room for the shop
  (``content.live.service.room_check``);
- below ``score.MARKETPLACE_MIN`` (40): the shop's products leave the marketplace listings
  (``catalog.storefront.service.marketplace_rule``: home, categories, search) and the
  creators' marketplace (``affiliates.marketplace.shop_standing``, which also shows each
  shop's score and filters by it).
A shop with no score yet (before its first daily run) is restricted by neither.
Imported by ``domains.load``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xiaodian.affiliates import marketplace
from xiaodian.catalog.storefront import service as storefront_service
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict, DomainError, _
from xiaodian.health import score, service


@live_service.room_check
def may_open_room(db: Session, shop_id: int) -> DomainError | None:
    health = service.current(db, shop_id=shop_id)
    if health is None or health.score >= score.LIVE_MIN:
        return None
    return Conflict(
        _("The shop's health score is %(score)s: below %(min)s, no new live rooms."),
        code="health_no_live",
        score=health.score,
        min=score.LIVE_MIN,
    )


@storefront_service.marketplace_rule
def listed_in_marketplace(shop_id: Any) -> Any:
    return ~service.restricted_shops_where(shop_id, score.MARKETPLACE_MIN)


@marketplace.shop_standing
def standing(db: Session, shop_ids: set[int]) -> dict[int, marketplace.Standing]:
    return {
        shop_id: marketplace.Standing(score=value, listed=value >= score.MARKETPLACE_MIN)
        for shop_id, value in service.scores(db, shop_ids).items()
    }

"""The marketplace (选品广场): products promoters can sell for a commission, and at what rate.

A product is offered when it is on sale in an active shop and has a plan in force: its open
plan (普通, for everyone), or, for the signed-in promoter, a targeted plan that invited them
(定向, their own rate) or an exclusive plan naming them (专属, which shuts out the other two
for everyone else). Each offer shows the rate that promoter would get and the estimated
earning per unit (the cheapest SKU's price x the rate, rounded down: the commission rule of
``commissions.py``). Filters: category, lowest rate, highest price, lowest shop score; sorts:
estimated earning (the default), rate, sales, price. A fixed number of queries: the plans in
force (at most ``SCAN`` of them, newest first), their products and shops, the promoter's
invites, the shops' standing.

The shops' standing (their health score, and whether it lets them be listed here) comes
from the domain that scores shops, above this one: it registers ``@shop_standing`` (merchant
health, ``health.hooks``: below 40 a shop leaves the marketplace). A shop with no score yet
is listed, shown without a score, and left out only by a "lowest shop score" filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.affiliates.models import Plan, PlanInvite, PlanKind
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import service as merchants_service

SCAN = 2000
PAGE = 20


@dataclass(frozen=True)
class Standing:
    score: int
    listed: bool  # the score lets the shop be listed in the marketplace


StandingSource = Callable[[Session, set[int]], dict[int, Standing]]
_standings: list[StandingSource] = []


def shop_standing(source: StandingSource) -> StandingSource:
    """Register where shops' standing comes from (one query for many shops)."""
    if source not in _standings:
        _standings.append(source)
    return source


def standings(db: Session, shop_ids: Iterable[int]) -> dict[int, Standing]:
    wanted = set(shop_ids)
    found: dict[int, Standing] = {}
    for source in list(_standings):
        found.update(source(db, wanted) if wanted else {})
    return found


Sort = Literal["earning", "rate", "sales", "price"]
SORTS: tuple[str, ...] = ("earning", "rate", "sales", "price")


@dataclass(frozen=True)
class Offer:
    product_id: int
    title: str
    cover_path: str | None
    shop_id: int
    shop_name: str
    category_id: int
    price_fen: int  # the cheapest SKU's
    sales_count: int
    rate_pct: int
    plan_kind: str  # open | targeted | exclusive
    ends_at: datetime | None
    shop_score: int | None = None  # the shop's health score (None: not scored yet)

    @property
    def earning_fen(self) -> int:
        return self.price_fen * self.rate_pct // 100


@dataclass(frozen=True)
class OfferPage:
    items: list[Offer]
    total: int
    page: int


def _in_force(now: datetime) -> list[object]:
    return [
        Plan.is_active.is_(True),
        Plan.starts_at <= now,
        or_(Plan.ends_at.is_(None), Plan.ends_at > now),
    ]


def rates_for(
    db: Session, promoter_id: int | None, now: datetime
) -> dict[int, tuple[int, str, datetime | None]]:
    """Per product: the rate this promoter (None: anyone) would get, and the plan's kind."""
    plans = list(
        db.scalars(select(Plan).where(*_in_force(now)).order_by(Plan.id.desc()).limit(SCAN))  # type: ignore[arg-type]
    )
    invited: dict[int, int] = {}
    if promoter_id is not None:
        targeted = [p.id for p in plans if p.kind == PlanKind.TARGETED]
        if targeted:
            rows = db.execute(
                select(PlanInvite.plan_id, PlanInvite.rate_pct).where(
                    PlanInvite.plan_id.in_(targeted), PlanInvite.promoter_id == promoter_id
                )
            )
            invited = {plan_id: rate for plan_id, rate in rows}
    by_product: dict[int, dict[str, Plan]] = {}
    for plan in plans:
        by_product.setdefault(plan.product_id, {})[plan.kind.value] = plan
    rates: dict[int, tuple[int, str, datetime | None]] = {}
    for product_id, kinds in by_product.items():
        exclusive = kinds.get(PlanKind.EXCLUSIVE.value)
        if exclusive is not None:
            if promoter_id is not None and exclusive.promoter_id == promoter_id:
                rates[product_id] = (exclusive.rate_pct, "exclusive", exclusive.ends_at)
            continue  # 专属 shuts out everyone else
        targeted_plan = kinds.get(PlanKind.TARGETED.value)
        if targeted_plan is not None and targeted_plan.id in invited:
            rates[product_id] = (invited[targeted_plan.id], "targeted", targeted_plan.ends_at)
            continue
        open_plan = kinds.get(PlanKind.OPEN.value)
        if open_plan is not None:
            rates[product_id] = (open_plan.rate_pct, "open", open_plan.ends_at)
    return rates


def offers(
    db: Session,
    actor: Actor,
    *,
    category_id: int | None = None,
    min_rate: int | None = None,
    max_price_fen: int | None = None,
    min_score: int | None = None,
    sort: str = "earning",
    page: int = 1,
) -> OfferPage:
    """One page of the marketplace for the visitor (a signed-in promoter sees their own
    targeted and exclusive rates)."""
    if sort not in SORTS:
        raise InvalidInput(_("Unknown sort order."), code="bad_sort")
    if not 1 <= page <= 500:
        raise InvalidInput(_("The page number is out of range."), code="bad_page")
    if min_score is not None and not 0 <= min_score <= 100:
        raise InvalidInput(_("A shop score is 0 to 100."), code="bad_score")
    now = clock.now()
    rates = rates_for(db, actor.user_id, now)
    products = catalog_service.get_products(db, rates)
    shops = merchants_service.shops_by_ids(db, {p.shop_id for p in products.values()})
    standing = standings(db, shops)
    policy = sellability.current()
    found = []
    for product_id, (rate, kind, ends_at) in rates.items():
        product = products.get(product_id)
        shop = shops.get(product.shop_id) if product else None
        if product is None or shop is None:
            continue
        if policy.product_refusal(
            on_sale=product.status == catalog_service.ProductStatus.ON_SALE,
            shop_active=shop.is_active,
        ):
            continue
        standing_of = standing.get(shop.id)
        if standing_of is not None and not standing_of.listed:
            continue
        if min_score is not None and (standing_of is None or standing_of.score < min_score):
            continue
        offer = Offer(
            product_id=product.id,
            title=product.title,
            cover_path=product.cover_path,
            shop_id=shop.id,
            shop_name=shop.name,
            category_id=product.category_id,
            price_fen=product.min_price_fen,
            sales_count=product.sales_count,
            rate_pct=rate,
            plan_kind=kind,
            ends_at=ends_at,
            shop_score=standing_of.score if standing_of is not None else None,
        )
        if category_id is not None and offer.category_id != category_id:
            continue
        if min_rate is not None and offer.rate_pct < min_rate:
            continue
        if max_price_fen is not None and offer.price_fen > max_price_fen:
            continue
        found.append(offer)
    keys = {
        "earning": lambda o: (-o.earning_fen, -o.product_id),
        "rate": lambda o: (-o.rate_pct, -o.earning_fen, -o.product_id),
        "sales": lambda o: (-o.sales_count, -o.product_id),
        "price": lambda o: (o.price_fen, -o.product_id),
    }
    found.sort(key=keys[sort])
    db.commit()
    start = (page - 1) * PAGE
    return OfferPage(items=found[start : start + PAGE], total=len(found), page=page)

"""Promoters' reports: clicks, credited orders, GMV and commission, per link (for the
promoter) and per product, plan and promoter (for the shop). A fixed number of grouped
queries each, whatever the number of links or orders.

- clicks: the recorded clicks of the links (one per visitor and link per 30 minutes);
- orders and GMV: the order lines credited to a promoter (``Touch.reason = 'credited'``),
  their amount after discounts, without shipping (refunds not subtracted);
- commission: for the promoter, what their commissions are now (after refunds); for the
  shop, per product and plan the commission at payment (line x rate), per promoter now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.affiliates.models import Click, Commission, Link, Touch

CREDITED = "credited"


@dataclass
class Figures:
    clicks: int = 0
    orders: int = 0
    gmv_fen: int = 0
    commission_fen: int = 0


@dataclass
class ShopReport:
    products: dict[int, Figures] = field(default_factory=dict)
    plans: dict[int, Figures] = field(default_factory=dict)
    promoters: dict[int, Figures] = field(default_factory=dict)


def promoter_links(db: Session, actor: Actor) -> dict[int, Figures]:
    """The signed-in promoter's figures per link (four queries)."""
    promoter_id = actor.require_user()
    found: dict[int, Figures] = defaultdict(Figures)
    for link_id, n in db.execute(
        select(Click.link_id, func.count())
        .join(Link, Link.id == Click.link_id)
        .where(Link.promoter_id == promoter_id)
        .group_by(Click.link_id)
    ):
        found[link_id].clicks = int(n)
    for touched, orders, gmv in db.execute(
        select(Touch.link_id, func.count(func.distinct(Touch.order_id)), func.sum(Touch.amount_fen))
        .where(
            Touch.promoter_id == promoter_id, Touch.reason == CREDITED, Touch.link_id.is_not(None)
        )
        .group_by(Touch.link_id)
    ):
        if touched is not None:
            found[touched].orders, found[touched].gmv_fen = int(orders), int(gmv or 0)
    for paid_by, amount in db.execute(
        select(Commission.link_id, func.sum(Commission.amount_fen))
        .where(Commission.promoter_id == promoter_id, Commission.link_id.is_not(None))
        .group_by(Commission.link_id)
    ):
        if paid_by is not None:
            found[paid_by].commission_fen = int(amount or 0)
    db.commit()
    return dict(found)


def shop_report(db: Session, actor: Actor, shop_id: int) -> ShopReport:
    """The shop's promotion figures per product, plan and promoter (its staff)."""
    actor.require_shop(shop_id)
    report = ShopReport()
    products: dict[int, Figures] = defaultdict(Figures)
    plans: dict[int, Figures] = defaultdict(Figures)
    promoters: dict[int, Figures] = defaultdict(Figures)
    for product_id, promoter_id, n in db.execute(
        select(Link.product_id, Link.promoter_id, func.count())
        .join(Click, Click.link_id == Link.id)
        .where(Link.shop_id == shop_id)
        .group_by(Link.product_id, Link.promoter_id)
    ):
        if product_id:
            products[int(product_id)].clicks += int(n)
        promoters[int(promoter_id)].clicks += int(n)
    for product, plan_id, credited, orders, gmv, commission in db.execute(
        select(
            Touch.product_id,
            Touch.plan_id,
            Touch.promoter_id,
            func.count(func.distinct(Touch.order_id)),
            func.sum(Touch.amount_fen),
            func.sum(Touch.amount_fen * Touch.rate_pct / 100),
        )
        .where(Touch.shop_id == shop_id, Touch.reason == CREDITED)
        .group_by(Touch.product_id, Touch.plan_id, Touch.promoter_id)
    ):
        for figures in (products[int(product)], *([plans[int(plan_id)]] if plan_id else [])):
            figures.orders += int(orders)
            figures.gmv_fen += int(gmv or 0)
            figures.commission_fen += int(commission or 0)
        if credited is not None:
            promoters[int(credited)].orders += int(orders)
            promoters[int(credited)].gmv_fen += int(gmv or 0)
    for payee, amount in db.execute(
        select(Commission.promoter_id, func.sum(Commission.amount_fen))
        .where(Commission.shop_id == shop_id)
        .group_by(Commission.promoter_id)
    ):
        promoters[int(payee)].commission_fen = int(amount or 0)
    report.products, report.plans, report.promoters = dict(products), dict(plans), dict(promoters)
    db.commit()
    return report

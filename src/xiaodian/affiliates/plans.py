"""Plans: a merchant puts a product in 普通 (open to every promoter, one rate), 定向
(invited promoters, each with its own rate; only beside the product's 普通 plan) or 专属
(one promoter; no other plan of the product at the same time).

Rates are whole percent 0..90 of the line's paid amount; they are read when an order is
created (``attribution.py`` stores the rate on the order's touch), so a later change
applies only to later orders. Every function here checks that the actor is staff of the
shop (strangers get 404) and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates.models import Plan, PlanInvite, PlanKind
from xiaodian.affiliates.service import check_rate
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, InvalidInput, NotFound, _


@dataclass(frozen=True)
class PlanTerms:
    kind: str
    rate_pct: int
    starts_at: datetime
    ends_at: datetime | None = None
    promoter_id: int | None = None  # 专属 only


def _check_terms(terms: PlanTerms) -> PlanKind:
    try:
        kind = PlanKind(terms.kind)
    except ValueError:
        raise InvalidInput(
            _("A plan is open, targeted or exclusive."), code="bad_plan_kind"
        ) from None
    check_rate(terms.rate_pct)
    if terms.ends_at is not None and terms.ends_at <= terms.starts_at:
        raise InvalidInput(_("A plan must end after it starts."), code="bad_plan_dates")
    if (kind is PlanKind.EXCLUSIVE) != (terms.promoter_id is not None):
        raise InvalidInput(
            _("An exclusive plan names exactly one promoter; other plans name none."),
            code="bad_plan_promoter",
        )
    return kind


def _product_plans(db: Session, product_id: int) -> dict[PlanKind, Plan]:
    rows = db.scalars(select(Plan).where(Plan.product_id == product_id))
    return {plan.kind: plan for plan in rows}


def create_plan(
    db: Session, actor: Actor, shop_id: int, *, product_id: int, terms: PlanTerms
) -> Plan:
    """Put a product of the shop into a plan. Raises NotFound (not the shop's product, an
    unknown promoter), InvalidInput (kind, rate, dates), Conflict (the kind exists for the
    product; 定向 without an active 普通 plan; 专属 beside another plan). Commits."""
    catalog_service.shop_product(db, actor, shop_id, product_id)
    kind = _check_terms(terms)
    if terms.promoter_id is not None:
        accounts_service.get(db, terms.promoter_id)
    existing = _product_plans(db, product_id)
    if kind in existing:
        raise Conflict(_("The product already has a plan of this kind."), code="plan_exists")
    active = {k for k, plan in existing.items() if plan.is_active}
    if kind is PlanKind.TARGETED and PlanKind.OPEN not in active:
        raise Conflict(
            _("A targeted plan needs the product's open plan first."), code="targeted_needs_open"
        )
    if kind is PlanKind.EXCLUSIVE and active:
        raise Conflict(
            _("An exclusive plan excludes the product's other plans."), code="exclusive_alone"
        )
    if kind is not PlanKind.EXCLUSIVE and PlanKind.EXCLUSIVE in active:
        raise Conflict(
            _("The product is in an exclusive plan: end it first."), code="exclusive_alone"
        )
    now = clock.now()
    plan = Plan(
        shop_id=shop_id,
        product_id=product_id,
        kind=kind,
        rate_pct=terms.rate_pct,
        promoter_id=terms.promoter_id,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        created_at=now,
        updated_at=now,
    )
    db.add(plan)
    try:
        db.flush()
    except IntegrityError:  # a concurrent request made the same kind first
        db.rollback()
        raise Conflict(
            _("The product already has a plan of this kind."), code="plan_exists"
        ) from None
    db.commit()
    return plan


def _shop_plan(db: Session, actor: Actor, shop_id: int, plan_id: int) -> Plan:
    actor.require_shop(shop_id)
    plan = db.get(Plan, plan_id)
    if plan is None or plan.shop_id != shop_id:
        raise NotFound(_("Plan not found."), code="plan_not_found")
    return plan


def get_plan(db: Session, actor: Actor, shop_id: int, plan_id: int) -> Plan:
    """A plan of the shop for its staff; NotFound for anyone else."""
    return _shop_plan(db, actor, shop_id, plan_id)


def update_plan(
    db: Session,
    actor: Actor,
    shop_id: int,
    plan_id: int,
    *,
    rate_pct: int,
    ends_at: datetime | None,
    is_active: bool,
) -> Plan:
    """Change a plan's rate, end or activity, for orders created from now on. Ending the
    普通 plan ends the product's 定向 plan too (it needs it). Commits."""
    plan = _shop_plan(db, actor, shop_id, plan_id)
    check_rate(rate_pct)
    if ends_at is not None and ends_at <= plan.starts_at:
        raise InvalidInput(_("A plan must end after it starts."), code="bad_plan_dates")
    if is_active and not plan.is_active:
        others = _product_plans(db, plan.product_id)
        active = {k for k, p in others.items() if p.is_active and p.id != plan.id}
        if (plan.kind is PlanKind.EXCLUSIVE and active) or PlanKind.EXCLUSIVE in active:
            raise Conflict(
                _("An exclusive plan excludes the product's other plans."),
                code="exclusive_alone",
            )
        if plan.kind is PlanKind.TARGETED and PlanKind.OPEN not in active:
            raise Conflict(
                _("A targeted plan needs the product's open plan first."),
                code="targeted_needs_open",
            )
    now = clock.now()
    plan.rate_pct, plan.ends_at, plan.is_active, plan.updated_at = rate_pct, ends_at, is_active, now
    if plan.kind is PlanKind.OPEN and not is_active:
        targeted = _product_plans(db, plan.product_id).get(PlanKind.TARGETED)
        if targeted is not None and targeted.is_active:
            targeted.is_active, targeted.updated_at = False, now
    db.commit()
    return plan


def invite_promoter(
    db: Session, actor: Actor, shop_id: int, plan_id: int, *, promoter_id: int, rate_pct: int
) -> PlanInvite:
    """Invite a promoter into a 定向 plan with their own rate (again: the new rate).
    Commits."""
    plan = _shop_plan(db, actor, shop_id, plan_id)
    if plan.kind is not PlanKind.TARGETED:
        raise Conflict(_("Only a targeted plan has invited promoters."), code="not_targeted")
    check_rate(rate_pct)
    accounts_service.get(db, promoter_id)
    invite = db.scalar(
        select(PlanInvite).where(
            PlanInvite.plan_id == plan.id, PlanInvite.promoter_id == promoter_id
        )
    )
    if invite is None:
        invite = PlanInvite(plan_id=plan.id, promoter_id=promoter_id, rate_pct=rate_pct)
        db.add(invite)
    else:
        invite.rate_pct = rate_pct
    db.flush()
    db.commit()
    return invite


@dataclass(frozen=True)
class PlanRow:
    plan: Plan
    product_title: str
    invites: list[PlanInvite]


def shop_plans(db: Session, actor: Actor, shop_id: int) -> list[PlanRow]:
    """The shop's plans, newest first, with their products' titles and invites."""
    actor.require_shop(shop_id)
    plans = list(db.scalars(select(Plan).where(Plan.shop_id == shop_id).order_by(Plan.id.desc())))
    products = catalog_service.get_products(db, {p.product_id for p in plans})
    invites: dict[int, list[PlanInvite]] = {}
    if plans:
        rows = db.scalars(
            select(PlanInvite)
            .where(PlanInvite.plan_id.in_([p.id for p in plans]))
            .order_by(PlanInvite.id)
        )
        for invite in rows:
            invites.setdefault(invite.plan_id, []).append(invite)
    return [
        PlanRow(
            p,
            products[p.product_id].title if p.product_id in products else "",
            invites.get(p.id, []),
        )
        for p in plans
    ]

"""The campaigns domain's face: reads of coupon templates and coupons, and the row types
other modules name. The use cases live beside it: ``templates.py`` (merchants and
operators write templates), ``claims.py`` (buyers claim), ``rules.py`` (WeChat's floors),
``stacking.py`` (which coupons apply to a cart, and how much each line gets)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns.models import Coupon as Coupon  # re-exported
from xiaodian.campaigns.models import CouponStatus, TemplateStatus
from xiaodian.campaigns.models import CouponTemplate as CouponTemplate  # re-exported
from xiaodian.campaigns.rules import Offer
from xiaodian.errors import NotFound, _

LIST_LIMIT = 200


def unknown_template() -> NotFound:
    return NotFound(_("Coupon not found."), code="coupon_not_found")


def offer_of(template: CouponTemplate) -> Offer:
    return Offer(
        template.kind,
        off_fen=template.off_fen,
        rate_percent=template.rate_percent,
        cap_fen=template.cap_fen,
        min_spend_fen=template.min_spend_fen,
    )


def get_template(db: Session, template_id: int) -> CouponTemplate:
    template = db.get(CouponTemplate, template_id)
    if template is None:
        raise unknown_template()
    return template


def shop_templates(db: Session, actor: Actor, shop_id: int) -> list[CouponTemplate]:
    """The shop's coupon templates, newest first (its staff)."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(CouponTemplate)
            .where(CouponTemplate.shop_id == shop_id)
            .order_by(CouponTemplate.id.desc())
            .limit(LIST_LIMIT)
        )
    )


def platform_templates(db: Session, actor: Actor) -> list[CouponTemplate]:
    """The platform's coupon templates, newest first (operators)."""
    actor.require_operator()
    return list(
        db.scalars(
            select(CouponTemplate)
            .where(CouponTemplate.shop_id.is_(None))
            .order_by(CouponTemplate.id.desc())
            .limit(LIST_LIMIT)
        )
    )


def _claimable_now(*where: Any, newest_first: bool = False) -> Select[CouponTemplate]:
    """Templates claimable now (active, in their window, not all issued) matching ``where``."""
    now = clock.now()
    order = CouponTemplate.id.desc() if newest_first else CouponTemplate.id
    return (
        select(CouponTemplate)
        .where(
            *where,
            CouponTemplate.status == TemplateStatus.ACTIVE,
            CouponTemplate.starts_at <= now,
            CouponTemplate.ends_at > now,
            CouponTemplate.issued < CouponTemplate.quantity,
        )
        .order_by(order)
        .limit(LIST_LIMIT)
    )


def claimable(db: Session, *, shop_id: int | None) -> list[CouponTemplate]:
    """Templates anyone may claim now: a shop's (or the platform's, ``shop_id`` None),
    active, in their window, not all issued; live-room ones are claimed in their room."""
    owner = (
        CouponTemplate.shop_id.is_(None) if shop_id is None else (CouponTemplate.shop_id == shop_id)
    )
    return list(db.scalars(_claimable_now(owner, CouponTemplate.audience != "live_room")))


def followed_coupons(db: Session, *, shop_ids: list[int]) -> list[CouponTemplate]:
    """The coupons these shops offer to claim now (a buyer's "following" page), newest
    first; live-room ones stay in their rooms."""
    if not shop_ids:
        return []
    query = _claimable_now(
        CouponTemplate.shop_id.in_(shop_ids),
        CouponTemplate.audience != "live_room",
        newest_first=True,
    )
    return list(db.scalars(query))


def room_coupons(db: Session, *, room_id: int) -> list[CouponTemplate]:
    """The coupons claimable in a live room while it is on air (shops' and the platform's),
    active, in their window, not all issued."""
    query = _claimable_now(
        CouponTemplate.audience == "live_room", CouponTemplate.room_id == room_id
    )
    return list(db.scalars(query))


def my_coupons(
    db: Session, actor: Actor, *, usable_only: bool = False
) -> list[tuple[Coupon, CouponTemplate]]:
    """The buyer's coupons with their templates, newest first (``usable_only``: unused
    and not expired)."""
    buyer_id = actor.require_user()
    query = (
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.buyer_id == buyer_id)
        .order_by(Coupon.id.desc())
        .limit(LIST_LIMIT)
    )
    if usable_only:
        query = query.where(Coupon.status == CouponStatus.UNUSED, Coupon.expires_at > clock.now())
    return [(coupon, template) for coupon, template in db.execute(query)]

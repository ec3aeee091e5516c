"""Writing coupon templates: a shop's staff for their shop (product or shop level), the
operators for the platform. Each public function is one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns import claim_gate, rules
from xiaodian.campaigns.models import CouponScope, CouponTemplate, TemplateStatus
from xiaodian.campaigns.service import get_template, unknown_template
from xiaodian.catalog import service as catalog_service
from xiaodian.categories import service as categories_service
from xiaodian.content.live import service as live_service
from xiaodian.errors import InvalidInput, NotFound, _


@dataclass
class TemplateInput:
    name: str
    kind: str
    level: str
    starts_at: datetime
    ends_at: datetime
    quantity: int
    off_fen: int = 0
    rate_percent: int = 100
    cap_fen: int = 0
    min_spend_fen: int = 0
    scope: str = "all"
    scope_ids: list[int] = field(default_factory=list)
    per_buyer_limit: int = 1
    budget_fen: int | None = None
    valid_days: int | None = None
    audience: str = "everyone"
    room_id: int | None = None


def _check_scope(db: Session, terms: rules.Terms, shop_id: int | None) -> None:
    """Listed products exist (and are the shop's, for a shop's coupon); listed categories
    exist. Unknown or another shop's: the same 422, so ids cannot be probed."""
    if terms.scope == CouponScope.PRODUCTS:
        products = catalog_service.get_products(db, terms.scope_ids)
        if len(products) != len(terms.scope_ids) or any(
            shop_id is not None and p.shop_id != shop_id for p in products.values()
        ):
            raise InvalidInput(
                _("A listed product does not exist or is not this shop's."), code="bad_scope"
            )
    elif terms.scope == CouponScope.CATEGORIES:
        found = categories_service.by_ids(db, terms.scope_ids)
        if len(found) != len(terms.scope_ids):
            raise InvalidInput(_("A listed category does not exist."), code="bad_scope")


def _check_room(db: Session, room_id: int, shop_id: int | None) -> None:
    """A live-room coupon's room exists and has not ended; a shop's coupon is for a room
    of the shop or one that sells its products (else the same 422: rooms are not probed)."""
    try:
        room = live_service.get_room(db, room_id)
    except NotFound:
        room = None
    fits = room is not None and room.status != "ended"
    if fits and shop_id is not None and room is not None and room.shop_id != shop_id:
        fits = any(p.shop_id == shop_id for p in live_service.room_products(db, room_id))
    if not fits:
        raise InvalidInput(
            _("The live room does not exist, has ended or does not sell this shop's products."),
            code="bad_room",
        )


def _create(db: Session, actor_id: int, shop_id: int | None, data: TemplateInput) -> CouponTemplate:
    offer = rules.check_offer(
        data.kind,
        off_fen=data.off_fen,
        rate_percent=data.rate_percent,
        cap_fen=data.cap_fen,
        min_spend_fen=data.min_spend_fen,
    )
    terms = rules.check_terms(
        name=data.name,
        level=data.level,
        scope=data.scope,
        scope_ids=data.scope_ids,
        quantity=data.quantity,
        per_buyer_limit=data.per_buyer_limit,
        budget_fen=data.budget_fen,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        valid_days=data.valid_days,
        platform=shop_id is None,
    )
    if terms.budget_fen is not None and terms.budget_fen < offer.most_fen:
        raise InvalidInput(_("The budget does not cover a single coupon."), code="bad_budget")
    _check_scope(db, terms, shop_id)
    audience, room_id = rules.check_audience(data.audience, data.room_id, platform=shop_id is None)
    if room_id is not None:
        _check_room(db, room_id, shop_id)
    template = CouponTemplate(
        shop_id=shop_id,
        name=terms.name,
        kind=offer.kind,
        level=terms.level,
        off_fen=offer.off_fen,
        rate_percent=offer.rate_percent,
        cap_fen=offer.cap_fen,
        min_spend_fen=offer.min_spend_fen,
        scope=terms.scope,
        scope_ids=list(terms.scope_ids),
        quantity=terms.quantity,
        issued=0,
        per_buyer_limit=terms.per_buyer_limit,
        budget_fen=terms.budget_fen,
        committed_fen=0,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        valid_days=terms.valid_days,
        status=TemplateStatus.ACTIVE,
        created_by=actor_id,
        created_at=clock.now(),
        audience=audience,
        room_id=room_id,
    )
    db.add(template)
    db.flush()
    claim_gate.open_after_commit(
        db, template.id, left=template.quantity, limit=template.per_buyer_limit
    )
    db.commit()
    return template


def create_shop_template(
    db: Session, actor: Actor, shop_id: int, data: TemplateInput
) -> CouponTemplate:
    """A coupon of the shop (product or shop level); its staff. Raises InvalidInput (a
    floor broken, a bad scope), NotFound (not the actor's shop)."""
    user_id = actor.require_shop(shop_id)
    return _create(db, user_id, shop_id, data)


def create_platform_template(db: Session, actor: Actor, data: TemplateInput) -> CouponTemplate:
    """A platform coupon (funded by the platform); operators."""
    user_id = actor.require_operator()
    return _create(db, user_id, None, data)


def stop_template(db: Session, actor: Actor, template_id: int) -> CouponTemplate:
    """No more claims of the template; coupons already claimed stay usable."""
    template = get_template(db, template_id)
    if template.shop_id is None:
        actor.require_operator()
    elif not actor.can_manage_shop(template.shop_id):
        raise unknown_template()
    template.status = TemplateStatus.STOPPED
    claim_gate.close_after_commit(db, template.id)
    db.commit()
    return template

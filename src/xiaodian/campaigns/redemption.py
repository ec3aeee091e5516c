"""Coupons at checkout: the campaigns' adjuster (``orders/adjust.py``) and the coupon's
return when its orders are fully refunded.

- ``quote`` reads the chosen coupons with their templates in one query (plus the products'
  categories, one query, only when a coupon is scoped by category) and applies the
  stacking policy (``stacking.py``). At checkout (``strict``) a coupon that is unknown or
  another buyer's is NotFound, used, expired or not yet valid a Conflict, one that the
  policy does not apply (another shop's, below its minimum spend, a second of its kind) a
  Conflict with the policy's reason: nothing is written. In the cart these are notes.
- ``redeem`` marks the coupons used by one conditional UPDATE (unused, the buyer's, not
  expired: a concurrent checkout that used one first makes the count short and this
  checkout roll back) and records on which orders each was used, one INSERT: two
  statements whatever the number of lines.
- When every order a coupon was used on is closed or fully refunded, the coupon becomes
  unused again if it has not expired (listeners of orders' "closed" and "refunded").
"""

from __future__ import annotations

from collections import defaultdict
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from xiaodian import bulk, clock
from xiaodian.campaigns import stacking
from xiaodian.campaigns.models import (
    Coupon,
    CouponRedemption,
    CouponScope,
    CouponStatus,
    CouponTemplate,
)
from xiaodian.campaigns.service import offer_of
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, NotFound, _
from xiaodian.orders import adjust, lifecycle
from xiaodian.orders import service as orders_service

_REDEMPTIONS = cast(Table, CouponRedemption.__table__)


def _refusal(coupon: Coupon, now: object) -> tuple[str, str] | None:
    if coupon.status == CouponStatus.USED:
        return _("This coupon was already used."), "coupon_used"
    if coupon.expires_at <= now:  # type: ignore[operator]
        return _("This coupon has expired."), "coupon_expired"
    if coupon.valid_from > now:  # type: ignore[operator]
        return _("This coupon is not valid yet."), "coupon_not_yet_valid"
    return None


class CouponAdjuster:
    def available(self, db: Session, buyer_id: int) -> list[int]:
        """The buyer's unused, valid coupons, oldest expiry first (one query)."""
        now = clock.now()
        return list(
            db.scalars(
                select(Coupon.id)
                .where(
                    Coupon.buyer_id == buyer_id,
                    Coupon.status == CouponStatus.UNUSED,
                    Coupon.valid_from <= now,
                    Coupon.expires_at > now,
                )
                .order_by(Coupon.expires_at, Coupon.id)
                .limit(adjust.MAX_CHOSEN)
            )
        )

    def quote(
        self,
        db: Session,
        buyer_id: int,
        lines: list[adjust.Line],
        chosen: list[int],
        *,
        strict: bool,
    ) -> adjust.Adjustment:
        now = clock.now()
        found = {
            coupon.id: (coupon, template)
            for coupon, template in db.execute(
                select(Coupon, CouponTemplate)
                .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
                .where(Coupon.id.in_(chosen), Coupon.buyer_id == buyer_id)
            )
        }
        result = adjust.Adjustment()
        held: list[stacking.Held] = []
        names: dict[int, str] = {}
        for coupon_id in chosen:
            if coupon_id not in found:
                if strict:
                    raise NotFound(_("Coupon not found."), code="coupon_not_found")
                result.notes.append(
                    adjust.Note(
                        coupon_id, "", False, reason=_("Coupon not found."), code="coupon_not_found"
                    )
                )
                continue
            coupon, template = found[coupon_id]
            names[coupon_id] = template.name
            refusal = _refusal(coupon, now)
            if refusal is not None:
                if strict:
                    raise Conflict(refusal[0], code=refusal[1])
                result.notes.append(
                    adjust.Note(coupon_id, template.name, False, reason=refusal[0], code=refusal[1])
                )
                continue
            held.append(
                stacking.Held(
                    coupon_id=coupon_id,
                    shop_id=template.shop_id,
                    level=template.level,
                    scope=template.scope,
                    scope_ids=frozenset(template.scope_ids or ()),
                    offer=offer_of(template),
                )
            )
        categories: dict[int, int] = {}
        if any(h.scope == CouponScope.CATEGORIES for h in held):
            categories = catalog_service.category_ids(db, {line.product_id for line in lines})
        quoted = stacking.quote(
            [
                stacking.Line(
                    line.sku_id,
                    line.shop_id,
                    line.product_id,
                    categories.get(line.product_id, 0),
                    line.amount_fen,
                )
                for line in lines
            ],
            held,
        )
        for skipped in quoted.not_applied:
            if strict:
                raise Conflict(skipped.reason, code=skipped.code)
            result.notes.append(
                adjust.Note(
                    skipped.coupon_id,
                    names[skipped.coupon_id],
                    False,
                    reason=skipped.reason,
                    code=skipped.code,
                )
            )
        for applied in quoted.applied:
            result.notes.append(
                adjust.Note(applied.coupon_id, names[applied.coupon_id], True, applied.discount_fen)
            )
        result.discount_fen = dict(quoted.discount_fen)
        result.subsidy_fen = dict(quoted.platform_fen)
        result.detail = {"parts": {a.coupon_id: dict(a.parts) for a in quoted.applied}}
        return result

    def redeem(
        self, db: Session, buyer_id: int, adjustment: adjust.Adjustment, orders: dict[int, int]
    ) -> None:
        parts = cast(dict[int, dict[int, int]], adjustment.detail.get("parts", {}))
        if not parts:
            return
        now = clock.now()
        used = db.execute(
            update(Coupon)
            .where(
                Coupon.id.in_(list(parts)),
                Coupon.buyer_id == buyer_id,
                Coupon.status == CouponStatus.UNUSED,
                Coupon.expires_at > now,
            )
            .values(status=CouponStatus.USED, used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if used != len(parts):
            raise Conflict(_("This coupon was already used."), code="coupon_used")
        rows: list[dict[str, object]] = []
        for coupon_id, by_sku in sorted(parts.items()):
            per_order: dict[int, int] = defaultdict(int)
            for sku_id, fen in by_sku.items():
                per_order[orders[sku_id]] += fen
            rows.extend(
                {
                    "coupon_id": coupon_id,
                    "order_id": order_id,
                    "buyer_id": buyer_id,
                    "discount_fen": fen,
                    "at": now,
                    "returned_at": None,
                }
                for order_id, fen in sorted(per_order.items())
            )
        bulk.insert_rows(db, _REDEMPTIONS, rows)


ADJUSTER = adjust.register(CouponAdjuster())


def _fully_refunded(db: Session, order_ids: set[int]) -> set[int]:
    orders = orders_service.orders_by_ids(db, order_ids=sorted(order_ids))
    return {
        order.id
        for order in orders.values()
        if order.paid_fen > 0 and order.refunded_fen >= order.paid_fen
    }


@lifecycle.on("closed")
@lifecycle.on("refunded")
def return_coupons(db: Session, change: lifecycle.Change) -> None:
    """Coupons of orders now fully refunded: unused again (if unexpired) once every order
    each was used on is fully refunded. A few statements, nothing when no coupon was used."""
    redeemed = db.execute(
        select(CouponRedemption.coupon_id).where(
            CouponRedemption.order_id.in_(change.order_ids),
            CouponRedemption.returned_at.is_(None),
        )
    ).scalars()
    coupon_ids = set(redeemed)
    if not coupon_ids:
        return
    rows = db.execute(
        select(CouponRedemption.coupon_id, CouponRedemption.order_id).where(
            CouponRedemption.coupon_id.in_(coupon_ids), CouponRedemption.returned_at.is_(None)
        )
    ).all()
    done = _fully_refunded(db, {order_id for _c, order_id in rows})
    orders_of: dict[int, set[int]] = defaultdict(set)
    for coupon_id, order_id in rows:
        orders_of[coupon_id].add(order_id)
    back = sorted(c for c, ids in orders_of.items() if ids <= done)
    if not back:
        return
    db.execute(
        update(CouponRedemption)
        .where(CouponRedemption.coupon_id.in_(back), CouponRedemption.returned_at.is_(None))
        .values(returned_at=change.at)
        .execution_options(synchronize_session=False)
    )
    db.execute(
        update(Coupon)
        .where(
            Coupon.id.in_(back),
            Coupon.status == CouponStatus.USED,
            Coupon.expires_at > change.at,
        )
        .values(status=CouponStatus.UNUSED, used_at=None)
        .execution_options(synchronize_session=False)
    )

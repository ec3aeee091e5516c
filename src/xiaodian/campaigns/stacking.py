"""The stacking policy, in one place: which of a buyer's coupons apply to a cart, in what
order, how much each takes off each line, and why the others do not apply.

The rules (WeChat Shop's):

- at most one product-level coupon per shop, one shop-level coupon per shop and one
  platform coupon per order;
- product level first, then shop level, then platform: each coupon's threshold and its
  discount are reckoned on what the lines in its scope cost after the coupons before it;
- a coupon's discount is spread over the lines in its scope in proportion to what they
  cost at that point, in whole fen, the remainder by largest remainder
  (``money.split_proportionally``): the parts add up to the discount exactly, and no line
  gets more than it costs, so nothing is ever paid below zero;
- a platform coupon's parts are the platform's (its subsidy), a shop's coupon's parts the
  merchant's: each line keeps both, so refunds return the line's own share and income is
  reckoned on what the buyer paid.

Pure functions of the cart and the coupons: the cart, checkout and tests ask the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xiaodian.campaigns.models import CouponLevel, CouponScope
from xiaodian.campaigns.rules import Offer
from xiaodian.errors import _
from xiaodian.money import split_proportionally

_ORDER = {CouponLevel.PRODUCT: 0, CouponLevel.SHOP: 1, CouponLevel.PLATFORM: 2}


@dataclass(frozen=True)
class Line:
    """A cart line as the policy sees it: ``amount_fen`` is unit price x quantity."""

    key: int  # the SKU
    shop_id: int
    product_id: int
    category_id: int
    amount_fen: int


@dataclass(frozen=True)
class Held:
    """A coupon the buyer chose, with what its template offers."""

    coupon_id: int
    shop_id: int | None  # None: the platform's
    level: CouponLevel
    scope: CouponScope
    scope_ids: frozenset[int]
    offer: Offer

    def covers(self, line: Line) -> bool:
        if self.shop_id is not None and line.shop_id != self.shop_id:
            return False
        if self.scope == CouponScope.PRODUCTS:
            return line.product_id in self.scope_ids
        if self.scope == CouponScope.CATEGORIES:
            return line.category_id in self.scope_ids
        return True


@dataclass(frozen=True)
class Applied:
    coupon_id: int
    discount_fen: int
    parts: dict[int, int]  # line key -> fen


@dataclass(frozen=True)
class NotApplied:
    coupon_id: int
    reason: str  # an English msgid, translated at the edge
    code: str


@dataclass
class Quote:
    """What the coupons do to the cart: per line, the discount and the platform's part."""

    lines: list[Line]
    applied: list[Applied] = field(default_factory=list)
    not_applied: list[NotApplied] = field(default_factory=list)
    discount_fen: dict[int, int] = field(default_factory=dict)  # line key -> fen
    platform_fen: dict[int, int] = field(default_factory=dict)  # line key -> the platform's

    @property
    def total_discount_fen(self) -> int:
        return sum(self.discount_fen.values())

    def paid_fen(self, key: int) -> int:
        line = next(line for line in self.lines if line.key == key)
        return line.amount_fen - self.discount_fen.get(key, 0)


def quote(lines: list[Line], coupons: list[Held]) -> Quote:
    """Apply ``coupons`` to ``lines`` by the policy above."""
    result = Quote(lines=list(lines), discount_fen={line.key: 0 for line in lines})
    result.platform_fen = {line.key: 0 for line in lines}
    taken: set[tuple[CouponLevel, int | None]] = set()
    for coupon in sorted(coupons, key=lambda c: (_ORDER[c.level], c.coupon_id)):
        slot = (coupon.level, coupon.shop_id)
        if slot in taken:
            result.not_applied.append(
                NotApplied(
                    coupon.coupon_id,
                    _("Another coupon of the same kind already applies."),
                    "one_per_level",
                )
            )
            continue
        covered = [line for line in lines if coupon.covers(line)]
        left = [line.amount_fen - result.discount_fen[line.key] for line in covered]
        if not covered or sum(left) <= 0:
            result.not_applied.append(
                NotApplied(coupon.coupon_id, _("Nothing in the cart is covered."), "not_covered")
            )
            continue
        discount = coupon.offer.discount_fen(sum(left))
        if discount <= 0:
            result.not_applied.append(
                NotApplied(
                    coupon.coupon_id, _("The minimum spend is not reached."), "below_minimum"
                )
            )
            continue
        parts = split_proportionally(discount, left)
        applied = {}
        for line, part in zip(covered, parts, strict=True):
            result.discount_fen[line.key] += part
            if coupon.level == CouponLevel.PLATFORM:
                result.platform_fen[line.key] += part
            applied[line.key] = part
        taken.add(slot)
        result.applied.append(Applied(coupon.coupon_id, discount, applied))
    return result

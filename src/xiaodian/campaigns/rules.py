"""WeChat Shop's rules for a coupon, in one place: what a template may offer (checked when
it is written) and what a coupon takes off an amount (used by the stacking policy).

The floors, as WeChat Shop has them:

- a percent coupon never leaves the buyer paying less than 20% (2折): ``rate_percent``
  20..99, and it has a cap (``cap_fen``, the most it takes off, which is also what a budget
  counts for it);
- a fixed amount off is at most ¥200 and at most 80% of the threshold (满减); a coupon with
  no threshold (无门槛) takes at most 80% of the amount it applies to, whatever its face;
- whatever the kind, a discount never exceeds the amount it applies to, so no price
  becomes negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xiaodian.campaigns.models import CouponKind, CouponLevel, CouponScope
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, _
from xiaodian.money import MAX_FEN

MAX_OFF_FEN = 20_000  # ¥200
MIN_RATE_PERCENT = 20  # 2折
MAX_SHARE_PERCENT = 80  # of the threshold or the price
MAX_QUANTITY = 1_000_000
MAX_PER_BUYER = 100
MAX_VALID_DAYS = 365
MAX_SCOPE_IDS = 100


@dataclass(frozen=True)
class Offer:
    """What a coupon template offers, as checked (``check_offer``)."""

    kind: CouponKind
    off_fen: int = 0
    rate_percent: int = 100
    cap_fen: int = 0
    min_spend_fen: int = 0

    @property
    def most_fen(self) -> int:
        """The most one coupon can take off: what a budget counts for it."""
        return self.cap_fen if self.kind == CouponKind.PERCENT else self.off_fen

    def discount_fen(self, amount_fen: int) -> int:
        """What the coupon takes off ``amount_fen`` (the eligible amount, threshold met):
        never more than the amount, never past the floors."""
        if amount_fen <= 0 or amount_fen < self.min_spend_fen:
            return 0
        if self.kind == CouponKind.PERCENT:
            off = amount_fen * (100 - self.rate_percent) // 100
            return min(off, self.cap_fen, amount_fen)
        off = min(self.off_fen, amount_fen)
        if self.kind == CouponKind.NO_THRESHOLD:
            off = min(off, amount_fen * MAX_SHARE_PERCENT // 100)
        return off


def _whole(value: object, *, lo: int, hi: int, code: str, message: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(message, code=code, lo=lo, hi=hi)
    return value


def check_offer(
    kind: str, *, off_fen: int, rate_percent: int, cap_fen: int, min_spend_fen: int
) -> Offer:
    """The offer, or InvalidInput naming the floor it breaks."""
    try:
        kind_ = CouponKind(kind)
    except ValueError:
        raise InvalidInput(_("Unknown coupon kind."), code="bad_kind") from None
    min_spend_fen = _whole(
        min_spend_fen,
        lo=0,
        hi=MAX_FEN,
        code="bad_min_spend",
        message=_("The minimum spend must be between %(lo)s and %(hi)s fen."),
    )
    if kind_ == CouponKind.PERCENT:
        rate = _whole(
            rate_percent,
            lo=MIN_RATE_PERCENT,
            hi=99,
            code="below_floor",
            message=_("A discount coupon leaves the buyer paying %(lo)s to %(hi)s percent."),
        )
        cap = _whole(
            cap_fen,
            lo=1,
            hi=MAX_OFF_FEN,
            code="bad_cap",
            message=_("A discount coupon's cap must be between %(lo)s and %(hi)s fen."),
        )
        return Offer(kind_, rate_percent=rate, cap_fen=cap, min_spend_fen=min_spend_fen)
    off = _whole(
        off_fen,
        lo=1,
        hi=MAX_OFF_FEN,
        code="above_floor",
        message=_("The amount off must be between %(lo)s and %(hi)s fen."),
    )
    if kind_ == CouponKind.THRESHOLD:
        if min_spend_fen <= 0 or off * 100 > min_spend_fen * MAX_SHARE_PERCENT:
            raise InvalidInput(
                _("The amount off can be at most 80 percent of the minimum spend."),
                code="above_floor",
            )
    else:
        min_spend_fen = 0
    return Offer(kind_, off_fen=off, min_spend_fen=min_spend_fen)


@dataclass(frozen=True)
class Terms:
    """Everything about a template besides its offer, as checked (``check_terms``)."""

    name: str
    level: CouponLevel
    scope: CouponScope
    scope_ids: tuple[int, ...]
    quantity: int
    per_buyer_limit: int
    budget_fen: int | None
    starts_at: datetime
    ends_at: datetime
    valid_days: int | None


def check_terms(
    *,
    name: str,
    level: str,
    scope: str,
    scope_ids: list[int],
    quantity: int,
    per_buyer_limit: int,
    budget_fen: int | None,
    starts_at: datetime,
    ends_at: datetime,
    valid_days: int | None,
    platform: bool,
) -> Terms:
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 60:
        raise InvalidInput(_("A coupon needs a name of 1 to 60 characters."), code="bad_name")
    try:
        level_, scope_ = CouponLevel(level), CouponScope(scope)
    except ValueError:
        raise InvalidInput(_("Unknown coupon level or scope."), code="bad_scope") from None
    if platform != (level_ == CouponLevel.PLATFORM):
        raise InvalidInput(
            _("Platform coupons are the platform's; a shop's are product or shop level."),
            code="bad_level",
        )
    if level_ == CouponLevel.PRODUCT and scope_ != CouponScope.PRODUCTS:
        raise InvalidInput(_("A product coupon lists the products it is for."), code="bad_scope")
    ids = tuple(dict.fromkeys(scope_ids or []))
    if scope_ == CouponScope.ALL:
        ids = ()
    elif not 1 <= len(ids) <= MAX_SCOPE_IDS or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in ids
    ):
        raise InvalidInput(
            _("List 1 to %(n)s categories or products."), code="bad_scope", n=MAX_SCOPE_IDS
        )
    quantity = _whole(
        quantity,
        lo=1,
        hi=MAX_QUANTITY,
        code="bad_quantity",
        message=_("The quantity must be between %(lo)s and %(hi)s."),
    )
    limit = _whole(
        per_buyer_limit,
        lo=1,
        hi=MAX_PER_BUYER,
        code="bad_limit",
        message=_("The limit per buyer must be between %(lo)s and %(hi)s."),
    )
    if budget_fen is not None:
        budget_fen = _whole(
            budget_fen,
            lo=1,
            hi=MAX_FEN,
            code="bad_budget",
            message=_("The budget must be between %(lo)s and %(hi)s fen."),
        )
    for moment in (starts_at, ends_at):
        if moment.tzinfo is None or not 2000 <= moment.year <= 2100:
            raise InvalidInput(
                _("Give the times with their time zone, between 2000 and 2100."),
                code="bad_window",
            )
    if ends_at <= starts_at:
        raise InvalidInput(_("A coupon must end after it starts."), code="bad_window")
    if valid_days is not None:
        valid_days = _whole(
            valid_days,
            lo=1,
            hi=MAX_VALID_DAYS,
            code="bad_valid_days",
            message=_("A coupon is valid for %(lo)s to %(hi)s days."),
        )
    return Terms(
        name, level_, scope_, ids, quantity, limit, budget_fen, starts_at, ends_at, valid_days
    )


# Who may claim: anyone; new buyers only (no paid order: in the shop for a shop's coupon,
# anywhere for the platform's); the shop's followers; or viewers of one live room while it
# is on air.
AUDIENCES = ("everyone", "new_buyers", "followers", "live_room")


def check_audience(
    audience: str, room_id: int | None, *, platform: bool = False
) -> tuple[str, int | None]:
    if audience not in AUDIENCES:
        raise InvalidInput(_("Unknown audience."), code="bad_audience")
    if audience == "followers" and platform:
        raise InvalidInput(
            _("Followers-only coupons are a shop's, for its followers."), code="bad_audience"
        )
    if audience == "live_room":
        if not (
            isinstance(room_id, int) and not isinstance(room_id, bool) and 0 < room_id <= MAX_ID
        ):
            raise InvalidInput(_("A live-room coupon names its live room."), code="bad_room")
        return audience, room_id
    return audience, None

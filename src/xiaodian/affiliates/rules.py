"""Each shop's attribution rule: the lock windows (WeChat's defaults: a product click locks
the buyer to the promoter for 5 days, an order extends it to 20; a content click 10,
extended to 35) and whether a promoter earns on their own purchases (not by default).

The rule's ``version`` counts its changes; every order line's touch stores the rule and
its version as they were, so anyone can see why an order was or was not credited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.affiliates.models import ShopRule
from xiaodian.errors import InvalidInput, _

# The precedence among several promoters, named and versioned with every touch
# (docs/architecture.md, "Affiliates"): a product lock before a shop lock, then the lock
# clicked first; the lock's own promoter only while it is in force.
PRECEDENCE = "product-before-shop, first-lock-wins"
PRECEDENCE_VERSION = 1
MAX_DAYS = 90


@dataclass(frozen=True)
class Rule:
    shop_id: int
    product_days: int = 5
    product_order_days: int = 20
    content_days: int = 10
    content_order_days: int = 35
    allow_self_purchase: bool = False
    version: int = 0  # 0: the defaults, never changed

    def stored(self) -> dict[str, Any]:
        """The rule as a touch stores it."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "shop_id"},
            "precedence": PRECEDENCE,
            "precedence_version": PRECEDENCE_VERSION,
        }


def _of(row: ShopRule | Row[*tuple[Any, ...]]) -> Rule:
    return Rule(
        row.shop_id,
        row.product_days,
        row.product_order_days,
        row.content_days,
        row.content_order_days,
        row.allow_self_purchase,
        row.version,
    )


def rule_of(row: ShopRule | None, shop_id: int) -> Rule:
    """The rule a shop's row says (the defaults without one): for a caller that read the
    row in its own query (a tracked link's click)."""
    return Rule(shop_id) if row is None else _of(row)


_T = ShopRule.__table__.c
# A rule's columns, on the table: no ORM execution (asked at every checkout).
_RULES = select(
    _T.shop_id,
    _T.product_days,
    _T.product_order_days,
    _T.content_days,
    _T.content_order_days,
    _T.allow_self_purchase,
    _T.version,
).where(_T.shop_id.in_(bindparam("ids", expanding=True)))


def rules_for(db: Session, shop_ids: Iterable[int]) -> dict[int, Rule]:
    """Each shop's rule (the defaults for a shop without one), one query. Joins the
    caller's transaction (read only)."""
    wanted = set(shop_ids)
    found: dict[int, Rule] = {}
    if wanted:
        found = {r.shop_id: _of(r) for r in db.execute(_RULES, {"ids": list(wanted)})}
    return {shop_id: found.get(shop_id, Rule(shop_id)) for shop_id in wanted}


def rule_for(db: Session, shop_id: int) -> Rule:
    return rules_for(db, [shop_id])[shop_id]


def shop_rule(db: Session, actor: Actor, shop_id: int) -> Rule:
    """The shop's rule for its staff (404 for strangers)."""
    actor.require_shop(shop_id)
    return rule_for(db, shop_id)


def update_rule(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    product_days: int,
    product_order_days: int,
    content_days: int,
    content_order_days: int,
    allow_self_purchase: bool,
) -> Rule:
    """The shop owner sets its windows (whole days 1..90, an order's extension at least the
    click's window); the version goes up by one. Commits."""
    actor.require_shop(shop_id, owner=True)
    days = (product_days, product_order_days, content_days, content_order_days)
    if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DAYS for d in days):
        raise InvalidInput(
            _("A window is a whole number of days from 1 to %(max)s."),
            code="bad_window",
            max=MAX_DAYS,
        )
    if product_order_days < product_days or content_order_days < content_days:
        raise InvalidInput(
            _("An order's extension cannot be shorter than the click's window."),
            code="bad_window",
        )
    row = db.get(ShopRule, shop_id)
    if row is None:
        row = ShopRule(shop_id=shop_id, version=0)
        db.add(row)
    row.product_days, row.product_order_days = product_days, product_order_days
    row.content_days, row.content_order_days = content_days, content_order_days
    row.allow_self_purchase = allow_self_purchase
    row.version = (row.version or 0) + 1
    row.updated_at = clock.now()
    db.flush()
    rule = _of(row)
    db.commit()
    return rule

"""Attribution: when orders are created, each line's touch is decided and stored.

The ``created`` listener (in the checkout's transaction) reads the lines, the locks in
force of the buyer (``u:<id>``) and of the visitor whose signed cookie the checkout request
carried (``Change.touch``), the plans of the products and the shops' rules, and writes one
touch per line: credited to a promoter (with the plan and the rate of this moment) or not,
with the reason, the rule and its version, and every lock it weighed with its verdict.

Precedence (``rules.PRECEDENCE``): for a line, a lock in force on the product comes before
one on the whole shop; among several, the one clicked first (its promoter keeps the buyer
for the window). A lock is in force until ``locked_until`` or, once an order was credited
through it, until that order's extension (``extends_until``: the order's time plus the
shop's order window), whichever is later. Then:

- the buyer is the promoter: ``self_purchase`` (nothing) unless the shop allows it;
- the product is in a 专属 plan of another promoter: ``exclusive_other``;
- the promoter was invited into the 定向 plan: its invite's rate (``targeted``);
- the product is in a 普通 plan: its rate (``open``);
- otherwise ``no_plan``: shown, linked, but no commission.

Cost: five statements per checkout whether or not the request carried a touch (lines,
locks, plans with invites, rules, the touches' INSERT), so attribution costs checkout no
statement (``tests/trading/test_statement_counts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from xiaodian import bulk
from xiaodian.actor import Actor
from xiaodian.affiliates import links, rules
from xiaodian.affiliates.models import LinkKind, Lock, Plan, PlanInvite, PlanKind, Touch
from xiaodian.affiliates.service import in_force
from xiaodian.errors import NotFound, _
from xiaodian.orders import lifecycle
from xiaodian.orders import service as orders_service

_TOUCHES = cast(Table, Touch.__table__)


@dataclass(frozen=True)
class _Lock:
    id: int
    visitor: str
    shop_id: int
    product_id: int
    promoter_id: int
    link_id: int
    kind: LinkKind
    clicked_at: datetime
    ends: datetime


_LOCK = cast(Table, Lock.__table__)
# A lock's columns and its latest extension, on the tables (the locks are read, never
# loaded as objects: no ORM execution at every checkout).
_LOCKS = select(
    _LOCK.c.id,
    _LOCK.c.visitor,
    _LOCK.c.shop_id,
    _LOCK.c.product_id,
    _LOCK.c.promoter_id,
    _LOCK.c.link_id,
    _LOCK.c.kind,
    _LOCK.c.clicked_at,
    _LOCK.c.locked_until,
    select(func.max(_TOUCHES.c.extends_until))
    .where(_TOUCHES.c.lock_id == _LOCK.c.id)
    .scalar_subquery()
    .label("extension"),
).where(
    _LOCK.c.visitor.in_(bindparam("visitors", expanding=True)),
    _LOCK.c.shop_id.in_(bindparam("shops", expanding=True)),
)
_PLANS = (
    select(Plan, PlanInvite.promoter_id, PlanInvite.rate_pct)
    .outerjoin(
        PlanInvite,
        (PlanInvite.plan_id == Plan.id)
        & PlanInvite.promoter_id.in_(bindparam("promoters", expanding=True)),
    )
    .where(Plan.product_id.in_(bindparam("products", expanding=True)))
)


def _locks(db: Session, visitors: set[str], shop_ids: set[int], now: datetime) -> list[_Lock]:
    rows = db.execute(_LOCKS, {"visitors": list(visitors), "shops": list(shop_ids)})
    found = []
    for lock in rows:
        extension = lock.extension
        ends = max(lock.locked_until, extension) if extension is not None else lock.locked_until
        found.append(
            _Lock(
                lock.id,
                lock.visitor,
                lock.shop_id,
                lock.product_id,
                lock.promoter_id,
                lock.link_id,
                lock.kind,
                lock.clicked_at,
                ends,
            )
        )
    return found


@dataclass
class _Plans:
    by_product: dict[int, dict[PlanKind, Plan]]
    invites: dict[tuple[int, int], int]  # (plan id, promoter id) -> rate


def _plans(db: Session, product_ids: set[int], promoter_ids: set[int]) -> _Plans:
    """Every plan of the products with the invites of these promoters, one query."""
    rows = db.execute(
        _PLANS, {"promoters": list(promoter_ids or {0}), "products": list(product_ids)}
    )
    plans = _Plans({}, {})
    for plan, promoter_id, rate in rows:
        plans.by_product.setdefault(plan.product_id, {})[plan.kind] = plan
        if promoter_id is not None:
            plans.invites[plan.id, promoter_id] = rate
    return plans


def _rate(
    plans: _Plans, product_id: int, promoter_id: int, now: datetime
) -> tuple[str, Plan | None, int]:
    """(reason, plan, rate) for a promoter's line."""
    found = {k: p for k, p in plans.by_product.get(product_id, {}).items() if in_force(p, now)}
    exclusive = found.get(PlanKind.EXCLUSIVE)
    if exclusive is not None:
        if exclusive.promoter_id == promoter_id:
            return "credited", exclusive, exclusive.rate_pct
        return "exclusive_other", None, 0
    targeted = found.get(PlanKind.TARGETED)
    if targeted is not None and (targeted.id, promoter_id) in plans.invites:
        return "credited", targeted, plans.invites[targeted.id, promoter_id]
    open_plan = found.get(PlanKind.OPEN)
    if open_plan is not None:
        return "credited", open_plan, open_plan.rate_pct
    return "no_plan", None, 0


def _chosen(candidates: list[_Lock]) -> _Lock | None:
    """The precedence: a product lock before a shop lock, then the first clicked."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.product_id == 0, c.clicked_at, c.id))


def _per_product(lines: list[orders_service.PaidLine]) -> list[orders_service.PaidLine]:
    """One line per order and product (several SKUs of a product are one touch)."""
    merged: dict[tuple[int, int], orders_service.PaidLine] = {}
    for line in lines:
        key = (line.order_id, line.product_id)
        seen = merged.get(key)
        merged[key] = (
            line if seen is None else replace(seen, amount_fen=seen.amount_fen + line.amount_fen)
        )
    return list(merged.values())


@lifecycle.on("created")
def attribute(db: Session, change: lifecycle.Change) -> None:
    """Decide and store every new line's touch. Joins the checkout's transaction."""
    lines = _per_product(orders_service.lines_of(db, change))
    if not lines:
        return
    now = change.at
    visitor = links.visitor_of_touch(change.touch) if change.touch else None
    visitors = {f"u:{line.buyer_id}" for line in lines} | ({visitor} if visitor else set())
    shop_ids = {line.shop_id for line in lines}
    locks = _locks(db, visitors, shop_ids, now)
    # Without a lock every line is "no_touch" and no plan is asked: no read of the plans.
    plans = (
        _plans(db, {line.product_id for line in lines}, {lock.promoter_id for lock in locks})
        if locks
        else _Plans({}, {})
    )
    shop_rules = rules.rules_for(db, shop_ids)
    rows: list[dict[str, Any]] = []
    for line in lines:
        own = {f"u:{line.buyer_id}"} | ({visitor} if visitor else set())
        weighed = [
            lock
            for lock in locks
            if lock.visitor in own
            and lock.shop_id == line.shop_id
            and lock.product_id in (line.product_id, 0)
        ]
        alive = [lock for lock in weighed if lock.ends > now]
        chosen = _chosen(alive)
        rule = shop_rules[line.shop_id]
        row: dict[str, Any] = {
            "order_id": line.order_id,
            "product_id": line.product_id,
            "shop_id": line.shop_id,
            "buyer_id": line.buyer_id,
            "amount_fen": line.amount_fen,
            "promoter_id": None,
            "link_id": None,
            "lock_id": None,
            "plan_id": None,
            "rate_pct": 0,
            "extends_until": None,
            "rule": rule.stored(),
            "created_at": now,
        }
        if chosen is None:
            row["reason"] = "lock_expired" if weighed else "no_touch"
        elif line.amount_fen == 0:  # nothing sold (a sample, 寄样): no credit, no extension
            row["reason"] = "free"
        elif chosen.promoter_id == line.buyer_id and not rule.allow_self_purchase:
            row["reason"] = "self_purchase"
        else:
            reason, plan, rate = _rate(plans, line.product_id, chosen.promoter_id, now)
            row["reason"] = reason
            if plan is not None:
                days = (
                    rule.content_order_days
                    if chosen.kind is LinkKind.CONTENT
                    else rule.product_order_days
                )
                row.update(
                    promoter_id=chosen.promoter_id,
                    link_id=chosen.link_id,
                    lock_id=chosen.id,
                    plan_id=plan.id,
                    rate_pct=rate,
                    extends_until=now + timedelta(days=days),
                )
        row["chain"] = [
            {
                "lock_id": lock.id,
                "promoter_id": lock.promoter_id,
                "link_id": lock.link_id,
                "kind": str(lock.kind),
                "scope": "product" if lock.product_id else "shop",
                "clicked_at": lock.clicked_at.isoformat(),
                "until": lock.ends.isoformat(),
                "verdict": (
                    "chosen"
                    if chosen is not None and lock.id == chosen.id
                    else ("expired" if lock.ends <= now else "later")
                ),
            }
            for lock in weighed
        ]
        rows.append(row)
    bulk.insert_rows(db, _TOUCHES, rows)


def shop_order_touches(db: Session, actor: Actor, shop_id: int, order_id: int) -> list[Touch]:
    """The touches of one order of the shop, for its staff (404 for strangers and for
    another shop's order)."""
    actor.require_shop(shop_id)
    rows = list(
        db.scalars(
            select(Touch)
            .where(Touch.order_id == order_id, Touch.shop_id == shop_id)
            .order_by(Touch.id)
        )
    )
    if not rows:
        raise NotFound(_("Order not found."), code="order_not_found")
    db.commit()
    return rows

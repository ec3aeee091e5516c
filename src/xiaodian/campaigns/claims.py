"""Claiming a coupon (领券): atomic, however many buyers race for the last ones.

``claim`` is one transaction of three statements after the template's read:

1. the buyer's count, a conditional upsert of ``coupon_claimers`` (``claimed + 1`` only
   while below the template's limit: PostgreSQL's ``ON CONFLICT DO UPDATE ... WHERE``
   locks the buyer's row and re-checks, SQLite's writers queue), so no buyer goes above
   the limit;
2. the coupon's row;
3. LAST, the one conditional UPDATE of the template (``issued + 1`` only while below the
   quantity, ``committed_fen`` + the coupon's most value only within the budget), so the
   hot row is locked from the end of the transaction to its commit. Nothing updated: the
   claim is refused and everything rolls back.

Templates all issued or stopped never come back (a returned coupon goes back to its buyer,
not to the template), so each process remembers them (``_spent``) and turns their crowd
away without a transaction (``campaigns.fastpath`` answers them before the framework's
routing, once the bearer token is known to be a buyer's). With Redis, the gate
(``claim_gate``) does the same across processes and also counts each buyer's claims.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian import bulk, clock
from xiaodian.actor import Actor
from xiaodian.campaigns import claim_gate
from xiaodian.campaigns.models import Coupon, CouponClaimer, CouponStatus, TemplateStatus
from xiaodian.campaigns.service import CouponTemplate, get_template, offer_of
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict, DomainError, IllegalTransition, _
from xiaodian.follows import service as follows_service
from xiaodian.orders import service as orders_service

_CLAIMERS = cast(Table, CouponClaimer.__table__)
_TEMPLATES = cast(Table, CouponTemplate.__table__)

# Templates that will never issue again (all issued, budget spent, stopped): their refusal.
_spent: dict[int, DomainError] = {}
_spent_lock = threading.Lock()
_SPENT_MAX = 10_000


def sold_out() -> Conflict:
    return Conflict(_("All these coupons have been claimed."), code="coupons_gone")


def budget_spent() -> Conflict:
    return Conflict(_("This coupon's budget is spent."), code="budget_spent")


def limit_reached(limit: int) -> Conflict:
    return Conflict(_("You can claim at most %(n)s of this coupon."), code="claim_limit", n=limit)


def not_claimable() -> IllegalTransition:
    """Stopped or past its window: for good."""
    return IllegalTransition(_("This coupon cannot be claimed now."), code="not_claimable")


def not_started() -> IllegalTransition:
    return IllegalTransition(_("This coupon cannot be claimed now."), code="not_started")


# Refusals that stay true: the template never issues again.
_FINAL = frozenset({"coupons_gone", "budget_spent", "not_claimable"})


def _remember_spent(template_id: int, error: DomainError) -> None:
    with _spent_lock:
        if len(_spent) >= _SPENT_MAX:
            _spent.clear()
        _spent[template_id] = error


def remembered_refusal(template_id: int) -> DomainError | None:
    """The refusal this process remembers for a template that never issues again."""
    return _spent.get(template_id)


def forget_spent() -> None:
    """Tests: forget what this process remembered."""
    with _spent_lock:
        _spent.clear()


def claim(db: Session, actor: Actor, template_id: int) -> tuple[Coupon, CouponTemplate]:
    """Claim one coupon of the template for the signed-in buyer; commits. The coupon and
    its template (its counts as this claim left them).

    Raises NotFound (unknown template), IllegalTransition (stopped, not yet or no longer
    claimable), Conflict (all claimed, budget spent, the buyer at the limit)."""
    buyer_id = actor.require_user()
    spent = _spent.get(template_id)
    if spent is not None:
        raise spent
    gate = claim_gate.redis_gate()
    verdict = gate.take(template_id, buyer_id) if gate is not None else claim_gate.NOT_OPEN
    if verdict == claim_gate.SOLD_OUT:
        raise sold_out()
    admitted = verdict >= 0
    try:
        template = get_template(db, template_id)
        if verdict == claim_gate.LIMIT_REACHED:
            raise limit_reached(template.per_buyer_limit)
        _check_audience(db, template, buyer_id)
        coupon, claimed, left = _write(db, template, buyer_id)
        db.commit()
    except DomainError as exc:
        db.rollback()
        if admitted and gate is not None:
            gate.give_back(template_id, buyer_id)
        if exc.code in _FINAL:
            _remember_spent(template_id, exc)
        raise
    except BaseException:
        db.rollback()
        if admitted and gate is not None:
            gate.give_back(template_id, buyer_id)
        raise
    if gate is not None and not admitted:
        gate.learn(
            template_id,
            left=left,
            limit=template.per_buyer_limit,
            buyer_id=buyer_id,
            claimed=claimed,
        )
    return coupon, template


def _check_audience(db: Session, template: CouponTemplate, buyer_id: int) -> None:
    """New buyers only: no paid order (in the shop, for a shop's coupon); followers only:
    following the shop; a live-room coupon: only while its room is on air. One query, only
    for such coupons."""
    if template.audience == "new_buyers" and orders_service.has_paid_order(
        db, buyer_id=buyer_id, shop_id=template.shop_id
    ):
        raise Conflict(_("This coupon is for new buyers."), code="not_new_buyer")
    if template.audience == "followers" and not (
        template.shop_id is not None
        and follows_service.following(db, buyer_id, "shop", [template.shop_id])
    ):
        raise Conflict(
            _("This coupon is for the shop's followers: follow the shop first."),
            code="not_a_follower",
        )
    if template.audience == "live_room" and (
        template.room_id is None or not live_service.is_on_air(db, template.room_id)
    ):
        raise IllegalTransition(
            _("This coupon can be claimed in its live room while it is on air."),
            code="room_not_live",
        )


def _refusal(template: CouponTemplate) -> DomainError | None:
    now = clock.now()
    if template.status != TemplateStatus.ACTIVE or template.ends_at <= now:
        return not_claimable()
    if template.starts_at > now:
        return not_started()
    if template.issued >= template.quantity:
        return sold_out()
    return None


_built: dict[bool, tuple[Any, Any]] = {}


def _statements(postgresql_: bool) -> tuple[Any, Any]:
    """The buyer's conditional upsert and the template's conditional UPDATE, built once
    per dialect (a claim only changes their parameters)."""
    built = _built.get(postgresql_)
    if built is None:
        insert = postgresql.insert if postgresql_ else sqlite.insert
        upsert = (
            insert(_CLAIMERS)
            .values(template_id=bindparam("of_template"), buyer_id=bindparam("of_buyer"), claimed=1)
            .on_conflict_do_update(
                index_elements=["template_id", "buyer_id"],
                set_={"claimed": _CLAIMERS.c.claimed + 1},
                where=_CLAIMERS.c.claimed < bindparam("limit"),
            )
            .returning(_CLAIMERS.c.claimed)
        )
        most = bindparam("most", type_=_TEMPLATES.c.committed_fen.type)
        take = (
            update(_TEMPLATES)
            .where(
                _TEMPLATES.c.id == bindparam("template_id"),
                _TEMPLATES.c.status == TemplateStatus.ACTIVE.value,
                _TEMPLATES.c.issued < _TEMPLATES.c.quantity,
                _TEMPLATES.c.budget_fen.is_(None)
                | (_TEMPLATES.c.committed_fen + most <= _TEMPLATES.c.budget_fen),
            )
            .values(issued=_TEMPLATES.c.issued + 1, committed_fen=_TEMPLATES.c.committed_fen + most)
            .returning(_TEMPLATES.c.issued, _TEMPLATES.c.quantity, _TEMPLATES.c.committed_fen)
        )
        built = _built[postgresql_] = (upsert, take)
    return built


def _write(db: Session, template: CouponTemplate, buyer_id: int) -> tuple[Coupon, int, int]:
    """The three statements; the coupon, the buyer's claims and the coupons left."""
    refusal = _refusal(template)
    if refusal is not None:
        raise refusal
    limit = template.per_buyer_limit
    upsert, take = _statements(bulk.is_postgresql(db))
    claimed = db.execute(
        upsert, {"of_template": template.id, "of_buyer": buyer_id, "limit": limit}
    ).scalar()
    if claimed is None:
        raise limit_reached(limit)
    now = clock.now()
    expires = now + timedelta(days=template.valid_days) if template.valid_days else template.ends_at
    coupon = Coupon(
        template_id=template.id,
        buyer_id=buyer_id,
        status=CouponStatus.UNUSED,
        claimed_at=now,
        valid_from=now,
        expires_at=expires,
        used_at=None,
    )
    db.add(coupon)
    db.flush()
    most = offer_of(template).most_fen
    row: Any = db.execute(take, {"template_id": template.id, "most": most}).first()
    if row is None:
        db.refresh(template)
        if template.status != TemplateStatus.ACTIVE:
            raise _refusal(template) or not_claimable()
        raise sold_out() if template.issued >= template.quantity else budget_spent()
    set_committed_value(template, "issued", int(row.issued))
    set_committed_value(template, "committed_fen", int(row.committed_fen))
    return coupon, int(claimed), int(row.quantity) - int(row.issued)

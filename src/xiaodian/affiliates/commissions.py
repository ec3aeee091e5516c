"""Commission through the ledger: pending at payment, released at settlement, reduced in
proportion by refunds before it, clawed back by refunds after it.

Transfers (kind ``commission``), each in the transaction of its cause and keyed
``commission:<order>:<promoter>:<step>``, so a replayed event posts nothing:

- paid: D ``merchant:pending`` (the shop) / C ``promoter:pending``: the merchant's income
  is reduced by the commission from the start;
- a refund before settlement: the commission becomes ``full x (paid - refunded) // paid``
  (a full refund leaves 0); the difference goes back, D ``promoter:pending`` /
  C ``merchant:pending``;
- settlement (the ledger's ``on_settled``): D ``promoter:pending`` / C
  ``promoter:available``, and D ``merchant:available`` / C ``merchant:pending`` (the
  ledger settled the order's whole pending income; the commission's part was never the
  merchant's);
- a refund after settlement: the same proportion, clawed back, D ``promoter:available`` /
  C ``merchant:available`` (the payee's balance may go below zero: withdrawals wait).

A line earns ``amount x rate // 100`` (whole fen, rounded down); an order's commissions
together never exceed its paid amount less the platform fee: above that they are scaled
down to it, each rounded down and the fen left over given one by one to the largest
remainders (then the lowest promoter id), so the shares add up exactly. Then a member of an
agency gives it its share (``agencies.split``: rounded down, the member keeps the rest), and
at most five parties are paid per order (``agencies.cap_parties``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.affiliates import agencies
from xiaodian.affiliates.models import Commission, CommissionStatus, Touch
from xiaodian.catalog import service as catalog_service
from xiaodian.ledger import income, settlement
from xiaodian.ledger import service as ledger
from xiaodian.ledger.service import (
    AVAILABLE,
    PENDING,
    PROMOTER_AVAILABLE,
    PROMOTER_PENDING,
    PROMOTER_WITHDRAWING,
    Leg,
)
from xiaodian.orders import lifecycle
from xiaodian.orders import service as orders_service

S = CommissionStatus


def allot(raw: dict[int, int], cap: int) -> dict[int, int]:
    """Each payee's share: ``raw`` as it is when it fits under ``cap``; else scaled down to
    exactly ``cap`` (rounded down, the leftover fen to the largest remainders, ties to the
    lowest id). Whole fen that add up."""
    total = sum(raw.values())
    if total <= cap:
        return dict(raw)
    cap = max(cap, 0)
    shares = {k: v * cap // total for k, v in raw.items()}
    left = cap - sum(shares.values())
    order = sorted(raw, key=lambda k: (-(raw[k] * cap % total), k))
    for k in order[:left]:
        shares[k] += 1
    return shares


def _transfer(
    order_id: int, order_no: str, promoter: int, step: str, *legs: Leg
) -> ledger.NewTransfer:
    return ledger.NewTransfer(
        key=f"commission:{order_id}:{promoter}:{step}",
        kind="commission",
        legs=legs,
        order_id=order_id,
        order_no=order_no,
    )


_T = Touch.__table__.c
# The credited touches' columns, on the table (read, never loaded as objects: no ORM
# execution at every payment).
_CREDITED = select(_T.order_id, _T.promoter_id, _T.amount_fen, _T.rate_pct, _T.link_id).where(
    _T.order_id.in_(bindparam("ids", expanding=True)),
    _T.promoter_id.is_not(None),
    _T.rate_pct > 0,
)


@lifecycle.on("paid")
def record_pending(db: Session, change: lifecycle.Change) -> None:
    """Each credited touch of the paid orders: its payee's pending commission. One query
    when no line was credited."""
    touches = list(db.execute(_CREDITED, {"ids": list(change.order_ids)}))
    if not touches:
        return
    lines = orders_service.paid_lines(db, order_ids={t.order_id for t in touches})
    categories = catalog_service.category_ids(db, {line.product_id for line in lines})
    rates = income.fee_rates(db, set(categories.values()))
    orders: dict[int, orders_service.PaidLine] = {}
    weights: dict[int, int] = defaultdict(int)
    for line in lines:
        orders.setdefault(line.order_id, line)
        weights[line.order_id] += line.amount_fen * rates.get(categories.get(line.product_id, 0), 0)
    raw: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    link_of: dict[tuple[int, int], int | None] = {}
    for t in touches:
        assert t.promoter_id is not None
        raw[t.order_id][t.promoter_id] += t.amount_fen * t.rate_pct // 100
        link_of.setdefault((t.order_id, t.promoter_id), t.link_id)
    now = change.at
    rows, transfers = [], []
    in_agencies = agencies.shares_of(db, {p for by in raw.values() for p in by})
    for order_id, by_promoter in raw.items():
        order = orders[order_id]
        fee = ledger.half_up(weights[order_id], ledger.BP)
        shares = agencies.split(allot(dict(by_promoter), order.paid_fen - fee), in_agencies)
        for promoter, amount in sorted(shares.items()):
            if amount <= 0:
                continue
            rows.append(
                Commission(
                    order_id=order_id,
                    order_no=order.order_no,
                    shop_id=order.shop_id,
                    promoter_id=promoter,
                    link_id=link_of.get((order_id, promoter)),  # an agency's: none
                    paid_fen=order.paid_fen,
                    full_fen=amount,
                    amount_fen=amount,
                    expected_available_at=income.estimated_available_at(order.paid_at or now),
                    created_at=now,
                )
            )
            transfers.append(
                _transfer(
                    order_id,
                    order.order_no,
                    promoter,
                    "paid",
                    Leg(PENDING, order.shop_id, amount),
                    Leg(PROMOTER_PENDING, promoter, -amount),
                )
            )
    posted = ledger.post_transfers(db, transfers, at=now)
    db.add_all(r for r in rows if f"commission:{r.order_id}:{r.promoter_id}:paid" in posted.new)
    db.flush()


@lifecycle.on("refunded")
def reduce_for_refund(db: Session, change: lifecycle.Change) -> None:
    """A refund counted: each payee's commission on the order in proportion to what is
    left paid (once per refund reference)."""
    if not change.amount_fen or not change.ref:
        return
    rows = list(
        db.scalars(
            select(Commission)
            .where(Commission.order_id.in_(change.order_ids), Commission.status != S.VOID)
            .order_by(Commission.id)
            .with_for_update()
        )
    )
    keys = {c.id: f"commission:{c.order_id}:{c.promoter_id}:refund:{change.ref}" for c in rows}
    seen = ledger.transfer_keys(db, keys.values())
    transfers = []
    for c in rows:
        if keys[c.id] in seen:
            continue
        c.refunded_fen = min(c.paid_fen, c.refunded_fen + change.amount_fen)
        target = c.full_fen * (c.paid_fen - c.refunded_fen) // c.paid_fen if c.paid_fen else 0
        delta = c.amount_fen - target
        c.amount_fen = target
        pending = c.status is S.PENDING
        if pending and target == 0:
            c.status = S.VOID
        if not pending:
            c.clawed_fen += delta
        payee, merchant = (
            (PROMOTER_PENDING, PENDING) if pending else (PROMOTER_AVAILABLE, AVAILABLE)
        )
        step = f"refund:{change.ref}"
        legs = (Leg(payee, c.promoter_id, delta), Leg(merchant, c.shop_id, -delta))
        transfers.append(
            ledger.NewTransfer(
                key=keys[c.id],
                kind="commission",
                legs=legs if delta else (),
                order_id=c.order_id,
                order_no=c.order_no,
                ref=change.ref,
                note=step,
            )
        )
    ledger.post_transfers(db, transfers, at=change.at)
    db.flush()


@settlement.on_settled
def release(db: Session, settled: list[settlement.Settled], at: datetime) -> None:
    """The orders settled: their pending commission becomes available to the payees."""
    ids = [s.order_id for s in settled]
    rows = list(
        db.scalars(
            select(Commission).where(Commission.order_id.in_(ids), Commission.status == S.PENDING)
        )
    )
    if not rows:
        return
    transfers = []
    for c in rows:
        c.status, c.released_at = S.RELEASED, at
        transfers.append(
            _transfer(
                c.order_id,
                c.order_no,
                c.promoter_id,
                "released",
                Leg(PROMOTER_PENDING, c.promoter_id, c.amount_fen),
                Leg(PROMOTER_AVAILABLE, c.promoter_id, -c.amount_fen),
                Leg(AVAILABLE, c.shop_id, c.amount_fen),
                Leg(PENDING, c.shop_id, -c.amount_fen),
            )
        )
    ledger.post_transfers(db, transfers, at=at)
    db.flush()


# --------------------------------------------------------------------------- earnings


@dataclass(frozen=True)
class Earnings:
    pending_fen: int
    available_fen: int
    withdrawing_fen: int
    withdrawn_fen: int
    commissions: list[Commission]
    by_link: dict[int | None, int]  # link id -> commission now


def my_earnings(db: Session, actor: Actor) -> Earnings:
    """The signed-in promoter's balances (from the ledger), every commission (newest
    first, pending ones with their date) and the totals per link."""
    promoter = actor.require_user()
    keys = [
        (kind, promoter) for kind in (PROMOTER_PENDING, PROMOTER_AVAILABLE, PROMOTER_WITHDRAWING)
    ]
    raw = ledger.raw_balances(db, keys)
    rows = list(
        db.scalars(
            select(Commission)
            .where(Commission.promoter_id == promoter)
            .order_by(Commission.id.desc())
            .limit(500)
        )
    )
    by_link: dict[int | None, int] = defaultdict(int)
    for c in rows:
        by_link[c.link_id] += c.amount_fen
    released = sum(c.amount_fen for c in rows if c.status is S.RELEASED)
    available = ledger.shown(PROMOTER_AVAILABLE, raw[(PROMOTER_AVAILABLE, promoter)])
    withdrawing = ledger.shown(PROMOTER_WITHDRAWING, raw[(PROMOTER_WITHDRAWING, promoter)])
    db.commit()
    return Earnings(
        pending_fen=ledger.shown(PROMOTER_PENDING, raw[(PROMOTER_PENDING, promoter)]),
        available_fen=available,
        withdrawing_fen=withdrawing,
        withdrawn_fen=max(0, released - available - withdrawing),
        commissions=rows,
        by_link=dict(by_link),
    )

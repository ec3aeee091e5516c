"""The rules the platform runs by itself (the periodic job, ``jobs.py``), each recording a
violation the way an operator would, with the facts as evidence:

- late shipment: an order paid more than 48 hours ago and not shipped (2 points off, one
  violation per order);
- disputes: more than 0.65 % of the shop's paid orders of the last 30 days escalated to the
  platform (5 points off, at most one violation per shop in 30 days);
- prohibited words: a listed product whose title or description hits the prohibited words
  as the list stands now (catalog's screening; a word added after the product was
  reviewed): the product is removed, one violation per product and words found.

A finding is recorded once (the violation's UNIQUE ``rule_key``). The facts come from the
owning domains' reads (orders' and after-sales' times, catalog's screening).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.aftersales import service as aftersales_service
from xiaodian.catalog import review as catalog_review
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import service as orders_service
from xiaodian.violations import recording
from xiaodian.violations.service import Penalty, Violation

SHIP_HOURS = 48
LATE_POINTS = 2
DISPUTE_DAYS = 30
DISPUTE_RATIO_MAX = 0.0065
DISPUTE_POINTS = 5


def _known(db: Session, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(db.scalars(select(Violation.rule_key).where(Violation.rule_key.in_(keys))))


def _late_shipments(
    db: Session, now: datetime, shop_ids: list[int]
) -> list[tuple[str, recording.Record]]:
    limit = timedelta(hours=SHIP_HOURS)
    since = now - timedelta(days=DISPUTE_DAYS)
    orders = orders_service.order_times(db, since=since, shop_ids=shop_ids)
    late = [o for o in orders if o.paid_at and o.shipped_at is None and o.paid_at + limit < now]
    keys = {f"late_shipment:{o.order_no}": o for o in late}
    known = _known(db, list(keys))
    found: list[tuple[str, recording.Record]] = []
    for key, o in keys.items():
        if key in known:
            continue
        found.append(
            (
                key,
                recording.Record(
                    shop_id=o.shop_id,
                    target_kind="shop",
                    target_id=None,
                    rule="late_shipment",
                    evidence_text=f"订单 {o.order_no} 付款后 {SHIP_HOURS} 小时未发货",
                    penalty=str(Penalty.POINTS),
                    points=LATE_POINTS,
                ),
            )
        )
    return found


def _disputes(
    db: Session, now: datetime, shop_ids: list[int]
) -> list[tuple[str, recording.Record]]:
    since = now - timedelta(days=DISPUTE_DAYS)
    orders = orders_service.order_times(db, since=since, shop_ids=shop_ids)
    cases = aftersales_service.case_times(db, since=since, shop_ids=shop_ids)
    recent = set(
        db.scalars(
            select(Violation.shop_id).where(
                Violation.rule == "dispute_ratio", Violation.created_at > since
            )
        )
    )
    found: list[tuple[str, recording.Record]] = []
    for shop_id in shop_ids:
        paid = sum(1 for o in orders if o.shop_id == shop_id and o.paid_at and o.paid_at > since)
        disputes = sum(
            1 for c in cases if c.shop_id == shop_id and c.escalated_at and c.escalated_at > since
        )
        if shop_id in recent or not paid or disputes / paid <= DISPUTE_RATIO_MAX:
            continue
        found.append(
            (
                f"dispute_ratio:{shop_id}:{clock.today().isoformat()}",
                recording.Record(
                    shop_id=shop_id,
                    target_kind="shop",
                    target_id=None,
                    rule="dispute_ratio",
                    evidence_text=(
                        f"近 {DISPUTE_DAYS} 天 {paid} 笔付款订单中 {disputes} 笔纠纷升级至平台"
                        f"（{disputes / paid:.2%}，上限 {DISPUTE_RATIO_MAX:.2%}）"
                    ),
                    penalty=str(Penalty.POINTS),
                    points=DISPUTE_POINTS,
                ),
            )
        )
    return found


def _prohibited_words(db: Session) -> list[tuple[str, recording.Record]]:
    found: list[tuple[str, recording.Record]] = []
    after: int | None = 0
    while after is not None:
        rows, after = catalog_review.listed_with_hits(db, after_id=after)
        keys = {
            f"prohibited_words:{pid}:{'、'.join(sorted(hits))}": (pid, shop, title, hits)
            for pid, shop, title, hits in rows
        }
        known = _known(db, list(keys))
        for key, (pid, shop_id, title, hits) in keys.items():
            if key in known:
                continue
            found.append(
                (
                    key[:120],
                    recording.Record(
                        shop_id=shop_id,
                        target_kind="product",
                        target_id=pid,
                        rule="prohibited_words",
                        evidence_text=f"商品「{title}」含违禁词：{'、'.join(hits)}",
                        penalty=str(Penalty.REMOVE_PRODUCT),
                    ),
                )
            )
    return found


def run_rules(db: Session) -> int:
    """Run every rule over the active shops and record what each found (nothing twice).
    One transaction; returns the violations recorded."""
    now = clock.now()
    shop_ids = [s.id for s in merchants_service.list_shops(db)]
    if not shop_ids:
        return 0
    findings = [
        *_late_shipments(db, now, shop_ids),
        *_disputes(db, now, shop_ids),
        *_prohibited_words(db),
    ]
    for key, data in findings:
        recording.record_in_tx(db, data, actor_id=None, rule_key=key)
    db.commit()
    return len(findings)

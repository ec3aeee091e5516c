"""Merchant health: the domain's face. A shop's latest score and what it restricts, the
shops under a threshold (the operators' console), and the daily computation
(``compute_all``, the job's one call). The measures themselves are ``score.py``; the hooks
the lower domains own and this domain fills are ``hooks.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.aftersales import service as aftersales_service
from xiaodian.health import score
from xiaodian.health.models import ShopHealth
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import service as orders_service
from xiaodian.reviews import service as reviews_service


@dataclass(frozen=True)
class ShopScore:
    """A shop's stored score, as the merchant page and the console show it."""

    shop_id: int
    score: int
    business_day: date
    window_start: datetime
    window_end: datetime
    measures: list[dict[str, Any]]
    lowered_by: list[dict[str, Any]]

    @property
    def restrictions(self) -> list[str]:
        return score.restrictions(self.score)

    def part(self, name: str) -> tuple[float, int]:
        ms = [m for m in self.measures if m["part"] == name]
        return round(sum(m["points"] for m in ms), 1), sum(m["weight"] for m in ms)

    def lowered(self, measure: str) -> list[dict[str, Any]]:
        return [x for x in self.lowered_by if x["measure"] == measure]


def _view(row: ShopHealth) -> ShopScore:
    return ShopScore(
        row.shop_id,
        row.score,
        row.business_day,
        row.window_start,
        row.window_end,
        list(row.measures),
        list(row.lowered_by),
    )


def current(db: Session, *, shop_id: int) -> ShopScore | None:
    """The shop's latest score, None before the first daily run. Joins the caller's
    transaction (read only)."""
    row = db.get(ShopHealth, shop_id)
    return _view(row) if row is not None else None


def scores(db: Session, shop_ids: set[int]) -> dict[int, int]:
    """The latest scores of these shops (those scored so far), in one query."""
    if not shop_ids:
        return {}
    rows = db.execute(
        select(ShopHealth.shop_id, ShopHealth.score).where(ShopHealth.shop_id.in_(shop_ids))
    )
    return {int(shop_id): int(value) for shop_id, value in rows}


def shop_score(db: Session, actor: Actor, shop_id: int) -> ShopScore | None:
    """The shop's score for its staff (PermissionDenied otherwise). Read only."""
    actor.require_shop(shop_id)
    return current(db, shop_id=shop_id)


def below(db: Session, actor: Actor, *, threshold: int = score.LIVE_MIN) -> list[ShopScore]:
    """Operators: shops scoring under ``threshold``, lowest first."""
    actor.require_operator()
    rows = db.scalars(
        select(ShopHealth)
        .where(ShopHealth.score < threshold)
        .order_by(ShopHealth.score, ShopHealth.shop_id)
    )
    return [_view(r) for r in rows]


def count_restricted(db: Session, actor: Actor) -> dict[str, int]:
    """Operators: how many shops each threshold restricts now (one query)."""
    actor.require_operator()
    row = db.execute(
        select(
            func.count().filter(ShopHealth.score < score.LIVE_MIN),
            func.count().filter(ShopHealth.score < score.MARKETPLACE_MIN),
        )
    ).one()
    return {"live": int(row[0]), "marketplace": int(row[1])}


# --------------------------------------------------------------------------- daily


def _row(shop_id: int, health: score.Health, window: score.Window, day: date) -> dict[str, Any]:
    measures = [
        {
            "part": m.part,
            "name": m.name,
            "weight": m.weight,
            "points": round(m.points, 2),
            "inputs": m.inputs,
            "no_data": m.no_data,
        }
        for m in health.measures
    ]
    lowered: list[dict[str, Any]] = []
    for m in health.measures:
        newest = sorted(m.lowered, key=lambda x: x.at or window.start, reverse=True)
        lowered += [
            {
                "measure": x.measure,
                "kind": x.kind,
                "ref": x.ref,
                "why": x.why,
                "params": x.params,
                "at": x.at.isoformat() if x.at else None,
            }
            for x in newest[: score.MAX_LOWERED]
        ]
    return {
        "shop_id": shop_id,
        "score": health.score,
        "business_day": day,
        "window_start": window.start,
        "window_end": window.end,
        "measures": measures,
        "lowered_by": lowered,
        "computed_at": clock.now(),
    }


# (db, since, shop_ids) -> the points taken off those shops since then (a higher domain's:
# violations). Health imports none of them; ``compute_all`` asks each one registered.
DeductionSource = Callable[[Session, datetime, list[int]], Sequence[score.DeductionFact]]
_deduction_sources: list[DeductionSource] = []


def deduction_source(source: DeductionSource) -> DeductionSource:
    """Register a source of points taken off shops' scores (the violations domain's
    penalties), asked once per computation for every shop scored."""
    _deduction_sources.append(source)
    return source


def compute_all(db: Session, *, shop_ids: list[int] | None = None) -> int:
    """Compute every active shop's score (or these shops') over the 90 days ending now and
    store it, replacing the last one: three queries for the facts (and one per deduction
    source), one write per shop. Running it twice gives the same rows. One transaction;
    returns the shops scored."""
    ids = shop_ids if shop_ids is not None else [s.id for s in merchants_service.list_shops(db)]
    scored = _store_scores(db, ids)
    db.commit()
    return scored


def refresh_shop(db: Session, *, shop_id: int) -> ShopScore:
    """Score one shop again now (its points taken off or given back by a violation, the
    merchant sees the change at once rather than the next night). Joins the caller's
    transaction."""
    _store_scores(db, [shop_id])
    db.flush()
    row = db.get(ShopHealth, shop_id, populate_existing=True)
    assert row is not None
    return _view(row)


def _store_scores(db: Session, ids: list[int]) -> int:
    window = score.Window.ending(clock.now())
    if not ids:
        return 0
    orders = orders_service.order_times(db, since=window.start, shop_ids=ids)
    cases = aftersales_service.case_times(db, since=window.start, shop_ids=ids)
    stars = reviews_service.star_facts(db, since=window.start, shop_ids=ids)
    deductions = [d for source in _deduction_sources for d in source(db, window.start, ids)]
    day = clock.today()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    for shop_id in ids:
        health = score.compute(
            window,
            orders=[o for o in orders if o.shop_id == shop_id],
            cases=[c for c in cases if c.shop_id == shop_id],
            stars=[s for s in stars if s.shop_id == shop_id],
            deductions=[d for d in deductions if d.shop_id == shop_id],
        )
        values = _row(shop_id, health, window, day)
        stmt = insert(ShopHealth).values(values)
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["shop_id"],
                set_={k: stmt.excluded[k] for k in values if k != "shop_id"},
            )
        )
    return len(ids)


def restricted_shops_where(shop_id: Any, below_score: int) -> Any:
    """SQL: true when the shop's stored score is under ``below_score`` (no score: false).
    For the hooks (``hooks.py``)."""
    return (
        select(ShopHealth.shop_id)
        .where(ShopHealth.shop_id == shop_id, ShopHealth.score < below_score)
        .exists()
    )

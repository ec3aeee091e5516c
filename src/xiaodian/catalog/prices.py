"""Price governance (价格治理): every price a SKU has had is recorded (``SkuPrice``, by the
mapper's events), so its lowest price of the last 30 days is known.

- A struck-through "was" price is shown only when the SKU was offered at it in the last 30
  days (``honest_was``): a list price it never sold at is not shown.
- A price shown as a discount (a limited-time discount, a live flash sale) above that
  lowest price is flagged for operators (``flag_if_above_lowest``, called by the domain
  that sets the price, in its transaction); operators resolve flags with a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog.models import PriceFlag, SkuPrice
from xiaodian.errors import InvalidInput, NotFound, _

WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class PriceWindow:
    """A SKU's prices over the last 30 days: the lowest, and every one it was offered at."""

    lowest_fen: int
    offered: frozenset[int]


def windows(
    db: Session, sku_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, PriceWindow]:
    """Each SKU's prices of the last 30 days (the one in effect when the window opened,
    and every change since), two queries however many SKUs. A SKU with no record is
    absent."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    start = (now or clock.now()) - WINDOW
    seen: dict[int, set[int]] = {}
    since = db.execute(
        select(SkuPrice.sku_id, SkuPrice.price_fen).where(
            SkuPrice.sku_id.in_(ids), SkuPrice.at > start
        )
    )
    for sku_id, price in since:
        seen.setdefault(sku_id, set()).add(price)
    last_before = (
        select(SkuPrice.sku_id, func.max(SkuPrice.id).label("id"))
        .where(SkuPrice.sku_id.in_(ids), SkuPrice.at <= start)
        .group_by(SkuPrice.sku_id)
        .subquery()
    )
    for sku_id, price in db.execute(
        select(SkuPrice.sku_id, SkuPrice.price_fen).join(
            last_before, last_before.c.id == SkuPrice.id
        )
    ):
        seen.setdefault(sku_id, set()).add(price)
    return {
        sku_id: PriceWindow(lowest_fen=min(prices), offered=frozenset(prices))
        for sku_id, prices in seen.items()
    }


def honest_was(window: PriceWindow | None, was_fen: int | None) -> int | None:
    """The "was" price to strike through, or None: only one the SKU was offered at in the
    last 30 days (no record at all: the SKU predates the records, shown as it is)."""
    if was_fen is None or window is None:
        return was_fen
    return was_fen if was_fen in window.offered else None


def flag_if_above_lowest(
    db: Session,
    *,
    shop_id: int,
    source: str,
    ref_id: int,
    label: str,
    prices: dict[int, int],
) -> int:
    """Flag each SKU whose discount ``prices[sku_id]`` is above its 30-day lowest price
    (joins the caller's transaction; one query and one INSERT). Returns how many."""
    found = windows(db, prices)
    flags = [
        PriceFlag(
            sku_id=sku_id,
            shop_id=shop_id,
            source=source,
            ref_id=ref_id,
            label=label[:200],
            price_fen=price,
            lowest_fen=found[sku_id].lowest_fen,
            created_at=clock.now(),
        )
        for sku_id, price in sorted(prices.items())
        if sku_id in found and price > found[sku_id].lowest_fen
    ]
    db.add_all(flags)
    return len(flags)


def open_flags(db: Session, actor: Actor, *, limit: int = 200) -> list[PriceFlag]:
    """Operators: the flags not resolved yet, oldest first."""
    actor.require_operator()
    rows = list(
        db.scalars(
            select(PriceFlag)
            .where(PriceFlag.resolved_at.is_(None))
            .order_by(PriceFlag.id)
            .limit(limit)
        )
    )
    db.commit()
    return rows


def count_open_flags(db: Session, actor: Actor) -> int:
    actor.require_operator()
    return int(
        db.scalar(
            select(func.count()).select_from(PriceFlag).where(PriceFlag.resolved_at.is_(None))
        )
        or 0
    )


def resolve_flag(db: Session, actor: Actor, flag_id: int, *, note: str) -> PriceFlag:
    """Operators close a flag with what they found or did (a note is required)."""
    user_id = actor.require_operator()
    text = (note or "").strip()
    if not text or len(text) > 200:
        raise InvalidInput(_("Write what you found (at most 200 characters)."), code="bad_note")
    flag = db.scalar(select(PriceFlag).where(PriceFlag.id == flag_id).with_for_update())
    if flag is None:
        raise NotFound(_("Price flag not found."), code="price_flag_not_found")
    if flag.resolved_at is None:
        flag.resolved_at, flag.resolved_by, flag.note = clock.now(), user_id, text
    db.commit()
    return flag

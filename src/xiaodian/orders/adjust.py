"""Checkout adjustments: orders asks registered adjusters what to take off each line.

Orders knows nothing of coupons. A domain above it (campaigns) registers an adjuster here
when its service module is imported (``adjust.register(...)``); checkout, the cart and the
checkout page ask ``quote`` with the buyer's chosen ids (the coupons), and checkout asks
``redeem`` once the orders are written, in the same transaction.

Guarantees:

- An adjuster is given the lines (``Line``: what each costs before it) and the chosen ids
  and answers per line what it takes off (``discount_fen``) and which part of that the
  platform funds (``subsidy_fen``); a line never gets more off than it costs, so what the
  buyer pays is never negative. Several adjusters apply in the order they registered,
  each to what the lines cost after the ones before.
- ``quote`` writes nothing; at checkout an id an adjuster will not take (unknown, another
  buyer's, used, expired, not applying to the cart) is its DomainError and nothing is
  written. ``redeem`` marks what was used, in the caller's transaction, or raises (a
  concurrent checkout used it first) so that the whole checkout rolls back.
- No chosen ids: no adjuster is asked and checkout costs what it cost before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, NotFound, _

MAX_CHOSEN = 10


@dataclass(frozen=True)
class Line:
    """A line as an adjuster sees it: ``amount_fen`` is what it costs before the adjuster."""

    sku_id: int
    shop_id: int
    product_id: int
    amount_fen: int


@dataclass(frozen=True)
class Note:
    """What one chosen id did: applied (``discount_fen``) or not, and why (an English msgid,
    translated at the edge, and a code)."""

    ref_id: int
    label: str
    applied: bool
    discount_fen: int = 0
    reason: str = ""
    code: str = ""


@dataclass
class Adjustment:
    """Per SKU: what comes off and the platform's part of it; the notes explaining it."""

    discount_fen: dict[int, int] = field(default_factory=dict)
    subsidy_fen: dict[int, int] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    # What ``redeem`` needs to remember (the adjuster's own data, opaque to orders).
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def total_fen(self) -> int:
        return sum(self.discount_fen.values())


class Adjuster(Protocol):
    def available(self, db: Session, buyer_id: int) -> list[int]:
        """The ids the buyer could choose now (the cart and checkout pages quote them)."""
        ...

    def quote(
        self, db: Session, buyer_id: int, lines: list[Line], chosen: list[int], *, strict: bool
    ) -> Adjustment:
        """What to take off ``lines``. ``strict`` (checkout): a chosen id that does not
        apply is a DomainError; otherwise (the cart) it is a note. Writes nothing."""
        ...

    def redeem(
        self, db: Session, buyer_id: int, adjustment: Adjustment, orders: dict[int, int]
    ) -> None:
        """Mark what ``adjustment`` used; ``orders``: SKU -> the new order's id."""
        ...


_adjusters: list[Adjuster] = []


def register(adjuster: Adjuster) -> Adjuster:
    """Register ``adjuster`` (once; the same object twice keeps one)."""
    if adjuster not in _adjusters:
        _adjusters.append(adjuster)
    return adjuster


def available(db: Session, buyer_id: int) -> list[int]:
    """What the buyer could choose, of every adjuster (one query each)."""
    ids: list[int] = []
    for adjuster in list(_adjusters):
        ids.extend(i for i in adjuster.available(db, buyer_id) if i not in ids)
    return ids[:MAX_CHOSEN]


def check_chosen(chosen: object) -> list[int]:
    """The chosen ids, checked: whole positive numbers, distinct, at most ``MAX_CHOSEN``."""
    if chosen is None:
        return []
    if not isinstance(chosen, list | tuple):
        raise InvalidInput(_("Coupons must be a list of ids."), code="bad_coupons")
    ids: list[int] = []
    for item in chosen:
        if not isinstance(item, int) or isinstance(item, bool):
            raise InvalidInput(_("Coupons must be a list of ids."), code="bad_coupons")
        if not 0 < item <= MAX_ID:
            raise NotFound(_("Coupon not found."), code="coupon_not_found")
        if item not in ids:
            ids.append(item)
    if len(ids) > MAX_CHOSEN:
        raise InvalidInput(
            _("At most %(n)s coupons per checkout."), code="too_many_coupons", n=MAX_CHOSEN
        )
    return ids


@dataclass
class Quoted:
    """Every adjuster's answer, and what they take off per SKU together."""

    parts: list[tuple[Adjuster, Adjustment]] = field(default_factory=list)
    discount_fen: dict[int, int] = field(default_factory=dict)
    subsidy_fen: dict[int, int] = field(default_factory=dict)

    @property
    def notes(self) -> list[Note]:
        return [note for _adjuster, part in self.parts for note in part.notes]

    @property
    def applied(self) -> list[Note]:
        return [note for note in self.notes if note.applied]

    @property
    def not_applied(self) -> list[Note]:
        return [note for note in self.notes if not note.applied]

    @property
    def total_fen(self) -> int:
        return sum(self.discount_fen.values())


def quote(
    db: Session, buyer_id: int, lines: list[Line], chosen: list[int], *, strict: bool
) -> Quoted:
    """Ask every adjuster in turn (none when nothing is chosen). A line's discount is capped
    at what it costs whatever an adjuster answers."""
    result = Quoted(
        discount_fen={line.sku_id: 0 for line in lines},
        subsidy_fen={line.sku_id: 0 for line in lines},
    )
    if not chosen or not lines:
        return result
    for adjuster in list(_adjusters):
        current = [
            Line(
                line.sku_id,
                line.shop_id,
                line.product_id,
                line.amount_fen - result.discount_fen[line.sku_id],
            )
            for line in lines
        ]
        part = adjuster.quote(db, buyer_id, current, chosen, strict=strict)
        for line in current:
            off = max(0, min(part.discount_fen.get(line.sku_id, 0), line.amount_fen))
            result.discount_fen[line.sku_id] += off
            result.subsidy_fen[line.sku_id] += max(
                0, min(part.subsidy_fen.get(line.sku_id, 0), off)
            )
        result.parts.append((adjuster, part))
    return result


def redeem(db: Session, buyer_id: int, quoted: Quoted, orders: dict[int, int]) -> None:
    for adjuster, part in quoted.parts:
        adjuster.redeem(db, buyer_id, part, orders)

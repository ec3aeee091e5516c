"""Stock reservation: the only code that moves stock for orders.

A SKU keeps four counters in one row (``on_hand + reserved + sold == received``, none below
zero). Every movement here is ONE conditional UPDATE whose row count decides, never a
read-modify-write, so two buyers racing for the last unit cannot both get it: on SQLite
write transactions begin IMMEDIATE and queue; on PostgreSQL the UPDATE locks the row and
re-checks its condition after a concurrent writer commits.

- ``reserve``: on hand -> reserved (checkout)
- ``release``: reserved -> on hand (cancel, payment timeout)
- ``sell``: reserved -> sold, and ``Product.sales_count`` grows (payment)
- ``restock``: sold -> on hand (refunded before shipping)

Each writes a ``StockMovement`` row whose ``delta`` is signed by what it does to the units
in the warehouse: reserve -q, release +q, sell -q (they leave), restock +q. The ``*_many``
forms move several SKUs in one statement (constant SQL however many lines an order has).
Callers (orders) guard each event by their own conditional state change, so every line
moves exactly once per event.
None of these commit: they join the caller's transaction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.catalog.models import Product, Sku, StockMovement
from xiaodian.errors import Conflict, _

_skus = cast(Table, Sku.__table__)
_products = cast(Table, Product.__table__)
_INSERT_MOVEMENTS = insert(cast(Table, StockMovement.__table__))


@dataclass(frozen=True)
class Move:
    """``quantity`` units of ``sku_id`` for ``ref`` (an order number)."""

    sku_id: int
    quantity: int
    ref: str


def _by_sku(moves: Iterable[Move]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for move in moves:
        if move.quantity <= 0:
            raise ValueError("stock moves need a positive quantity")
        totals[move.sku_id] += move.quantity
    return dict(totals)


def _per_sku(totals: Mapping[int, int]) -> ColumnElement[Any]:
    """``CASE id WHEN 1 THEN 2 ... END``: each SKU's quantity inside one statement."""
    return case(dict(totals), value=_skus.c.id, else_=0)


def _bound_case(column: Any, n: int) -> ColumnElement[Any]:
    """``CASE WHEN id = :k0 THEN :q0 ... END`` for ``n`` ids (see ``_case_params``)."""
    key = [bindparam(f"k{i}", type_=Integer) for i in range(n)]
    quantity = [bindparam(f"q{i}", type_=Integer) for i in range(n)]
    return case(*((column == k, q) for k, q in zip(key, quantity, strict=True)), else_=0)


def _case_params(totals: Mapping[int, int]) -> dict[str, Any]:
    params: dict[str, Any] = {"ids": list(totals)}
    for i, (key, quantity) in enumerate(totals.items()):
        params[f"k{i}"], params[f"q{i}"] = key, quantity
    return params


# The statements of a stock move, built once per shape (counters moved, number of SKUs):
# building and keying them cost SQLAlchemy more than running them.
@functools.lru_cache(maxsize=256)
def _shift_statement(source: str, target: str, n: int) -> Any:
    qty = _bound_case(_skus.c.id, n)
    src, dst = _skus.c[source], _skus.c[target]
    return (
        update(_skus)
        .where(_skus.c.id.in_(bindparam("ids", expanding=True)), src >= qty)
        .values({source: src - qty, target: dst + qty})
        .returning(_skus.c.id, _skus.c.product_id)
    )


@functools.lru_cache(maxsize=128)
def _reserve_statement(n: int) -> Any:
    qty = _bound_case(_skus.c.id, n)
    return (
        update(_skus)
        .where(_skus.c.id.in_(bindparam("ids", expanding=True)), _skus.c.stock_on_hand >= qty)
        .values(
            stock_on_hand=_skus.c.stock_on_hand - qty,
            stock_reserved=_skus.c.stock_reserved + qty,
        )
        .returning(_skus.c.id)
    )


@functools.lru_cache(maxsize=128)
def _sales_statement(n: int) -> Any:
    return (
        update(_products)
        .where(_products.c.id.in_(bindparam("ids", expanding=True)))
        .values(
            sales_count=_products.c.sales_count + _bound_case(_products.c.id, n),
            updated_at=bindparam("now", type_=_products.c.updated_at.type),
        )
    )


def lock_rows(db: Session, table: Table, ids: Iterable[int]) -> None:
    """On PostgreSQL, row-lock ``ids`` of ``table`` in id order before a multi-row UPDATE.

    An ``UPDATE ... WHERE id IN (...)`` locks rows in whatever order its plan visits them
    (and re-visits a row a concurrent writer has just moved), so two transactions moving
    overlapping SKUs can each hold one row the other waits for: a deadlock, which
    PostgreSQL breaks by failing one of them (a 500 at checkout). Taking the locks in one
    global order first makes that impossible. SQLite writers are serialized already.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(_lock_statement(table), {"ids": sorted(ids)})


@functools.lru_cache(maxsize=32)
def _lock_statement(table: Table) -> Any:
    return (
        select(table.c.id)
        .where(table.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(table.c.id)
        .with_for_update()
    )


def _log(db: Session, moves: list[Move], kind: str, sign: int, reason: str) -> None:
    now = clock.now()
    db.execute(
        _INSERT_MOVEMENTS,
        [
            {
                "sku_id": m.sku_id,
                "kind": kind,
                "delta": sign * m.quantity,
                "reason": reason,
                "actor_id": None,
                "ref": m.ref,
                "at": now,
            }
            for m in moves
        ],
    )


def reserve_many(db: Session, moves: list[Move]) -> list[int]:
    """Reserve every move, or none: returns the SKU ids that were short (empty = done).

    One UPDATE reserves all SKUs that have enough on hand; if any is short the ones that
    were reserved are put back in the same transaction, so nothing stays reserved.
    """
    totals = _by_sku(moves)
    if not totals:
        return []
    lock_rows(db, _skus, totals)
    done = set(db.execute(_reserve_statement(len(totals)), _case_params(totals)).scalars())
    short = sorted(set(totals) - done)
    if short:
        if done:
            back = _per_sku({k: totals[k] for k in done})
            db.execute(
                update(_skus)
                .where(_skus.c.id.in_(list(done)))
                .values(
                    stock_on_hand=_skus.c.stock_on_hand + back,
                    stock_reserved=_skus.c.stock_reserved - back,
                )
            )
        return short
    _log(db, moves, "reserve", -1, "checkout")
    return []


def _shift(
    db: Session,
    moves: list[Move],
    *,
    source: str,
    target: str,
    kind: str,
    sign: int,
    reason: str,
) -> list[int]:
    """Move units between two counters of each SKU, conditionally; returns product ids."""
    totals = _by_sku(moves)
    if not totals:
        return []
    lock_rows(db, _skus, totals)
    rows = db.execute(_shift_statement(source, target, len(totals)), _case_params(totals)).all()
    if len(rows) != len(totals):
        # Callers guard by the order's state, so this means the counters were edited by
        # hand below what orders hold: refuse rather than drive a counter negative.
        raise Conflict(_("The stock of this item is inconsistent."), code="stock_inconsistent")
    _log(db, moves, kind, sign, reason)
    product_of = {sku_id: product_id for sku_id, product_id in rows}
    sold: dict[int, int] = defaultdict(int)
    for sku_id, quantity in totals.items():
        sold[product_of[sku_id]] += quantity
    if kind == "sell":
        db.execute(_sales_statement(len(sold)), {**_case_params(sold), "now": clock.now()})
    return list(sold)


def release_many(db: Session, moves: list[Move], *, reason: str = "cancelled") -> None:
    """Reserved -> on hand (an unpaid order was cancelled or timed out)."""
    _shift(
        db,
        moves,
        source="stock_reserved",
        target="stock_on_hand",
        kind="release",
        sign=1,
        reason=reason,
    )


def sell_many(db: Session, moves: list[Move]) -> None:
    """Reserved -> sold (the order was paid); bumps each product's sales count."""
    _shift(
        db, moves, source="stock_reserved", target="stock_sold", kind="sell", sign=-1, reason="paid"
    )


def restock_many(db: Session, moves: list[Move], *, reason: str = "refunded") -> None:
    """Sold -> on hand (refunded before it was shipped)."""
    _shift(
        db,
        moves,
        source="stock_sold",
        target="stock_on_hand",
        kind="restock",
        sign=1,
        reason=reason,
    )


def reserve(db: Session, *, sku_id: int, quantity: int, ref: str) -> bool:
    """Reserve ``quantity`` of one SKU; False when there is not enough on hand."""
    return not reserve_many(db, [Move(sku_id, quantity, ref)])


def release(db: Session, *, sku_id: int, quantity: int, ref: str) -> None:
    release_many(db, [Move(sku_id, quantity, ref)])


def sell(db: Session, *, sku_id: int, quantity: int, ref: str) -> None:
    sell_many(db, [Move(sku_id, quantity, ref)])


def restock(db: Session, *, sku_id: int, quantity: int, ref: str) -> None:
    restock_many(db, [Move(sku_id, quantity, ref)])

"""The order state machine: one table of transitions, and the one function that moves orders.

Every move is a conditional UPDATE (``... WHERE id IN (...) AND status = :from``): the rows it
returns are the orders that really changed, and only those get their event row and their
stock movement. So a double cancel, a timeout racing a payment, or twenty threads cancelling
the same order release stock exactly once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from xiaodian import clock
from xiaodian.catalog import inventory
from xiaodian.errors import DomainError, IllegalTransition, _
from xiaodian.orders import lifecycle
from xiaodian.orders.models import Order, OrderEvent, OrderLine, OrderStatus

S = OrderStatus


@dataclass(frozen=True)
class Transition:
    source: OrderStatus
    target: OrderStatus
    stamp: str | None  # the timestamp column set when it happens
    stock: str | None  # the stock movement it causes, once per line
    event: str  # what the lifecycle announces (``orders.lifecycle``)


# The whole order lifecycle. Anything not in here is illegal.
TRANSITIONS: dict[str, Transition] = {
    "pay": Transition(S.PENDING_PAYMENT, S.PAID, "paid_at", "sell", "paid"),
    "cancel": Transition(S.PENDING_PAYMENT, S.CANCELLED, "cancelled_at", "release", "cancelled"),
    "timeout": Transition(S.PENDING_PAYMENT, S.CANCELLED, "cancelled_at", "release", "cancelled"),
    "ship": Transition(S.PAID, S.SHIPPED, "shipped_at", None, "shipped"),
    "close": Transition(S.PAID, S.CLOSED, "closed_at", "restock", "closed"),
    "complete": Transition(S.SHIPPED, S.COMPLETED, "completed_at", None, "completed"),
}

# Why an action is refused, by the status the order is actually in.
REFUSALS: dict[OrderStatus, str] = {
    S.PENDING_PAYMENT: _("This order has not been paid yet."),
    S.PAID: _("This order has already been paid."),
    S.SHIPPED: _("This order has already been shipped."),
    S.COMPLETED: _("This order has already been completed."),
    S.CANCELLED: _("This order has been cancelled."),
    S.CLOSED: _("This order has been closed after a full refund."),
}

STATUS_LABELS: dict[OrderStatus, str] = {
    S.PENDING_PAYMENT: _("Awaiting payment"),
    S.PAID: _("Awaiting shipment"),
    S.SHIPPED: _("Shipped"),
    S.COMPLETED: _("Completed"),
    S.CANCELLED: _("Cancelled"),
    S.CLOSED: _("Closed (refunded)"),
}


ACTION_LABELS: dict[str, str] = {
    "created": _("Order placed"),
    "pay": _("Paid"),
    "cancel": _("Cancelled by the buyer"),
    "timeout": _("Cancelled: not paid in time"),
    "ship": _("Shipped"),
    "close": _("Closed after a full refund"),
    "complete": _("Completed"),
    "refund": _("Refund"),
    "aftersale_opened": _("After-sales opened"),
    "aftersale_closed": _("After-sales closed"),
    "delivered": _("Signed for"),
}

# For the CSV export, which is read by Chinese spreadsheets.
STATUS_LABELS_ZH: dict[OrderStatus, str] = {
    S.PENDING_PAYMENT: "待付款",
    S.PAID: "待发货",
    S.SHIPPED: "已发货",
    S.COMPLETED: "已完成",
    S.CANCELLED: "已取消",
    S.CLOSED: "已关闭（已退款）",
}


def refusal(status: OrderStatus) -> IllegalTransition:
    return IllegalTransition(REFUSALS[OrderStatus(status)], code=f"order_{status}")


_STOCK: dict[str, Callable[..., None]] = {
    "sell": inventory.sell_many,
    "release": inventory.release_many,
    "restock": inventory.restock_many,
}


_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
# Built once (the statements of a move are the hot path of every payment; building and
# keying a statement cost SQLAlchemy more than running it).
_INSERT_EVENTS = insert(cast(Table, OrderEvent.__table__))
# The orders' lines as ``lifecycle.PaidLine`` (its fields in order), in order id then line
# id order (``lines_of_orders``, with more columns after them if asked).
PAID_LINE_COLUMNS = (
    _ORDERS.c.id,
    _ORDERS.c.order_no,
    _ORDERS.c.shop_id,
    _ORDERS.c.paid_fen,
    _ORDERS.c.paid_at,
    _LINES.c.product_id,
    _LINES.c.amount_fen,
    _ORDERS.c.buyer_id,
    _ORDERS.c.subsidy_fen,
    _ORDERS.c.held,
    _ORDERS.c.channel,
)


def lines_of_orders(*more: Any) -> Any:
    """The lines of the orders bound as ``ids``, as ``PaidLine``'s columns then ``more``."""
    return (
        select(*PAID_LINE_COLUMNS, *more)
        .join(_ORDERS, _ORDERS.c.id == _LINES.c.order_id)
        .where(_LINES.c.order_id.in_(bindparam("ids", expanding=True)))
        .order_by(_ORDERS.c.id, _LINES.c.id)
    )


# The moved orders' lines: what their stock moves need (the SKU, the quantity, the order's
# number) and what the change's listeners read of them (``lifecycle.PaidLine``), at once.
_MOVED_LINES = lines_of_orders(_LINES.c.sku_id, _LINES.c.quantity)


def _is_column(value: Any) -> bool:
    """A column of the orders table given as a value (``paid_fen = total_fen``)."""
    return isinstance(value, InstrumentedAttribute) and value.class_ is Order


@functools.lru_cache(maxsize=64)
def _move_statement(action: str, keys: tuple[tuple[str, str | None], ...], where: Any) -> Any:
    """The UPDATE of a move, kept per shape: ``keys`` are the columns it sets, each from a
    bound value ``v_<column>`` (None) or another column of the order (its name);
    ``where``, a caller's tuple of constant conditions (their bound values come as
    ``params``)."""
    step = TRANSITIONS[action]
    changes = {
        key: _ORDERS.c[column] if column else bindparam(f"v_{key}", type_=_ORDERS.c[key].type)
        for key, column in keys
    }
    return (
        update(_ORDERS)
        .where(
            _ORDERS.c.id.in_(bindparam("ids", expanding=True)),
            _ORDERS.c.status == step.source,
            *(where or ()),
        )
        .values(changes)
        .returning(_ORDERS.c.id)
    )


def advance(
    db: Session,
    order_ids: list[int],
    action: str,
    *,
    actor_id: int | None = None,
    actor_kind: str = "system",
    note: str | None = None,
    at: datetime | None = None,
    values: dict[str, Any] | None = None,
    where: list[ColumnElement[bool]] | tuple[ColumnElement[bool], ...] | None = None,
    params: dict[str, Any] | None = None,
) -> list[int]:
    """Apply ``action`` to every order still in its source state; returns the ids moved.

    Joins the caller's transaction. Orders already elsewhere are left alone (the caller
    decides whether that is an error). ``values`` are extra columns to set (a value, or
    another column of the order); ``where`` extra conditions (e.g. the deadline has
    passed): a list is built into this call's statement, a tuple is a constant of the
    caller's (its statement is kept, its bound values come in ``params``).
    """
    if not order_ids:
        return []
    step = TRANSITIONS[action]
    at = at or clock.now()
    # Several orders at once (the timeout job, a payment of many orders): lock them in id
    # order first, so two such moves cannot deadlock on PostgreSQL.
    inventory.lock_rows(db, _ORDERS, order_ids)
    changes: dict[str, Any] = {"status": step.target, **(values or {})}
    if step.stamp:
        changes[step.stamp] = at
    if isinstance(where, list) or not all(
        _is_column(v) or not _is_sql(v) for v in changes.values()
    ):
        stmt: Any = (
            update(_ORDERS)
            .where(_ORDERS.c.id.in_(order_ids), _ORDERS.c.status == step.source, *(where or []))
            .values(changes)
            .returning(_ORDERS.c.id)
        )
        bound: dict[str, Any] = dict(params or {})  # a tuple ``where``'s own bound values
    else:
        keys = tuple((k, v.key if _is_column(v) else None) for k, v in sorted(changes.items()))
        stmt = _move_statement(action, keys, where)
        bound = {f"v_{k}": v for k, v in changes.items() if not _is_column(v)}
        bound.update(params or {}, ids=list(order_ids))
    moved = sorted(db.execute(stmt, bound).scalars())
    if not moved:
        return []
    db.execute(
        _INSERT_EVENTS,
        [
            {
                "order_id": order_id,
                "actor_id": actor_id,
                "actor_kind": actor_kind,
                "action": action,
                "from_status": str(step.source),
                "to_status": str(step.target),
                "note": note,
                "at": at,
            }
            for order_id in moved
        ],
    )
    lines: tuple[lifecycle.PaidLine, ...] | None = None
    if step.stock:
        rows = db.execute(_MOVED_LINES, {"ids": moved}).all()
        moves = [inventory.Move(row.sku_id, row.quantity, row.order_no) for row in rows]
        _STOCK[step.stock](db, moves)
        lines = tuple(lifecycle.PaidLine(*row[: len(PAID_LINE_COLUMNS)]) for row in rows)
    # Keep loaded Order objects in step with what was written (no extra SELECT).
    for order_id in moved:
        order = db.identity_map.get(identity_key(Order, order_id))
        if order is None:
            continue
        for key, value in changes.items():
            if _is_sql(value):
                db.expire(order, [key])  # computed by the database (e.g. paid = total)
            else:
                set_committed_value(order, key, value)
    lifecycle.announce(
        db,
        lifecycle.Change(
            step.event,
            tuple(moved),
            at,
            action=action,
            actor_id=actor_id,
            ref=note,
            lines=lines,
        ),
    )
    return moved


def _is_sql(value: Any) -> bool:
    return isinstance(value, ColumnElement) or hasattr(value, "__clause_element__")


def advance_one(
    db: Session,
    order: Order,
    action: str,
    *,
    actor_id: int | None = None,
    actor_kind: str = "system",
    note: str | None = None,
    values: dict[str, Any] | None = None,
    where: list[ColumnElement[bool]] | None = None,
    refused: Callable[[Order], DomainError | None] | None = None,
) -> Order:
    """Apply ``action`` to one loaded order or raise IllegalTransition saying why not.

    ``where`` are extra conditions checked IN the UPDATE (not on the loaded object, which a
    concurrent transaction may have made stale). When the order did not move, it is
    refreshed and ``refused(order)`` may name a better error than the status refusal.
    """
    moved = advance(
        db,
        [order.id],
        action,
        actor_id=actor_id,
        actor_kind=actor_kind,
        note=note,
        values=values,
        where=where,
    )
    if not moved:
        db.refresh(order, ["status", "aftersale_open"])
        if refused is not None and order.status == TRANSITIONS[action].source:
            error = refused(order)
            if error is not None:
                raise error
        raise refusal(order.status)
    return order


def record(
    db: Session,
    order: Order,
    action: str,
    *,
    actor_id: int | None = None,
    actor_kind: str = "system",
    note: str | None = None,
) -> None:
    """An event that is not a status change (a refund, after-sales opened, ...)."""
    db.add(
        OrderEvent(
            order_id=order.id,
            actor_id=actor_id,
            actor_kind=actor_kind,
            action=action,
            from_status=str(order.status),
            to_status=str(order.status),
            note=note,
            at=clock.now(),
        )
    )

"""The order lifecycle announces itself; the domains above orders listen.

Orders know nothing of after-sales, live rooms, the ledger or commissions, yet each of them
must act when an order is created, paid, shipped, completed, cancelled or refunded. Each
registers a listener here (``@lifecycle.on("paid")``) when its service module is imported
(``xiaodian.domains.load`` imports them all); the orders package calls them.

Guarantees (docs/architecture.md, "The order lifecycle"):

- A listener runs synchronously, in the transaction of the change, after the change's own
  rows (the order's new status, its event row, its stock movement) are written and before
  the one commit: its writes commit or roll back with the change. An exception from a
  listener propagates to the caller, whose transaction then rolls back: nothing of the
  change or of any listener's work is kept.
- Each change is announced once, for the orders that really changed (an order a concurrent
  transaction moved first is not in it), in the order the listeners registered (lower
  domains first, since ``domains.load`` imports them in layer order).
- Work that must happen after the commit (a refund sent to the provider, a notification)
  is queued after commit by the listener itself (an ``after_commit`` hook on the session),
  never done inside.

Events (``Change.event``): ``created``, ``paid``, ``shipped``, ``completed``, ``cancelled``
(the buyer's cancel or the payment timeout: ``Change.action``), ``closed`` (paid, then fully
refunded before shipping), ``refunded`` (one refund counted: ``amount_fen``, ``ref``),
``aftersale_opened`` and ``aftersale_closed``. A ``created`` change carries the opaque
``touch`` of the checkout request (a promoter's tracked link, read by the affiliates domain).

The buyer's order page shows what higher domains know of the order (the parcel's
tracking timeline) through ``order_panel``: each registered source returns a template and
its context, or None; orders renders them without knowing what they are.

Besides events, orders asks other domains to prove a sales channel a buyer's page claims
(``channel_check``): content proves "video" (a published video featuring the product), the
live rooms prove "live" (the room's 小黄车 lists it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

EVENTS = (
    "created",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "closed",
    "refunded",
    "aftersale_opened",
    "aftersale_closed",
)


@dataclass(frozen=True)
class PaidLine:
    """A line of an order with what the ledger records of its order (``paid_fen`` and
    ``paid_at`` are 0 and None until it is paid)."""

    order_id: int
    order_no: str
    shop_id: int
    paid_fen: int
    paid_at: datetime | None
    product_id: int
    amount_fen: int
    buyer_id: int = 0
    subsidy_fen: int = 0  # the order's platform-funded discount (the platform's subsidy)
    # held by a campaign (a group buy forming): paid, not to ship yet. As the change left
    # it: a group's order is held just after its "created", so there it is False.
    held: bool = False
    channel: str = "shelf"  # where the order was placed (``Order.channel``)


@dataclass(frozen=True)
class Change:
    """What happened to which orders. ``action`` is the transition's name (``cancel`` or
    ``timeout`` for ``cancelled``); a refund has its ``amount_fen`` and ``ref``.

    ``lines``: the orders' lines as the change left them (in order id, then line id
    order), when the announcer had them at hand anyway (a checkout's new orders, a move
    that put stock back or sold it); None otherwise. Listeners ask
    ``orders.service.lines_of(db, change)``, which reads them only when they are not here.
    """

    event: str
    order_ids: tuple[int, ...]
    at: datetime
    action: str = ""
    actor_id: int | None = None
    amount_fen: int | None = None
    ref: str | None = None
    # ``created``: the opaque touch the checkout request carried (``Channel.touch``), for
    # the domain that set it; orders never reads it.
    touch: str = ""
    lines: tuple[PaidLine, ...] | None = None

    def none_in(self, channel: str) -> bool:
        """The change's lines show that none of its orders was placed in ``channel`` (False
        when it carries no lines: then nothing is known)."""
        return self.lines is not None and all(line.channel != channel for line in self.lines)


Listener = Callable[[Session, Change], None]
_listeners: dict[str, list[Listener]] = {name: [] for name in EVENTS}


def on(event: str) -> Callable[[Listener], Listener]:
    """Register the decorated ``listener(db, change)`` for ``event``. Registering the same
    function twice keeps one."""
    if event not in _listeners:
        raise ValueError(f"unknown order event {event!r}")

    def register(listener: Listener) -> Listener:
        if listener not in _listeners[event]:
            _listeners[event].append(listener)
        return listener

    return register


def listeners(event: str) -> list[Listener]:
    return list(_listeners[event])


def announce(db: Session, change: Change) -> None:
    """Call every listener of ``change.event`` in the caller's transaction (orders' own
    code calls this, nothing else). A listener's exception propagates."""
    if not change.order_ids:
        return
    for listener in list(_listeners[change.event]):
        listener(db, change)


# --------------------------------------------------------------------------- channels

ChannelCheck = Callable[[Session, int, list[int]], int | None]
_channel_checks: dict[str, ChannelCheck] = {}


def channel_check(kind: str) -> Callable[[ChannelCheck], ChannelCheck]:
    """Register the decorated ``check(db, ref_id, product_ids)`` proving a claimed channel
    of ``kind`` ("video", "live"): the ref id to record when the claim holds (one of the
    products is featured there), None when it does not. One query, whatever the number of
    products; joins the caller's transaction and writes nothing."""

    def register(check: ChannelCheck) -> ChannelCheck:
        _channel_checks[kind] = check
        return check

    return register


def prove_channel(db: Session, kind: str, ref_id: int | None, product_ids: list[int]) -> int | None:
    """The proven ref id of a claimed channel, or None (unproven, or nobody proves it)."""
    check = _channel_checks.get(kind)
    if check is None or ref_id is None:
        return None
    return check(db, ref_id, product_ids)


# --------------------------------------------------------------------------- order page panels


@dataclass(frozen=True)
class Panel:
    """A part of the buyer's order page drawn by another domain: ``template`` is included
    with ``context`` added to the page's."""

    template: str
    context: dict[str, Any]


PanelSource = Callable[[Session, Any], Panel | None]  # (db, order) -> panel or nothing
_panel_sources: list[PanelSource] = []


def order_panel(source: PanelSource) -> PanelSource:
    """Register the decorated ``source(db, order)`` drawing a panel of the order page.
    Reads only (joins the page's transaction); registering twice keeps one."""
    if source not in _panel_sources:
        _panel_sources.append(source)
    return source


def order_panels(db: Session, order: Any) -> list[Panel]:
    """The panels of one order's page, in the order their sources registered."""
    return [p for p in (source(db, order) for source in list(_panel_sources)) if p is not None]

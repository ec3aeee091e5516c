"""Refunds announce their outcome; the domains that asked for them listen.

After-sales asks payments for a refund (``request_refund(ref="aftersale:12")``) and must
hear when it succeeds or fails for good; payments imports no domain above it, so the
requester registers a listener here (``@lifecycle.on_refund("settled")``). Listeners run in
the transaction that records the outcome, before its commit (an exception rolls the outcome
back); each outcome is announced once, with the requester's own reference (a retry's mark
removed: ``payments.core.base_ref``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

OUTCOMES = ("settled", "failed")


@dataclass(frozen=True)
class RefundOutcome:
    outcome: str  # "settled" | "failed"
    ref: str  # the requester's reference, e.g. "aftersale:12"
    order_id: int
    amount_fen: int
    reason: str = ""  # why it failed


Listener = Callable[[Session, RefundOutcome], None]
_listeners: dict[str, list[Listener]] = {name: [] for name in OUTCOMES}


def on_refund(outcome: str) -> Callable[[Listener], Listener]:
    """Register the decorated ``listener(db, refund_outcome)``; the same function twice is
    kept once."""
    if outcome not in _listeners:
        raise ValueError(f"unknown refund outcome {outcome!r}")

    def register(listener: Listener) -> Listener:
        if listener not in _listeners[outcome]:
            _listeners[outcome].append(listener)
        return listener

    return register


def announce(db: Session, outcome: RefundOutcome) -> None:
    for listener in list(_listeners[outcome.outcome]):
        listener(db, outcome)

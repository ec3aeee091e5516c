"""State machines: each domain keeps its own table of transitions, this checks a move.

A table maps an action to a ``Transition`` (the states it may start from, the state it
leads to); a domain whose rows say more (who may fire it, for which kind of case) extends
``Transition`` with fields of its own. ``check`` is the one place a move is decided: the
row when the current state is one of its sources, else ``IllegalTransition`` (409) with the
message and code the domain chose. The table, its messages and how a domain then applies
the move (setting an attribute, or a conditional UPDATE) stay in the domain.

A kernel module: it imports nothing of xiaodian but ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from xiaodian.errors import IllegalTransition

T = TypeVar("T")


@dataclass(frozen=True)
class Transition(Generic[T]):
    """One row of a table: the states an action may start from, and where it leads."""

    sources: frozenset[T]
    target: T


Row = TypeVar("Row", bound=Transition[Any])


def check(
    table: Mapping[str, Row],
    action: str,
    current: object,
    message: str,
    /,
    *,
    code: str = IllegalTransition.code,
    allowed: bool = True,
    **params: Any,
) -> Row:
    """The row of ``table`` for ``action`` when ``current`` is one of its sources and the
    domain's own condition (``allowed``: a role, a kind of case) holds; otherwise raises
    ``IllegalTransition`` with ``message`` (a msgid, filled with ``params``) and ``code``.

    The first four are positional, so a message may name ``action`` or ``current`` among
    its ``params``. An action missing from the table is a programming error: KeyError.
    """
    row = table[action]
    if not allowed or current not in row.sources:
        raise IllegalTransition(message, code=code, **params)
    return row

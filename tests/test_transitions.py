"""The kernel's state-machine check (``xiaodian.transitions``): each domain keeps its own
table; this one function decides a move against it and refuses with the domain's words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pytest

from xiaodian import transitions
from xiaodian.errors import IllegalTransition
from xiaodian.transitions import Transition


class Door(StrEnum):
    OPEN = "open"
    SHUT = "shut"
    LOCKED = "locked"


TABLE = {
    "shut": Transition(frozenset({Door.OPEN}), Door.SHUT),
    "lock": Transition(frozenset({Door.SHUT}), Door.LOCKED),
    "open": Transition(frozenset({Door.SHUT}), Door.OPEN),
}


def test_a_move_from_one_of_its_sources_gives_its_row() -> None:
    assert transitions.check(TABLE, "lock", Door.SHUT, "no").target == Door.LOCKED


def test_a_move_from_elsewhere_is_a_409_in_the_domains_words() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transitions.check(
            TABLE, "lock", Door.OPEN, "The door is %(status)s.", code="door_open", status="open"
        )
    error = caught.value
    assert error.status_code == 409
    assert error.code == "door_open"
    assert error.render() == "The door is open."


def test_the_code_defaults_to_illegal_transition() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transitions.check(TABLE, "open", Door.LOCKED, "Locked.")
    assert caught.value.code == "illegal_transition"


def test_a_condition_of_the_domains_own_can_refuse_a_move_the_table_allows() -> None:
    with pytest.raises(IllegalTransition):
        transitions.check(TABLE, "open", Door.SHUT, "Not with this key.", allowed=False)


def test_an_action_outside_the_table_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        transitions.check(TABLE, "paint", Door.OPEN, "no")


def test_a_domains_row_may_carry_more_than_the_move() -> None:
    @dataclass(frozen=True)
    class Guarded(Transition[Door]):
        roles: frozenset[str] = frozenset()

    table = {"lock": Guarded(frozenset({Door.SHUT}), Door.LOCKED, frozenset({"janitor"}))}
    step = transitions.check(table, "lock", Door.SHUT, "no")
    assert step.roles == {"janitor"}


def test_the_message_may_name_the_action_and_the_state() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transitions.check(
            TABLE,
            "lock",
            Door.OPEN,
            "Cannot %(action)s: %(current)s.",
            action="lock",
            current="open",
        )
    assert caught.value.render() == "Cannot lock: open."

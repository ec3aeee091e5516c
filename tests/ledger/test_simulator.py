"""The ledger's seeded simulator: the property test's machine (``test_properties.py``: its
model, its rules with the provider's faults, its invariants) driven by ``random.Random(seed)``
instead of hypothesis, for as many steps as asked, the invariants checked after every step.

    XIAODIAN_SIM_SEEDS=7 XIAODIAN_SIM_STEPS=3000 uv run pytest tests/ledger/test_simulator.py

runs seeds 1..7 for 3,000 steps each (the suite runs a few short ones). A failing step
names its seed, its number and the steps before it; running that seed again replays the
same steps exactly (the clock is the test's frozen clock, every choice comes from the seed).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.ledger.conftest import Trade
from tests.ledger.test_properties import make_machine

SEEDS = int(os.environ.get("XIAODIAN_SIM_SEEDS", "2"))
STEPS = int(os.environ.get("XIAODIAN_SIM_STEPS", "30"))
FIRST_SEED = int(os.environ.get("XIAODIAN_SIM_FIRST_SEED", "1"))


def _steps(machine: Any, rng: random.Random) -> list[tuple[int, str, Callable[[], None]]]:
    """(weight, name, call) for every rule, its arguments drawn from ``rng``."""
    r = rng.randint
    pick = rng.choice
    return [
        (6, "buy_and_pay", lambda: machine.buy_and_pay(both=pick([True, False]), qty=r(1, 3))),
        (4, "ship", lambda: machine.ship(i=r(0, 50))),
        (4, "confirm", lambda: machine.confirm(i=r(0, 50))),
        (
            3,
            "refund",
            lambda: machine.refund(i=r(0, 50), how=pick(["1", "half", "rest", "rest+1"])),
        ),
        (
            1,
            "refund_fails_then_is_retried",
            lambda: machine.refund_fails_then_is_retried(i=r(0, 50), half=pick([True, False])),
        ),
        (3, "time_passes", lambda: machine.time_passes(days=pick([0.5, 1, 3, 7, 8]))),
        (3, "settle", lambda: machine.settle(killed=pick([True, False]))),
        (
            2,
            "withdraw",
            lambda: machine.withdraw(
                i=r(0, 1),
                how=pick(["min-1", "half", "all", "all+1"]),
                decide=pick(["leave", "approve", "reject", "fail"]),
            ),
        ),
        (
            2,
            "notifications_arrive",
            lambda: machine.notifications_arrive(
                seed=r(0, 2**32), twice=pick([True, False]), fresh=pick([True, False])
            ),
        ),
        (1, "late_bills", lambda: machine.late_bills(days_back=r(2, 6))),
    ]


def simulate(trade: Trade, db: Any, clock: Any, *, seed: int, steps: int) -> Counter[str]:
    rng = random.Random(seed)
    machine = make_machine(trade, db, clock)()
    invariants = (
        machine.books_balance,
        machine.balances_match_the_model,
        machine.every_order_adds_up,
    )
    done: list[str] = []
    taken: Counter[str] = Counter()
    for step in range(steps):
        options = _steps(machine, rng)
        _weight, name, call = rng.choices(options, weights=[w for w, _n, _c in options])[0]
        done.append(name)
        try:
            call()
            for check in invariants:
                check()
        except Exception as exc:
            raise AssertionError(
                f"seed {seed}, step {step} ({name}) failed: {type(exc).__name__}: {exc}\n"
                f"the steps before it: {done[-30:]}\n"
                f"replay: XIAODIAN_SIM_FIRST_SEED={seed} XIAODIAN_SIM_SEEDS=1"
                f" XIAODIAN_SIM_STEPS={steps} pytest tests/ledger/test_simulator.py"
            ) from exc
        taken[name] += 1
    return taken


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + SEEDS))
def test_the_ledger_under_a_seeded_simulation_with_faults(
    trade: Trade, db: Any, clock: Any, no_posting_changes: list[str], seed: int
) -> None:
    taken = simulate(trade, db, clock, seed=seed, steps=STEPS)
    if os.environ.get("XIAODIAN_SIM_STEPS"):
        print(f"seed {seed}: {sum(taken.values())} steps {dict(sorted(taken.items()))}")
    assert sum(taken.values()) == STEPS

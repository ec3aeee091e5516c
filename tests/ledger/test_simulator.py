"""The ledger's seeded simulator: the property test's machine (``test_properties.py``: its
model, its rules with the provider's faults, its invariants) driven by ``random.Random(seed)``
instead of hypothesis, for as many steps as asked, the invariants checked after every step.

    XIAODIAN_SIM_SEEDS=7 XIAODIAN_SIM_STEPS=3000 uv run pytest tests/ledger/test_simulator.py

runs seeds 1..7 for 3,000 steps each (the suite runs a few short ones). A failing step
names its seed, its number and the steps before it; running that seed again replays the
same steps exactly (the clock is the test's frozen clock, every choice comes from the seed).

After every step the invariants are checked incrementally (``check_step``: what the step's
postings touched, the orders whose model changed, every shop's balances from running sums),
and every one over everything (``check_all``) each ``XIAODIAN_SIM_FULL_EVERY`` steps (250)
and after the last: a step costs about the same at step 3,000 as at step 30.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.ledger.conftest import Trade
from tests.ledger.test_properties import make_machine
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import LedgerPosting
from xiaodian.ledger.service import CLEARING, FEE_INCOME, PENDING, PLATFORM, Leg, NewTransfer

SEEDS = int(os.environ.get("XIAODIAN_SIM_SEEDS", "2"))
STEPS = int(os.environ.get("XIAODIAN_SIM_STEPS", "30"))
FIRST_SEED = int(os.environ.get("XIAODIAN_SIM_FIRST_SEED", "1"))
FULL_EVERY = int(os.environ.get("XIAODIAN_SIM_FULL_EVERY", "250"))


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


def simulate(
    trade: Trade, db: Any, clock: Any, *, seed: int, steps: int, full_every: int = FULL_EVERY
) -> Counter[str]:
    rng = random.Random(seed)
    machine = make_machine(trade, db, clock)()
    done: list[str] = []
    taken: Counter[str] = Counter()
    for step in range(steps):
        options = _steps(machine, rng)
        _weight, name, call = rng.choices(options, weights=[w for w, _n, _c in options])[0]
        done.append(name)
        try:
            call()
            if (step + 1) % full_every == 0 or step + 1 == steps:
                machine.check_all()
            else:
                machine.check_step()
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


@pytest.mark.parametrize("wrong", ["fee", "clearing", "one-leg"])
def test_the_step_checks_see_a_wrong_posting(
    trade: Trade, db: Any, clock: Any, no_posting_changes: list[str], wrong: str
) -> None:
    """The incremental checks are not blind: a posting the ledger should never have made,
    on an order no rule acted on, fails the next ``check_step``. A balanced transfer moving
    one fen of an order's pending income to the platform's fees (the shop's balance and the
    order's sides disagree with the model), one moving a fen between two platform accounts
    for an order (only the order's sides see it), and one posting added to a transfer."""
    machine = make_machine(trade, db, clock)()
    machine.buy_and_pay(both=False, qty=1)
    machine.buy_and_pay(both=False, qty=2)
    machine.check_step()
    model = machine.orders[0]
    legs = {
        "fee": (Leg(PENDING, model.shop, 1), Leg(FEE_INCOME, PLATFORM, -1)),
        "clearing": (Leg(CLEARING, PLATFORM, 1), Leg(FEE_INCOME, PLATFORM, -1)),
    }
    with trade.session() as session:
        if wrong == "one-leg":
            first = session.scalar(select(func.min(LedgerPosting.id)))
            posting = session.get(LedgerPosting, first)
            assert posting is not None
            session.add(
                LedgerPosting(
                    transfer_id=posting.transfer_id, account_id=posting.account_id, amount_fen=1
                )
            )
        else:
            transfer = NewTransfer(
                f"wrong:{model.no}",
                "adjust",
                legs[wrong],
                order_id=model.order_id,
                order_no=model.no,
            )
            ledger.post_transfers(session, [transfer])
        session.commit()
    seen = {
        "fee": f"shop {model.shop}: pending",
        "clearing": f"order {model.no}: sides",
        "one-leg": "the postings sum to 1",
    }
    with pytest.raises(AssertionError, match=seen[wrong]):
        machine.check_step()

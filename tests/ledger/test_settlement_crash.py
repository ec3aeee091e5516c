"""``kill -9`` in the middle of a settlement run, then the run again: every due hold settled
exactly once, nothing posted twice, nothing missed, the books balanced.

A child process runs the worker's job (``settlement.settle_due``, one committed batch at a
time, as the worker does) against the test's database and is killed with SIGKILL after its
third batch, wherever it is then: between two batches, inside one, or in its commit."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from xiaodian import clock
from xiaodian.ledger import service as ledger
from xiaodian.ledger import settlement
from xiaodian.ledger.models import HoldStatus, LedgerHold, LedgerPosting, LedgerTransfer

HOLDS = 1500
SHOPS = 7
LIMIT = 10  # holds per batch in the child: many batches, so the kill lands mid-run

CHILD = textwrap.dedent(
    """
    import sys
    from xiaodian import domains
    from xiaodian.db import Database
    from xiaodian.ledger import settlement

    domains.load_models()
    database = Database(sys.argv[1])
    with database.session() as db:
        while settlement.settle_due(db, limit=int(sys.argv[2]), max_batches=1):
            print("batch", flush=True)
    print("done", flush=True)
    """
)


def _amount(i: int) -> int:
    return 1_000 + i % 977


def _seed(database: Any) -> None:
    """HOLDS paid orders' pending income, completed long enough ago to be due now (the child
    runs on the real clock)."""
    paid_at = clock.now() - timedelta(days=40)
    completed = clock.now() - timedelta(days=20)
    with database.session() as db:
        posted = ledger.post_transfers(
            db,
            [
                ledger.NewTransfer(
                    key=f"order:{i}:paid",
                    kind="paid",
                    legs=(
                        ledger.Leg(ledger.CLEARING, 0, _amount(i)),
                        ledger.Leg(ledger.PENDING, 1 + i % SHOPS, -_amount(i)),
                    ),
                    order_id=i,
                    order_no=f"C{i:017d}",
                )
                for i in range(1, HOLDS + 1)
            ],
            at=paid_at,
        )
        db.execute(
            sa.insert(LedgerHold),
            [
                {
                    "order_id": i,
                    "order_no": f"C{i:017d}",
                    "shop_id": 1 + i % SHOPS,
                    "transfer_id": posted.new[f"order:{i}:paid"],
                    "amount_fen": _amount(i),
                    "voided_fen": 0,
                    "fee_weight": _amount(i) * (200 + i % 300),
                    "payment_fee_bp": 60,
                    "status": HoldStatus.PENDING,
                    "expected_available_at": completed + timedelta(days=7, seconds=i),
                    "completed_at": completed,
                    "case_open": False,
                    "paid_at": paid_at,
                }
                for i in range(1, HOLDS + 1)
            ],
        )
        db.commit()


def _pending(database: Any) -> int:
    with database.session() as db:
        return int(
            db.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerHold)
                .where(LedgerHold.status == HoldStatus.PENDING)
            )
            or 0
        )


def test_a_settlement_run_killed_mid_way_and_run_again_settles_each_order_once(
    database: Any,
) -> None:
    _seed(database)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database.url, str(LIMIT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while len(lines) < 3 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        assert lines == ["batch"] * 3, lines
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    left = _pending(database)
    assert 0 < left <= HOLDS - 3 * LIMIT  # killed mid-run, after three committed batches

    with database.session() as db:
        assert settlement.settle_due(db) == left  # the rest, and only the rest
        assert settlement.settle_due(db) == 0
    assert _pending(database) == 0

    with database.session() as db:
        settle_keys = list(
            db.scalars(sa.select(LedgerTransfer.key).where(LedgerTransfer.kind == "settle"))
        )
        assert sorted(settle_keys) == sorted(f"order:{i}:settled" for i in range(1, HOLDS + 1))
        legs = db.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerPosting)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .where(LedgerTransfer.kind == "settle")
        )
        assert legs == 4 * HOLDS
        assert db.scalar(sa.select(sa.func.sum(LedgerPosting.amount_fen))) == 0
        # Each shop's available income is what its orders settled less their fees, once.
        expected: dict[int, int] = {}
        for i in range(1, HOLDS + 1):
            fees = ledger.settlement_fees(
                settled_fen=_amount(i),
                paid_fen=_amount(i),
                fee_weight=_amount(i) * (200 + i % 300),
                payment_fee_bp=60,
            )
            shop = 1 + i % SHOPS
            expected[shop] = expected.get(shop, 0) + _amount(i) - fees.total_fen
        keys = [(ledger.AVAILABLE, shop) for shop in expected]
        balances = ledger.raw_balances(db, keys)
        assert {shop: -balances[(ledger.AVAILABLE, shop)] for shop in expected} == expected
        assert all(
            v == 0
            for v in ledger.raw_balances(db, [(ledger.PENDING, s) for s in expected]).values()
        )

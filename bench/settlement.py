"""Settlement of many completed orders: how fast pending income becomes available.

    uv run python bench/settlement.py                                # fresh SQLite, 100,000
    uv run python bench/settlement.py --orders 10000
    uv run python bench/settlement.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # fresh PG database
    uv run python bench/settlement.py --orders 10000 --statement-postings 1000000

What it does:

1. a fresh database (a temporary SQLite file, or a randomly named PostgreSQL database on the
   server ``--database-url`` names, dropped afterwards), migrated;
2. seeds ``--orders`` paid orders' income across ``--shops`` shops, in chunks, through the
   ledger's own ``post_transfers`` (the paid transfers and their postings) and a bulk insert
   of their pending holds, completed long enough ago to be due. No order rows: settlement
   reads only the ledger's holds (paying orders is what bench/checkout.py measures);
   ``--statement-postings N`` adds paid entries to the first shop until it has N postings;
3. runs ``settlement.settle_due`` (the worker's job: committed batches of 500) and times it;
   then the statistics are gathered (``VACUUM ANALYZE``, as autovacuum would after such
   growth);
4. runs the balance checkpoint job once (the worker runs it every ten minutes: it covers the
   seeded history, not settlement's postings of a moment ago, which balances still sum one
   by one) and times a merchant's statement as its page reads it (the balance, pending
   income and the first page of entries) for the first shop.

The last line is one JSON object: ``orders_per_s``, ``postings_per_s`` (postings written by
settlement per second), ``peak_rss_mb`` (this process), ``imbalance_fen`` (the sum of every
posting: must be 0), ``statement_ms`` (the median of five reads), ``orders``, ``settled``,
``database`` and the machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

CHUNK = 5000


STATEMENT_READS = 5


def seed(database_url: str, *, orders: int, shops: int, extra_postings: int) -> None:
    from xiaodian import clock
    from xiaodian.db import Database
    from xiaodian.ledger import service as ledger
    from xiaodian.ledger.models import HoldStatus, LedgerHold

    database = Database(database_url)
    now = clock.now()
    paid_at = now - timedelta(days=30)
    completed = now - timedelta(days=8)
    try:
        for start in range(0, orders, CHUNK):
            ids = range(start + 1, min(orders, start + CHUNK) + 1)
            with database.session() as db:
                transfers = [
                    ledger.NewTransfer(
                        key=f"order:{i}:paid",
                        kind="paid",
                        legs=(
                            ledger.Leg(ledger.CLEARING, 0, 10_000 + i % 997),
                            ledger.Leg(ledger.PENDING, 1 + i % shops, -(10_000 + i % 997)),
                        ),
                        order_id=i,
                        order_no=f"B{i:017d}",
                    )
                    for i in ids
                ]
                posted = ledger.post_transfers(db, transfers, at=paid_at)
                db.execute(
                    sa.insert(LedgerHold),
                    [
                        {
                            "order_id": i,
                            "order_no": f"B{i:017d}",
                            "shop_id": 1 + i % shops,
                            "transfer_id": posted.new[f"order:{i}:paid"],
                            "amount_fen": 10_000 + i % 997,
                            "voided_fen": 0,
                            "fee_weight": (10_000 + i % 997) * 300,
                            "payment_fee_bp": 60,
                            "status": HoldStatus.PENDING,
                            "expected_available_at": completed + timedelta(days=7),
                            "completed_at": completed,
                            "case_open": False,
                            "paid_at": paid_at,
                        }
                        for i in ids
                    ],
                )
                db.commit()
        # the first shop's long history: paid entries without holds (already settled elsewhere)
        have = orders // shops * 2
        for start in range(0, max(0, extra_postings - have) // 2, CHUNK):
            with database.session() as db:
                ledger.post_transfers(
                    db,
                    [
                        ledger.NewTransfer(
                            key=f"history:{start + j}",
                            kind="paid",
                            legs=(
                                ledger.Leg(ledger.CLEARING, 0, 100),
                                ledger.Leg(ledger.PENDING, 1, -100),
                            ),
                        )
                        for j in range(CHUNK)
                    ],
                    at=paid_at,
                )
                db.commit()
        _analyze(database)
    finally:
        database.dispose()


def _analyze(database: object) -> None:
    """What autovacuum does to a table that grew: statistics and the visibility map (so
    sums can be read from the index alone)."""
    from xiaodian.db import Database

    assert isinstance(database, Database)
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def run(database_url: str) -> tuple[int, float, int, int, float]:
    from xiaodian.actor import Actor
    from xiaodian.db import Database
    from xiaodian.ledger import checkpoints, settlement, statements
    from xiaodian.ledger.models import LedgerPosting

    database = Database(database_url)
    try:
        with database.session() as db:
            before = db.scalar(sa.select(sa.func.count()).select_from(LedgerPosting)) or 0
            db.rollback()
            began = time.perf_counter()
            settled = settlement.settle_due(db)
            elapsed = time.perf_counter() - began
            after = db.scalar(sa.select(sa.func.count()).select_from(LedgerPosting)) or 0
            imbalance = db.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount_fen), 0))
            )
            db.rollback()
        with database.session() as db:
            began = time.perf_counter()
            covered = checkpoints.checkpoint(db)
            print(
                f"checkpoint: {covered} postings in {time.perf_counter() - began:.1f} s",
                file=sys.stderr,
            )
        owner = Actor(user_id=1, shop_roles={1: "owner"})
        times = []
        for _ in range(STATEMENT_READS):  # each read as a page makes it: its own session
            with database.session(write=False) as db:
                began = time.perf_counter()
                statements.shop_balance(db, owner, 1)
                middle = time.perf_counter()
                statements.shop_entries(db, owner, 1, statements.EntryFilter())
                times.append((time.perf_counter() - began) * 1000)
                print(
                    f"statement: balance {(middle - began) * 1000:.1f} ms,"
                    f" entries {(time.perf_counter() - middle) * 1000:.1f} ms",
                    file=sys.stderr,
                )
        statement_ms = sorted(times)[len(times) // 2]  # the median read
        return settled, elapsed, after - before, int(imbalance or 0), statement_ms
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--shops", type=int, default=100)
    parser.add_argument("--statement-postings", type=int, default=0)
    args = parser.parse_args()
    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        common.prepare(database_url, data_dir)
        seed(
            database_url,
            orders=args.orders,
            shops=args.shops,
            extra_postings=args.statement_postings,
        )
        settled, elapsed, postings, imbalance, statement_ms = run(database_url)
    common.report(
        {
            "orders": args.orders,
            "settled": settled,
            "orders_per_s": round(settled / elapsed, 1) if elapsed else None,
            "postings_per_s": round(postings / elapsed, 1) if elapsed else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "imbalance_fen": imbalance,
            "statement_ms": round(statement_ms, 1),
            "database": database_url.split(":", 1)[0],
        }
    )


if __name__ == "__main__":
    main()

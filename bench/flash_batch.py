"""One flash-sale writer batch on PostgreSQL: the one statement against the per-table path.

    uv run python bench/flash_batch.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

A fresh, randomly named database on that server (dropped afterwards) gets the live flash
sale scene of ``bench/live_flash_sale.py`` (a running sale, buyers with default addresses).
Then, in this process and without a server, ``flash_purchase.purchase_batch_in_tx`` buys for batches
of ``--sizes`` distinct buyers, ``--rounds`` times each, both ways:

- ``one_statement``: ``optimistic=True``, the writers' path on PostgreSQL
  (``orders/batch.py`` with ``content/live/onestatement.py``);
- ``per_table``: ``optimistic=False``, one statement per table and step (the path a batch
  falls back to, and SQLite's).

For each it reports the writer's time per batch (``in_tx_ms``: the purchase, without the
commit; ``commit_ms``), the mean of the rounds after the first ``--warmup`` (statement
preparation and caches). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common


def measure(url: str, sizes: list[int], rounds: int, warmup: int) -> dict[str, Any]:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from bench import live_flash_sale
    from xiaodian.actor import Actor
    from xiaodian.content.live import flash, flash_purchase
    from xiaodian.content.live.models import FlashSale
    from xiaodian.db import Database

    needed = 2 * rounds * sum(sizes)
    scene = live_flash_sale.seed(url, buyers=needed, quantity=min(needed, 999), limit=1)
    database = Database(url)
    try:
        with database.session() as db:  # running, with room for every batch
            db.execute(
                sa.update(FlashSale)
                .where(FlashSale.id == scene["sale_id"])
                .values(
                    status="running",
                    quantity=needed,
                    remaining=needed,
                    sold=0,
                    started_at=sa.func.now(),
                    ends_at=sa.func.now() + sa.text("interval '1 hour'"),
                )
            )
            db.commit()
        with database.session(write=False) as db:
            info = flash.load_info(db, scene["sale_id"])[0]
        buyers = iter(scene["buyer_ids"])
        out: dict[str, Any] = {}
        for size in sizes:
            for way, optimistic in (("one_statement", True), ("per_table", False)):
                in_tx: list[float] = []
                commit: list[float] = []
                for _round in range(rounds):
                    batch = [(Actor(user_id=next(buyers)), 1) for _ in range(size)]
                    with database.engine.connect() as conn, Session(bind=conn) as db:
                        start = time.perf_counter()
                        answers = flash_purchase.purchase_batch_in_tx(
                            db, info, batch, optimistic=optimistic
                        )
                        bought = time.perf_counter()
                        db.commit()
                        done = time.perf_counter()
                    assert all(isinstance(a, flash.Purchased) for a in answers), answers[:1]
                    in_tx.append((bought - start) * 1000)
                    commit.append((done - bought) * 1000)
                kept_in_tx, kept_commit = in_tx[warmup:] or in_tx, commit[warmup:] or commit
                out[f"{way}_{size}"] = {
                    "in_tx_ms": round(sum(kept_in_tx) / len(kept_in_tx), 2),
                    "commit_ms": round(sum(kept_commit) / len(kept_commit), 2),
                }
        return out
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server")
    parser.add_argument("--sizes", default="1,32,128")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    base = make_url(args.database_url)
    if base.get_backend_name() != "postgresql":
        sys.exit("this benchmark measures PostgreSQL's batches: --database-url postgresql+...")
    name = f"xd_batch_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        common.prepare(url, Path(tempfile.mkdtemp(prefix="xd-batch-")))
        sizes = [int(n) for n in args.sizes.split(",")]
        result = measure(url, sizes, args.rounds, args.warmup)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    summary = {
        "bench": "flash_batch",
        "database": "postgresql",
        "rounds": args.rounds,
        "warmup": args.warmup,
        **result,
        "machine": common.machine(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

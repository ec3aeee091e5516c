"""The operators' console under a big backlog: the home's queue counts and a queue's first
page over N open cases.

    uv run python bench/console.py                      # fresh SQLite, 100,000 cases
    uv run python bench/console.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

1. a fresh database (``bench.common.fresh_database``), migrated;
2. ``--cases`` open cases spread over the platform's queues (bulk ``cases.service.open_cases``,
   deadlines from 3 days ago to 3 days ahead, one in ten held by an operator), and as many
   closed ones;
3. starts one server (``bench.common.run_server``), signs the operator in;
4. ``--requests`` sequential ``GET /ops`` (the operator home: the queues' table and the
   domains' cards) and ``GET /ops/queues/<queue>`` (the first page of the biggest queue),
   after a warm-up.

The last line of output is one JSON object: ``cases``, ``p99_ms`` of the home and of the
queue page (``home_p99_ms``, ``queue_p99_ms``; ``p99_ms`` is the larger), their p50, the
database and the machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common


def seed(database_url: str, cases: int) -> tuple[str, str]:
    """The operator's login and password; the cases written in batches."""
    from xiaodian import clock
    from xiaodian.accounts import service as accounts
    from xiaodian.cases import queues, service
    from xiaodian.db import Database

    database = Database(database_url)
    rng = random.Random(15)
    now = clock.now()
    names = [q.name for q in queues.platform_queues()]
    try:
        with database.session() as db:
            operator = accounts.create_operator(
                db, login="ops-bench@example.com", password="operator123", display_name="运营"
            )
            helper = accounts.create_operator(
                db, login="ops-bench2@example.com", password="operator123", display_name="运营二"
            )
            db.commit()
            owners = [operator.id, helper.id]
        batch = 5_000
        for start in range(0, cases * 2, batch):
            with database.session() as db:
                for queue in names:
                    rows = [
                        {
                            "key": f"bench:{i}",
                            "title": f"工单 {i}",
                            "link": "/ops",
                            "shop_id": rng.randint(1, 5_000),
                            "due_at": now + timedelta(minutes=rng.randint(-4320, 4320)),
                        }
                        for i in range(start, min(start + batch, cases * 2))
                        if names[i % len(names)] == queue
                    ]
                    service.open_cases(db, queue, rows)
                db.commit()
        with database.session() as db:  # half of them closed, one in ten of the rest held
            from sqlalchemy import text

            db.execute(text("UPDATE cases SET closed_at = opened_at WHERE id % 2 = 0"))
            db.execute(text("UPDATE cases SET owner_id = :a WHERE id % 20 = 1"), {"a": owners[0]})
            db.execute(text("UPDATE cases SET owner_id = :b WHERE id % 20 = 11"), {"b": owners[1]})
            db.commit()
        return "ops-bench@example.com", "operator123"
    finally:
        database.dispose()


def _time(client: httpx.Client, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    args = parser.parse_args()
    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        env = common.prepare(database_url, data_dir)
        started = time.monotonic()
        login, password = seed(database_url, args.cases)
        seed_s = time.monotonic() - started
        with (
            common.run_server(env, start_timeout=120) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            token = client.post(
                "/api/v1/auth/token", json={"login": login, "password": password}
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            client.cookies.set("xd_session", token)
            queue = "shop_applications"
            _time(client, "/ops", 10)
            _time(client, f"/ops/queues/{queue}", 10)
            home = _time(client, "/ops", args.requests)
            page = _time(client, f"/ops/queues/{queue}", args.requests)
        summary: dict[str, Any] = {
            "cases": args.cases,
            "p99_ms": round(max(common.percentile(home, 99), common.percentile(page, 99)), 1),
            "home_p99_ms": round(common.percentile(home, 99), 1),
            "queue_p99_ms": round(common.percentile(page, 99), 1),
            "home_p50_ms": round(common.percentile(home, 50), 1),
            "queue_p50_ms": round(common.percentile(page, 50), 1),
            "requests": args.requests,
            "seed_s": round(seed_s, 1),
            "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        }
        common.report(summary)


if __name__ == "__main__":
    main()

"""Coupon claims over HTTP: a crowd racing for fewer coupons than claimers.

    uv run python bench/coupons.py                      # fresh SQLite, own server
    uv run python bench/coupons.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    uv run python bench/coupons.py --redis-url redis://127.0.0.1:6379/0   # through the gate

What it does:

1. a fresh database (``bench.common.fresh_database``), migrated;
2. seeds ``--claimers`` buyers with bearer tokens and one platform coupon of
   ``--quantity`` coupons, one per buyer (through ``campaigns.templates``, in-process);
3. starts one server (``bench.common.run_server``);
4. baseline: ``--concurrency`` clients send as many ``GET /healthz`` as there will be claims;
5. the race: the same clients send every claimer's ``POST /api/v1/coupons/{id}/claim``
   ``--tries`` times (so the per-buyer limit is tried too), in random order;
6. reads the database: coupons issued, buyers above the limit.

The last line of output is one JSON object: ``claims_per_s`` (claim requests answered per
second, 201 or 409 alike), ``baseline_per_s`` (``/healthz`` per second, the same server in
the same run), ``quantity``, ``issued`` (rows in ``coupons``, equal to the template's count
or ``issued`` is -1), ``over_limit`` (buyers holding more than the limit), ``claimed``
(201 answers), ``errors`` (anything but 201 and 409, or a ``/healthz`` not 200) with
``error_kinds``, ``claims``, the server's CPU per claim and per ``/healthz``
(``server_cpu_ms_per_claim``, ``server_cpu_ms_per_healthz``), ``concurrency``,
``database``, ``redis`` and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common


def seed(database_url: str, *, claimers: int, quantity: int) -> tuple[int, list[str]]:
    """The buyers' tokens and the platform coupon's id."""
    from xiaodian import clock
    from xiaodian.accounts import security
    from xiaodian.actor import Actor
    from xiaodian.campaigns import templates
    from xiaodian.db import Database

    database = Database(database_url)
    now = clock.now()
    try:
        with database.session() as db:
            buyers = common.seed_buyers(
                db,
                count=claimers,
                tag=os.urandom(3).hex(),
                now=now,
                password_hash=security.hash_password(os.urandom(16).hex()),
            )
            operator = Actor(user_id=buyers[0].user_id, is_operator=True)
            template = templates.create_platform_template(
                db,
                operator,
                templates.TemplateInput(
                    name="平台无门槛5元",
                    kind="no_threshold",
                    level="platform",
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(days=1),
                    quantity=quantity,
                    off_fen=500,
                ),
            )
            return template.id, [b.token for b in buyers]
    finally:
        database.dispose()


async def _drive(
    url: str, requests: list[tuple[str, str, str | None]], concurrency: int
) -> tuple[float, Counter[str]]:
    """Send (method, path, token) requests from ``concurrency`` clients; seconds, statuses."""
    outcomes: Counter[str] = Counter()
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for method, path, token in queue:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                try:
                    answer = await client.request(method, path, headers=headers)
                    outcomes[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, outcomes


def tally(database_url: str, template_id: int) -> tuple[int, int]:
    import sqlalchemy as sa

    from xiaodian.campaigns.models import Coupon, CouponTemplate
    from xiaodian.db import Database

    database = Database(database_url)
    try:
        with database.session(write=False) as db:
            template = db.get(CouponTemplate, template_id)
            rows = db.scalar(sa.select(sa.func.count()).select_from(Coupon)) or 0
            held = sa.select(Coupon.buyer_id).group_by(Coupon.buyer_id)
            over = held.having(sa.func.count() > (template.per_buyer_limit if template else 1))
            over_limit = db.scalar(sa.select(sa.func.count()).select_from(over.subquery())) or 0
            issued = rows if template is not None and template.issued == rows else -1
            return issued, over_limit
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claimers", type=int, default=10_000)
    parser.add_argument("--quantity", type=int, default=1_000)
    parser.add_argument("--tries", type=int, default=1, help="claims per claimer")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    parser.add_argument("--redis-url", default="", help="Redis for the claim gate")
    args = parser.parse_args()
    common.raise_fd_limit()
    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        extra = {"XIAODIAN_REDIS_URL": args.redis_url} if args.redis_url else {}
        env = common.prepare(database_url, data_dir, **extra)
        template_id, tokens = seed(database_url, claimers=args.claimers, quantity=args.quantity)
        claims: list[tuple[str, str, str | None]] = [
            ("POST", f"/api/v1/coupons/{template_id}/claim", token)
            for token in tokens
            for _ in range(args.tries)
        ]
        random.Random(14).shuffle(claims)
        with common.run_server(env, workers=args.workers, start_timeout=180) as server:
            health = [("GET", "/healthz", None)] * len(claims)
            cpu0 = common.process_tree_cpu_seconds(server.pid)
            base_s, base_out = asyncio.run(_drive(server.url, health, args.concurrency))
            cpu1 = common.process_tree_cpu_seconds(server.pid)
            claim_s, outcomes = asyncio.run(_drive(server.url, claims, args.concurrency))
            cpu2 = common.process_tree_cpu_seconds(server.pid)
        issued, over_limit = tally(database_url, template_id)
        kinds = Counter({k: n for k, n in outcomes.items() if k not in ("201", "409")})
        kinds.update({f"healthz {k}": n for k, n in base_out.items() if k != "200"})
        summary: dict[str, Any] = {
            "claims_per_s": round(len(claims) / claim_s, 1),
            "baseline_per_s": round(len(health) / base_s, 1),
            "quantity": args.quantity,
            "issued": issued,
            "over_limit": over_limit,
            "claimed": outcomes.get("201", 0),
            "errors": sum(kinds.values()),
            "error_kinds": dict(kinds),
            "claims": len(claims),
            "server_cpu_ms_per_claim": round((cpu2 - cpu1) / len(claims) * 1000, 3),
            "server_cpu_ms_per_healthz": round((cpu1 - cpu0) / len(health) * 1000, 3),
            "concurrency": args.concurrency,
            "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
            "redis": bool(args.redis_url),
        }
        common.report(summary)


if __name__ == "__main__":
    main()

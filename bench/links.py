"""Tracked links under load: ``/s/{code}`` redirects (each a click recorded and a lock
opened: every request is a new visitor, the worst case) against the same server's
``/healthz`` in the same run, on a fresh database and a server of our own.

    uv run python bench/links.py [--database-url postgresql+psycopg://...] [--duration 10]

Prints one JSON line last: ``redirects_per_s``, ``baseline_per_s``, ``errors`` (and the
ratio, the clicks the database holds afterwards, the machine)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50"


def seed(database_url: str, *, promoters: int) -> list[str]:
    """A shop with a product in a 普通 plan and ``promoters`` promoters' links to it."""
    import sqlalchemy as sa

    from xiaodian import clock, domains
    from xiaodian.accounts import security
    from xiaodian.accounts.models import User
    from xiaodian.affiliates.models import Link, LinkKind, Plan, PlanKind
    from xiaodian.catalog.models import Product, ProductSpec, ProductStatus, Sku
    from xiaodian.categories.models import Category
    from xiaodian.db import Database
    from xiaodian.merchants.models import EntityType, MemberRole, Shop, ShopMember

    domains.load_models()
    database = Database(database_url)
    tag = os.urandom(3).hex()
    now = clock.now()
    password_hash = security.hash_password(os.urandom(16).hex())
    try:
        with database.session() as db:
            category = db.scalar(
                sa.select(Category).where(Category.parent_id.is_not(None)).order_by(Category.id)
            )
            assert category is not None
            owner = User(
                email=f"owner-{tag}@bench.example", password_hash=password_hash, display_name="店主"
            )
            db.add(owner)
            db.flush()
            shop = Shop(
                name=f"压测小店-{tag}",
                description="",
                main_category_id=category.id,
                entity_type=EntityType.INDIVIDUAL_BUSINESS,
                legal_name="测试经营者",
            )
            db.add(shop)
            db.flush()
            db.add(ShopMember(shop_id=shop.id, user_id=owner.id, role=MemberRole.OWNER))
            product = Product(
                shop_id=shop.id,
                category_id=category.id,
                title="保温杯",
                description="压测用商品",
                status=ProductStatus.ON_SALE,
                return_days=7,
                min_price_fen=1990,
                published_at=now,
            )
            product.specs = [ProductSpec(name="颜色", values=["红色"], position=0)]
            product.skus = [
                Sku(
                    spec_values={"颜色": "红色"},
                    spec_key="红色",
                    code=f"BENCH-{tag}",
                    price_fen=1990,
                    list_price_fen=2990,
                    weight_g=300,
                    stock_on_hand=1000,
                    stock_received=1000,
                )
            ]
            db.add(product)
            db.flush()
            db.add(
                Plan(
                    shop_id=shop.id,
                    product_id=product.id,
                    kind=PlanKind.OPEN,
                    rate_pct=10,
                    starts_at=now,
                )
            )
            people = [
                User(
                    email=f"promoter{i}-{tag}@bench.example",
                    password_hash=password_hash,
                    display_name=f"达人{i}",
                )
                for i in range(promoters)
            ]
            db.add_all(people)
            db.flush()
            codes = [f"b{tag}{i:04d}" for i in range(promoters)]
            db.add_all(
                Link(
                    code=code,
                    promoter_id=person.id,
                    shop_id=shop.id,
                    product_id=product.id,
                    kind=LinkKind.PRODUCT,
                    created_at=now,
                )
                for code, person in zip(codes, people, strict=True)
            )
            db.commit()
            return codes
    finally:
        database.dispose()


async def hammer(
    url: str, paths: list[str], *, expect: int, concurrency: int, warmup: float, duration: float
) -> tuple[int, Counter[str]]:
    """Requests answered with ``expect`` inside the window (after the warm-up), and errors
    by kind. No cookies are kept: every redirect is a new visitor's click."""
    now = time.perf_counter()
    start, stop = now + warmup, now + warmup + duration
    done = 0
    errors: Counter[str] = Counter()
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while (began := time.perf_counter()) < stop:
            path = paths[next(counter) % len(paths)]
            try:
                r = await client.get(path, headers={"User-Agent": BROWSER})
                client.cookies.clear()
                ok = r.status_code == expect
                kind = "" if ok else f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                ok, kind = False, type(exc).__name__
            if began >= start and time.perf_counter() <= stop:
                if ok:
                    done += 1
                else:
                    errors[kind] += 1

    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=httpx.Timeout(30.0), follow_redirects=False
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return done, errors


def clicks(database_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM affiliate_clicks")).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--promoters", type=int, default=100)
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds")
    args = parser.parse_args()

    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        env = common.prepare(database_url, data_dir)
        codes = seed(database_url, promoters=args.promoters)
        with common.run_server(env, start_timeout=args.start_timeout) as server:
            run = {
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "duration": args.duration,
            }
            redirects, errors = asyncio.run(
                hammer(server.url, [f"/s/{c}" for c in codes], expect=302, **run)
            )
            baseline, base_errors = asyncio.run(hammer(server.url, ["/healthz"], expect=200, **run))
        result: dict[str, Any] = {
            "benchmark": "links",
            "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "clicks_recorded": clicks(database_url),
            "ratio": round(redirects / baseline, 3) if baseline else None,
            "error_kinds": dict((errors + base_errors).most_common(5)),
            "machine": common.machine(),
            "redirects_per_s": round(redirects / args.duration, 1),
            "baseline_per_s": round(baseline / args.duration, 1),
            "errors": sum(errors.values()) + sum(base_errors.values()),
        }
        common.report(result)


if __name__ == "__main__":
    main()

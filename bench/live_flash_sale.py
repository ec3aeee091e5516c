"""A live flash sale (秒杀) under load: thousands of distinct buyers, thousands of viewers.

    uv run python bench/live_flash_sale.py                      # fresh SQLite, own server
    uv run python bench/live_flash_sale.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0                   # + the naive pgbench baseline
    uv run python bench/live_flash_sale.py --database-url ... --redis-url ... \
        --quantity 5000                                        # steady orders/s vs pgbench
    uv run python bench/live_flash_sale.py --target http://host:8000 --database-url URL

What it does, in one run (about a minute at most):

1. seeds, in-process, a fresh database: a shop, a product with a SKU in stock, a host, a
   live room (live), a flash sale (draft) and ``--buyers`` distinct buyer accounts, each with
   a default address and a bearer token (bulk inserts: one precomputed password hash;
   ``bench.common.seed_buyers``);
2. starts ONE server process (``bench.common.run_server``; ``--workers N`` starts N, for
   PostgreSQL + Redis, where Redis carries the events and the flash-sale gate between
   them);
3. baseline: ``wrk`` on ``/healthz`` at the same concurrency -> ``baseline_per_s``;
4. viewers: a separate process opens ``--viewers`` Server-Sent Events connections to the
   room (asyncio raw streams) and waits for each one's snapshot;
5. the host starts the sale (HTTP); ``wrk`` with a Lua script rotating through the buyers'
   tokens (one ``Authorization`` per request) buys at ``--connections`` concurrency while the
   viewers stay connected and the host pushes an announcement every 0.5 s. Each event
   carries the server's time (``at``); viewers record ``received - at`` ->
   ``event_delay_p50_ms`` / ``event_delay_p99_ms``;
6. reads the database: ``oversold`` (units ordered beyond the quantity, or a sale row that
   disagrees with its orders), ``undersold`` (quantity - ordered - remaining, must be 0),
   ``limit_violations`` (buyers past the per-buyer limit).

CPU of the generator (``client_cpu_s``: wrk) and of the server (``server_cpu_s``) and of the
viewers' process (``viewers_cpu_s``) are reported so a reader sees who was the bottleneck.

With ``--database-url`` and ``--redis-url`` it also runs ``pgbench`` with a one-row
``UPDATE bench_stock SET n = n - 1 WHERE id = 1 AND n > 0`` transaction on the same
PostgreSQL server for ``--seconds`` each, with 16, 32, 64 clients and at the same
concurrency (``naive_update_tps``; capped below the server's ``max_connections``, since a
pgbench client is a database connection) -> ``naive_update_tps_best``, the best of them:
STEADY rates (thousands of transactions, no start, no end). Two order rates stand next to
them (``steady_vs_naive``: same concurrency, ``steady_vs_naive_best``: against the best):

- ``orders_per_s`` (burst): successful orders divided by the time from the start of the
  buying to the last order. With the default ``--quantity 500`` this is how fast the sale
  sells out (a handful of batches, including the first requests' ramp-up and the sold-out
  tail), the figure a host sees, but not a rate to compare with pgbench.
- ``orders_per_s_steady``: orders per second between the 10th and the 90th percentile of
  the orders' times (``steady_orders`` orders in ``steady_window_s``; ramp-up and tail left
  out). It is comparable with ``naive_update_tps`` (``steady_vs_naive``) when the sale does
  NOT sell out before the buying ends: run with ``--quantity 5000`` (= ``--buyers``,
  per-buyer limit 1), so the whole ``--seconds`` are spent creating orders. In a default
  run it is the rate while the 500 units sold.

``--target URL`` measures a server that is already running. It cannot seed that server's
database over HTTP, so it needs ``--database-url`` naming THAT server's (migrated) database:
the scene is added to it (no fresh database, nothing dropped) and the checks read it. The
server's CPU is reported only with ``--server-pid``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

PASSWORD_HASH = (
    # argon2 of a random password nobody knows: the buyers sign in by token only.
    "$argon2id$v=19$m=65536,t=3,p=4$YmVuY2hzYWx0YmVuY2g$3yGm9kq2xq4m1lWl0bq6a3G1cJwz0mZ4qv1yq6y0b2c"
)

WRK_LUA = r"""
-- One Authorization per request, rotating through the buyers' tokens; statuses counted
-- per thread and reported as JSON by done().
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local tokens = {}
local idx = 0
local method = "GET"
local path = "/"
local body = nil
counts = {}

function init(args)
  method, path = args[1], args[2]
  if args[3] ~= nil and args[3] ~= "-" then
    for line in io.lines(args[3]) do tokens[#tokens + 1] = line end
  end
  if args[4] ~= nil then body = args[4] end
  if #tokens > 0 then
    idx = (offset * math.floor(#tokens / 8)) % #tokens
  end
  if #tokens == 0 then
    wrk.method = method
    wrk.path = path
  end
end

if true then
  request = function()
    if #tokens == 0 then return wrk.format(method, path) end
    idx = idx + 1
    if idx > #tokens then idx = 1 end
    return wrk.format(method, path, {
      ["Authorization"] = "Bearer " .. tokens[idx],
      ["Content-Type"] = "application/json",
    }, body)
  end
end

function response(status, headers, resp_body)
  local key = tostring(status)
  if status == 409 and resp_body ~= nil then
    if string.find(resp_body, "limit_reached", 1, true) then
      key = "409_limit_reached"
    elseif string.find(resp_body, "sold_out", 1, true) then
      key = "409_sold_out"
    else
      key = "409_other"
    end
  end
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""


# --------------------------------------------------------------------------- tools


def server_cpu(pid: int) -> float:
    """CPU seconds of the server: its process and, with --workers, its worker processes."""
    return common.process_tree_cpu_seconds(pid)


# --------------------------------------------------------------------------- seeding


def seed(database_url: str, *, buyers: int, quantity: int, limit: int) -> dict[str, Any]:
    """The scene, written in-process with bulk inserts. Returns ids and tokens."""
    import sqlalchemy as sa

    from xiaodian import clock
    from xiaodian.accounts import security
    from xiaodian.accounts.models import AuthSession, User
    from xiaodian.actor import Actor
    from xiaodian.catalog.models import Product, ProductSpec, ProductStatus, Sku
    from xiaodian.categories.models import Category
    from xiaodian.content.live import flash
    from xiaodian.content.live import service as live
    from xiaodian.db import Database
    from xiaodian.merchants.models import EntityType, MemberRole, Shop, ShopMember

    database = Database(database_url)
    now = clock.now()
    expires = now + timedelta(days=30)
    tag = os.urandom(3).hex()
    try:
        with database.session() as db:
            host = User(
                phone=None,
                email=f"host-{tag}@bench.example",
                password_hash=PASSWORD_HASH,
                display_name="主播小美",
            )
            db.add(host)
            db.flush()
            category = db.scalar(
                sa.select(Category).where(Category.parent_id.is_not(None)).order_by(Category.id)
            )
            assert category is not None, "categories are seeded by the migrations"
            shop = Shop(
                name=f"秒杀测试店 {tag}",
                description="",
                main_category_id=category.id,
                entity_type=EntityType.INDIVIDUAL_BUSINESS,
                legal_name="测试经营者",
            )
            db.add(shop)
            db.flush()
            db.add(ShopMember(shop_id=shop.id, user_id=host.id, role=MemberRole.OWNER))
            product = Product(
                shop_id=shop.id,
                category_id=category.id,
                title="直播间秒杀 保温杯",
                description="秒杀用商品",
                status=ProductStatus.ON_SALE,
                return_days=7,
                min_price_fen=9900,
                published_at=now,
            )
            product.specs = [ProductSpec(name="规格", values=["标准"], position=0)]
            stock = max(10_000, quantity * 2)
            product.skus = [
                Sku(
                    spec_values={"规格": "标准"},
                    spec_key="标准",
                    code=f"FLASH-{tag}",
                    price_fen=9900,
                    list_price_fen=12900,
                    weight_g=300,
                    stock_on_hand=stock,
                    stock_received=stock,
                )
            ]
            db.add(product)
            host_token = security.new_token()
            db.add(
                AuthSession(
                    token_hash=security.token_hash(host_token),
                    user_id=host.id,
                    kind="bearer",
                    expires_at=expires,
                )
            )
            db.commit()
            host_id, shop_id, product_id = host.id, shop.id, product.id
            sku_id = product.skus[0].id

        # Buyers: users, default addresses and bearer sessions, a few statements in all.
        with database.session() as db:
            seeded = common.seed_buyers(
                db, count=buyers, tag=tag, now=now, password_hash=PASSWORD_HASH
            )
        tokens = [buyer.token for buyer in seeded]
        ids = [buyer.user_id for buyer in seeded]

        host_actor = Actor(user_id=host_id, display_name="主播小美", shop_roles={shop_id: "owner"})
        with database.session() as db:
            room = live.create_room(
                db,
                host_actor,
                live.RoomInput(
                    title="618 秒杀专场",
                    scheduled_at=now + timedelta(minutes=5),
                    shop_id=shop_id,
                    product_ids=[product_id],
                ),
            )
            live.transition(db, host_actor, room.id, "go_live")
            sale = flash.open_sale(
                db,
                host_actor,
                room.id,
                flash.SaleInput(
                    product_id=product_id,
                    sku_id=sku_id,
                    price_fen=990,
                    quantity=quantity,
                    per_buyer_limit=limit,
                    duration_seconds=600,
                ),
            )
            room_id, sale_id = room.id, sale.id
    finally:
        database.dispose()
    return {
        "room_id": room_id,
        "sale_id": sale_id,
        "sku_id": sku_id,
        "host_token": host_token,
        "tokens": tokens,
        "buyer_ids": ids,
    }


def check(database_url: str, sale_id: int, limit: int) -> dict[str, Any]:
    """The truth after the sale, read from the database."""
    import sqlalchemy as sa

    from xiaodian.content.live.models import FlashSale, FlashSaleOrder
    from xiaodian.db import Database
    from xiaodian.orders.models import Order

    database = Database(database_url)
    try:
        with database.session(write=False) as db:
            sale = db.get(FlashSale, sale_id)
            assert sale is not None
            orders, units = db.execute(
                sa.select(
                    sa.func.count(FlashSaleOrder.id),
                    sa.func.coalesce(sa.func.sum(FlashSaleOrder.quantity), 0),
                ).where(FlashSaleOrder.sale_id == sale_id)
            ).one()
            order_ids = sa.select(FlashSaleOrder.order_id).where(FlashSaleOrder.sale_id == sale_id)
            real_orders = db.scalar(
                sa.select(sa.func.count(Order.id)).where(Order.id.in_(order_ids))
            )
            over_limit = db.scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(FlashSaleOrder.buyer_id)
                    .where(FlashSaleOrder.sale_id == sale_id)
                    .group_by(FlashSaleOrder.buyer_id)
                    .having(sa.func.sum(FlashSaleOrder.quantity) > limit)
                    .subquery()
                )
            )
            stamps = sorted(
                db.scalars(
                    sa.select(FlashSaleOrder.created_at).where(FlashSaleOrder.sale_id == sale_id)
                )
            )
            quantity, remaining, sold = sale.quantity, sale.remaining, sale.sold
    finally:
        database.dispose()
    oversold = max(0, int(units) - quantity) + max(0, int(sold) - quantity)
    oversold += abs(int(sold) - int(units))  # the sale row must agree with its orders
    return {
        "orders": int(orders),
        "units_ordered": int(units),
        "orders_in_orders_table": int(real_orders or 0),
        "quantity": quantity,
        "remaining": remaining,
        "oversold": oversold,
        "undersold": quantity - int(units) - remaining,
        "limit_violations": int(over_limit or 0),
        "first_order_at": stamps[0] if stamps else None,
        "last_order_at": stamps[-1] if stamps else None,
        **steady_rate(stamps),
        # Orders of one writer batch share their time: how the writers grouped them.
        "batches": len(set(stamps)),
        "orders_per_batch": round(len(stamps) / len(set(stamps)), 1) if stamps else None,
    }


def steady_rate(stamps: list[datetime]) -> dict[str, Any]:
    """Orders per second between the 10th and the 90th percentile of the orders' times:
    the ramp-up (first connections, cold caches) and the tail (selling out, the last
    requests) left out. Orders of one batch share a time, so the orders counted are those
    AFTER the first bound up to and including the second (a half-open interval)."""
    n = len(stamps)
    if n < 20:
        return {"orders_per_s_steady": None, "steady_window_s": None, "steady_orders": None}
    lo, hi = stamps[n // 10], stamps[n - 1 - n // 10]
    seconds = (hi - lo).total_seconds()
    counted = sum(1 for t in stamps if lo < t <= hi)
    return {
        "orders_per_s_steady": round(counted / seconds, 1) if seconds > 0 else None,
        "steady_window_s": round(seconds, 3),
        "steady_orders": counted,
    }


def naive_update_tps(database_url: str, *, connections: int, seconds: float) -> dict[str, Any]:
    """pgbench: a one-row conditional UPDATE per transaction on the same server, with
    16, 32 and 64 clients and with ``connections`` (capped below the server's
    ``max_connections``: each pgbench client holds a database connection, which is
    exactly what a crowd of buyers cannot have). ``naive_update_tps`` is the rate at
    ``connections`` (or the cap), ``naive_update_tps_best`` the best of all of them."""
    import secrets

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    pgbench = shutil.which("pgbench")
    if not pgbench:
        return {"naive_update_tps": None, "naive_note": "pgbench not installed"}
    name = f"xd_naive_{secrets.token_hex(4)}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    url = make_url(database_url).set(database=name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE bench_stock (id int PRIMARY KEY, n bigint)"))
            conn.execute(sa.text("INSERT INTO bench_stock VALUES (1, 1000000000)"))
            most = int(conn.execute(sa.text("SHOW max_connections")).scalar() or 100) - 10
        engine.dispose()
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write("BEGIN;\nUPDATE bench_stock SET n = n - 1 WHERE id = 1 AND n > 0;\nCOMMIT;\n")
            script = f.name
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        same = min(connections, most)
        by_clients: dict[int, float | None] = {}
        for clients in sorted({16, 32, 64, same} - {c for c in (16, 32, 64) if c > most}):
            cmd = [
                pgbench,
                "-n",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(max(1, round(seconds))),
                "-f",
                script,
                name,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            found = re.search(r"tps = ([0-9.]+)", out.stdout)
            by_clients[clients] = round(float(found.group(1)), 1) if found else None
        os.unlink(script)
        rates = [tps for tps in by_clients.values() if tps]
        return {
            "naive_update_tps": by_clients.get(same),
            "naive_clients": same,
            "naive_update_tps_best": max(rates) if rates else None,
            "naive_by_clients": {str(k): v for k, v in by_clients.items()},
        }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- viewers

AT = re.compile(rb'"at": "([^"]+)"')


async def _viewers_main(url: str, room_id: int, count: int, ready_seconds: float) -> None:
    """The viewers' process: N SSE connections; READY on stdout when the snapshots are
    in, then delays of every timestamped event until stdin closes or says STOP.

    Each viewer is an asyncio ``Protocol`` (no stream reader, no task per read): the
    viewers are part of the load generator, and the less CPU they take on a shared
    machine, the more the server gets (``viewers_cpu_s`` reports what they took)."""
    common.raise_fd_limit()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET /api/v1/live/rooms/{room_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    delays: list[float] = []
    parsed: dict[bytes, float] = {}
    state = {"ready": 0, "failed": 0, "events": 0, "closed": 0}
    measuring = asyncio.Event()
    gate = asyncio.Semaphore(256)
    transports: list[asyncio.BaseTransport] = []
    loop = asyncio.get_running_loop()

    def at(raw: bytes) -> float:
        value = parsed.get(raw)
        if value is None:
            value = parsed[raw] = datetime.fromisoformat(raw.decode()).timestamp()
        return value

    class Viewer(asyncio.Protocol):
        def __init__(self) -> None:
            self.snapshot: asyncio.Future[None] = loop.create_future()
            self.buf = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)
            cast(asyncio.Transport, transport).write(request)

        def data_received(self, chunk: bytes) -> None:
            if not self.snapshot.done():
                self.buf += chunk
                at_snapshot = self.buf.find(b"event: snapshot")
                if at_snapshot >= 0 and self.buf.find(b"\n\n", at_snapshot) >= 0:
                    self.snapshot.set_result(None)
                    self.buf = b""
                return
            now = time.time()
            data = self.buf + chunk
            cut = data.rfind(b"\n\n")
            if cut < 0:
                self.buf = data[-4096:]
                return
            self.buf = data[cut + 2 :]
            if not measuring.is_set():
                return
            for found in AT.finditer(data, 0, cut):
                state["events"] += 1
                delays.append(now - at(found.group(1)))

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.snapshot.done():
                self.snapshot.set_exception(ConnectionError("closed before the snapshot"))
            else:
                state["closed"] += 1

    async def viewer() -> None:
        try:
            async with gate:
                _transport, protocol = await asyncio.wait_for(
                    loop.create_connection(Viewer, host, port), 30
                )
                await asyncio.wait_for(protocol.snapshot, 30)
            state["ready"] += 1
        except Exception:
            state["failed"] += 1

    tasks = [asyncio.create_task(viewer()) for _ in range(count)]
    deadline = time.monotonic() + ready_seconds
    while state["ready"] + state["failed"] < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    print(f"READY {state['ready']} {state['failed']}", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.strip() == "MEASURE":
        delays.clear()
        measuring.set()
        await loop.run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(0.5)  # let the last events arrive
    for task in tasks:
        task.cancel()
    for transport in transports:
        transport.close()
    ms = [d * 1000 for d in delays]
    print(
        "RESULT "
        + json.dumps(
            {
                "viewers": state["ready"],
                "viewers_failed": state["failed"],
                "viewers_dropped": state["closed"],
                "events_received": state["events"],
                "event_delay_p50_ms": round(common.percentile(ms, 50), 1),
                "event_delay_p99_ms": round(common.percentile(ms, 99), 1),
                "event_delay_max_ms": round(max(ms), 1) if ms else 0.0,
            }
        ),
        flush=True,
    )


def viewers_process(url: str, room_id: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--viewer-worker", url, str(room_id), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=common.ROOT,
    )


def read_tagged(proc: subprocess.Popen[str], tag: str, seconds: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(tag + " "):
            return line[len(tag) + 1 :].strip()
    raise RuntimeError(f"the viewers' process gave no {tag}")


# --------------------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--target", default=None, help="an already running server")
    parser.add_argument("--server-pid", type=int, default=0, help="with --target, for CPU")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (PostgreSQL + Redis only)"
    )
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--quantity", type=int, default=500)
    parser.add_argument("--limit", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the buying")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--announce-every", type=float, default=0.5, help="0: none")
    parser.add_argument("--profile", default=None, help="py-spy raw profile of the sale")
    parser.add_argument("--profile-cmd", default="py-spy", help="how to run py-spy")
    parser.add_argument(
        "--profile-idle", action="store_true", help="profile: include waiting threads"
    )
    parser.add_argument("--viewer-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.viewer_worker:
        url, room_id, count = args.viewer_worker
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(_viewers_main(url, int(room_id), int(count), 40.0))
        return

    started = time.monotonic()
    if args.target and not args.database_url:
        sys.exit(
            "--target needs --database-url naming that server's own (migrated) database: "
            "the buyers, the room and the sale are written there before the run"
        )
    common.raise_fd_limit()
    wrk = common.need_wrk()
    redis_env = {"XIAODIAN_REDIS_URL": args.redis_url} if args.redis_url else {}
    summary: dict[str, Any] = {"bench": "live_flash_sale"}

    with ExitStack() as stack:
        if args.target:
            database_url = args.database_url
            for key, value in redis_env.items():
                os.environ[key] = value
            from xiaodian import settings as settings_module

            settings_module.install(settings_module.load_settings())
            base_url = args.target.rstrip("/")
            server_pid = args.server_pid
        else:
            database_url, data_dir = stack.enter_context(common.fresh_database(args.database_url))
            env = common.prepare(database_url, data_dir, **redis_env)
            from xiaodian import settings as settings_module

            settings_module.install(settings_module.load_settings())
        summary["database"] = "postgresql" if database_url.startswith("postgres") else "sqlite"
        summary["redis"] = bool(args.redis_url)
        t0 = time.monotonic()
        scene = seed(database_url, buyers=args.buyers, quantity=args.quantity, limit=args.limit)
        summary["seed_s"] = round(time.monotonic() - t0, 2)
        if not args.target:
            server = stack.enter_context(common.run_server(env, workers=args.workers))
            base_url, server_pid = server.url, server.pid
            print(f"server {base_url} pid {server_pid}", file=sys.stderr, flush=True)
        work = Path(tempfile.mkdtemp(prefix="xiaodian-wrk-"))
        stack.callback(shutil.rmtree, work, True)
        script = work / "bench.lua"
        script.write_text(WRK_LUA)
        tokens = work / "tokens.txt"
        tokens.write_text("\n".join(scene["tokens"]) + "\n")
        room_id, sale_id = scene["room_id"], scene["sale_id"]
        host = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {scene['host_token']}"},
            timeout=30,
        )
        stack.callback(host.close)

        # a. baseline
        cpu0 = server_cpu(server_pid) if server_pid else 0.0
        base = common.run_wrk(
            wrk,
            base_url,
            method="GET",
            path="/healthz",
            seconds=args.baseline_seconds,
            connections=args.connections,
            threads=args.wrk_threads,
            script=script,
        )
        cpu1 = server_cpu(server_pid) if server_pid else 0.0
        summary["baseline_per_s"] = round(base["requests"] / base["seconds"], 1)
        summary["baseline_p99_ms"] = round(base["p99_us"] / 1000, 1)
        summary["baseline_client_cpu_s"] = base["client_cpu_s"]
        summary["baseline_server_cpu_s"] = round(cpu1 - cpu0, 2) if server_pid else None
        summary["baseline_seconds"] = round(base["seconds"], 2)

        # b. viewers
        viewers = None
        if args.viewers > 0:
            viewers = viewers_process(base_url, room_id, args.viewers)
            stack.callback(lambda: viewers.poll() is None and viewers.kill())
            t0 = time.monotonic()
            read_tagged(viewers, "READY", 60)
            summary["viewers_connect_s"] = round(time.monotonic() - t0, 2)
            assert viewers.stdin is not None
            viewers.stdin.write("MEASURE\n")
            viewers.stdin.flush()
            time.sleep(0.2)

        # c. the sale, while the viewers watch and the host announces
        started_sale = host.post(f"/api/v1/live/rooms/{room_id}/flash-sales/{sale_id}/start")
        if started_sale.status_code != 200:
            raise RuntimeError(f"could not start the sale: {started_sale.text}")
        stop_announcing = False

        def announce() -> None:
            with httpx.Client(base_url=base_url, headers=dict(host.headers), timeout=30) as c:
                n = 0
                while not stop_announcing:
                    n += 1
                    c.post(
                        f"/api/v1/live/rooms/{room_id}/announcements", json={"text": f"福利 {n}"}
                    )
                    time.sleep(args.announce_every)

        import threading

        announcer = threading.Thread(target=announce, daemon=True)
        if args.announce_every > 0:
            announcer.start()
        window_start = datetime.now().astimezone()
        profiler = None
        if args.profile and server_pid:
            profiler = subprocess.Popen(
                [
                    *args.profile_cmd.split(),
                    "record",
                    "--pid",
                    str(server_pid),
                    "-d",
                    str(max(1, round(args.seconds))),
                    "-r",
                    "200",
                    "--threads",
                    "--format",
                    "raw",
                    "--nonblocking",
                    *(["--subprocesses"] if args.workers > 1 else []),
                    *(["--idle"] if args.profile_idle else []),
                    "-o",
                    args.profile,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cpu0 = server_cpu(server_pid) if server_pid else 0.0
        sale = common.run_wrk(
            wrk,
            base_url,
            method="POST",
            path=f"/api/v1/live/rooms/{room_id}/flash-sales/{sale_id}/buy",
            seconds=args.seconds,
            connections=args.connections,
            threads=args.wrk_threads,
            script=script,
            tokens=tokens,
            body='{"quantity": 1}',
        )
        cpu1 = server_cpu(server_pid) if server_pid else 0.0
        if profiler is not None:
            profiler.wait(timeout=30)
        stop_announcing = True
        if announcer.is_alive():
            announcer.join(timeout=5)
        if viewers is not None:
            vcpu = common.process_cpu_seconds(viewers.pid)
            assert viewers.stdin is not None
            viewers.stdin.write("STOP\n")
            viewers.stdin.flush()
            summary.update(json.loads(read_tagged(viewers, "RESULT", 30)))
            summary["viewers_cpu_s"] = round(vcpu, 2)
            viewers.wait(timeout=10)
        else:
            summary.update(viewers=0, event_delay_p50_ms=None, event_delay_p99_ms=None)

        # the truth
        truth = check(database_url, sale_id, args.limit)
        first, last = truth.pop("first_order_at"), truth.pop("last_order_at")
        window = (last - window_start).total_seconds() if last else 0.0
        statuses = sale["statuses"]
        summary.update(
            attempts_per_s=round(sale["requests"] / sale["seconds"], 1),
            attempts=sale["requests"],
            p50_ms=round(sale["p50_us"] / 1000, 1),
            p90_ms=round(sale["p90_us"] / 1000, 1),
            p99_ms=round(sale["p99_us"] / 1000, 1),
            max_ms=round(sale["max_us"] / 1000, 1),
            statuses=statuses,
            wrk_errors=sale["errors"],
            **truth,
            orders_per_s=round(truth["orders"] / window, 1) if window > 0 else None,
            sell_out_s=round(window, 3) if truth["remaining"] == 0 and last else None,
            first_order_after_s=(
                round((first - window_start).total_seconds(), 3) if first else None
            ),
            client_cpu_s=sale["client_cpu_s"],
            server_cpu_s=round(cpu1 - cpu0, 2) if server_pid else None,
            sale_seconds=round(sale["seconds"], 2),
            buyers=len(scene["tokens"]),
            connections=args.connections,
            per_buyer_limit=args.limit,
            workers=args.workers,
        )
        summary["ratio"] = round(summary["attempts_per_s"] / summary["baseline_per_s"], 3)
        summary["orders_created_201"] = statuses.get("201", 0)
    if args.database_url and args.redis_url:
        # After our server stopped: its pool would take connections pgbench needs.
        summary.update(
            naive_update_tps(args.database_url, connections=args.connections, seconds=args.seconds)
        )
        if summary.get("naive_update_tps") and summary.get("orders_per_s"):
            summary["orders_vs_naive"] = round(
                summary["orders_per_s"] / summary["naive_update_tps"], 2
            )
        if summary.get("naive_update_tps") and summary.get("orders_per_s_steady"):
            summary["steady_vs_naive"] = round(
                summary["orders_per_s_steady"] / summary["naive_update_tps"], 2
            )
        if summary.get("naive_update_tps_best") and summary.get("orders_per_s_steady"):
            summary["steady_vs_naive_best"] = round(
                summary["orders_per_s_steady"] / summary["naive_update_tps_best"], 2
            )
    summary["wall_s"] = round(time.monotonic() - started, 1)
    common.report(summary)


if __name__ == "__main__":
    main()

"""Checkout + sandbox payment over HTTP, closed loop: how many orders per second get paid.

    uv run python bench/checkout.py                                  # fresh SQLite, own server
    uv run python bench/checkout.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # fresh PG database
    uv run python bench/checkout.py --concurrency 32 --duration 20 --workers 1
    uv run python bench/checkout.py --target http://host:8000 --database-url URL

What it does (well within a minute with the defaults):

1. a fresh database (a temporary SQLite file, or a randomly named PostgreSQL database on the
   server ``--database-url`` names, dropped afterwards), migrated;
2. seeds it in-process: ``--shops`` shops with products whose SKUs have plenty of stock, and
   ``--buyers`` buyers (rows written directly with one precomputed password hash, since
   nobody signs in with it), each with a default address and a bearer token from
   ``accounts.service.issue_token``;
3. starts one server (``bench.common.run_server``: uvicorn, the sandbox payment provider,
   ``XIAODIAN_PUBLIC_BASE_URL`` pointing at itself so the sandbox's notifications are POSTed
   back to the same server's notify endpoint, signed and encrypted as WeChat Pay does);
4. ``--concurrency`` clients (asyncio + one pooled httpx client) each loop, as a buyer's app
   would: ``POST /api/v1/checkout`` (with an ``Idempotency-Key``) -> ``POST /api/v1/payments``
   (method ``sandbox``) -> ``POST /sandbox/cashier/{out_trade_no}/pay`` (the cashier's
   "确认支付", JSON answer; bearer requests need no CSRF token) -> wait on
   ``GET /api/v1/payments/{out_trade_no}?wait=N`` until it is ``paid`` (answered when the
   server's notify endpoint has verified the notification and marked the order paid);
5. after ``--warmup`` seconds it measures for ``--duration`` seconds; an order counts when
   it started and was paid inside the window.

``--generator wrk`` drives the same loop from wrk (a C load generator, one connection per
wrk thread, a Lua script walking each connection through the four requests), so the
generator's own CPU stays far below the server's at 64 or 256 buyers; it reports no
per-order latency (wrk sees requests, not orders).

The last line of output is one JSON object: ``orders_per_s`` (paid orders per second),
``p50_ms`` / ``p99_ms`` (checkout request sent -> payment seen paid, per order),
``checkout_p50_ms`` / ``checkout_p99_ms`` (the checkout request alone), ``errors`` (any
unexpected status, timeout or order not paid within ``--paid-timeout``, with
``error_kinds``), ``concurrency``, ``duration_s``, ``database``, ``server_cpu_s`` (the
server process during the window), ``db_cpu_s`` (PostgreSQL: the backends serving the
benchmark's database, read from /proc), ``server_cpu_ms_per_order`` (server + database
backends CPU per order paid in the window, with the sandbox's notification: the figure to
compare), ``app_cpu_ms_per_order`` and ``db_cpu_ms_per_order`` (its two parts),
``client_cpu_s`` (the generator during the window, so a reader sees whether the client was
the bottleneck), ``generator`` and the machine.

``--target URL`` drives a server that is already running (with the sandbox provider). Its
database cannot be seeded over HTTP, so ``--database-url`` must name THAT server's migrated
database: the shops and buyers are added to it (nothing is dropped). ``server_cpu_s`` is
reported only with ``--server-pid``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

SKUS_PER_SHOP = 4
STOCK = 10_000_000


@dataclass(frozen=True)
class Buyer:
    token: str
    address_id: int


@dataclass(frozen=True)
class Scene:
    buyers: list[Buyer]
    skus: list[int]


def seed(database_url: str, *, shops: int, buyers: int) -> Scene:
    """Shops with plenty of stock and buyers with an address and a bearer token."""
    import sqlalchemy as sa

    from xiaodian import clock
    from xiaodian.accounts import security
    from xiaodian.accounts.models import User
    from xiaodian.catalog.models import Product, ProductSpec, ProductStatus, Sku
    from xiaodian.categories.models import Category
    from xiaodian.db import Database
    from xiaodian.merchants.models import EntityType, MemberRole, Shop, ShopMember

    database = Database(database_url)
    tag = os.urandom(3).hex()
    now = clock.now()
    # Nobody signs in with a password here: one hash for every account.
    password_hash = security.hash_password(os.urandom(16).hex())
    try:
        with database.session() as db:
            category = db.scalar(
                sa.select(Category).where(Category.parent_id.is_not(None)).order_by(Category.id)
            )
            assert category is not None, "categories are seeded by the migrations"
            owner = User(
                email=f"owner-{tag}@bench.example",
                password_hash=password_hash,
                display_name="店主",
            )
            db.add(owner)
            db.flush()
            sku_rows: list[Sku] = []
            for n in range(shops):
                shop = Shop(
                    name=f"压测小店{n + 1}-{tag}",
                    description="",
                    main_category_id=category.id,
                    entity_type=EntityType.INDIVIDUAL_BUSINESS,
                    legal_name="测试经营者",
                )
                db.add(shop)
                db.flush()
                db.add(ShopMember(shop_id=shop.id, user_id=owner.id, role=MemberRole.OWNER))
                colours = ["红色", "蓝色", "白色", "黑色"][:SKUS_PER_SHOP]
                product = Product(
                    shop_id=shop.id,
                    category_id=category.id,
                    title=f"保温杯 {n + 1} 号",
                    description="压测用商品",
                    status=ProductStatus.ON_SALE,
                    return_days=7,
                    min_price_fen=1990,
                    published_at=now,
                )
                product.specs = [ProductSpec(name="颜色", values=colours, position=0)]
                product.skus = [
                    Sku(
                        spec_values={"颜色": colour},
                        spec_key=colour,
                        code=f"BENCH-{tag}-{n}-{i}",
                        price_fen=1990 + 100 * i,
                        list_price_fen=2990 + 100 * i,
                        weight_g=300,
                        stock_on_hand=STOCK,
                        stock_received=STOCK,
                    )
                    for i, colour in enumerate(colours)
                ]
                db.add(product)
                sku_rows += product.skus
            db.commit()
            sku_ids = [sku.id for sku in sku_rows]

            people = [
                Buyer(token=buyer.token, address_id=buyer.address_id)
                for buyer in common.seed_buyers(
                    db, count=buyers, tag=tag, now=now, password_hash=password_hash
                )
            ]
        return Scene(buyers=people, skus=sku_ids)
    finally:
        database.dispose()


@dataclass
class Tally:
    started_at: float  # when measuring starts (after the warm-up)
    stops_at: float
    latencies: list[float] = field(default_factory=list)  # seconds, checkout -> paid
    checkout: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    warmup_orders: int = 0
    polls: int = 0  # status polls of the orders counted
    completed: int = 0  # orders paid inside the window, whenever they started (CPU per order)
    server_cpu_s: float = 0.0  # during the window
    db_cpu_s: float = 0.0  # PostgreSQL's backends of the benchmark's database
    client_cpu_s: float = 0.0


class Failed(Exception):
    """One order did not make it; the message is the kind of error."""


def _expect(response: httpx.Response, status: int, step: str) -> dict[str, Any]:
    if response.status_code != status:
        code = ""
        with contextlib.suppress(ValueError):
            code = response.json().get("error", {}).get("code", "")
        raise Failed(f"{step}: HTTP {response.status_code} {code}".strip())
    body: dict[str, Any] = response.json()
    return body


async def one_order(
    client: httpx.AsyncClient,
    buyer: Buyer,
    sku_id: int,
    quantity: int,
    paid_timeout: float,
) -> tuple[float, float, int]:
    """Checkout -> payment -> sandbox pay -> paid. Returns (checkout s, total s, polls)."""
    auth = {"Authorization": f"Bearer {buyer.token}"}
    start = time.perf_counter()
    body = _expect(
        await client.post(
            "/api/v1/checkout",
            json={
                "lines": [{"sku_id": sku_id, "quantity": quantity}],
                "address_id": buyer.address_id,
                "from_cart": False,
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        ),
        201,
        "checkout",
    )
    checkout_s = time.perf_counter() - start
    order_nos = [order["order_no"] for order in body["orders"]]
    payment = _expect(
        await client.post(
            "/api/v1/payments", json={"order_nos": order_nos, "method": "sandbox"}, headers=auth
        ),
        200,
        "payment",
    )
    out_trade_no = payment["out_trade_no"]
    _expect(
        await client.post(
            f"/sandbox/cashier/{out_trade_no}/pay",
            headers={**auth, "Accept": "application/json"},
        ),
        200,
        "pay",
    )
    # Wait as the cashier page does: one request, answered when the notification's commit
    # marks the payment paid (a long wait, not polling).
    polls = 0
    deadline = start + paid_timeout
    while True:
        polls += 1
        left = max(0.5, deadline - time.perf_counter())
        status = _expect(
            await client.get(
                f"/api/v1/payments/{out_trade_no}", params={"wait": round(left, 1)}, headers=auth
            ),
            200,
            "wait",
        )["status"]
        if status == "paid":
            return checkout_s, time.perf_counter() - start, polls
        if time.perf_counter() > deadline:
            raise Failed(f"not paid within {paid_timeout:g} s (payment {status})")


async def drive(
    url: str,
    scene: Scene,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    paid_timeout: float,
    server_pid: int,
    database_url: str,
) -> Tally:
    now = time.perf_counter()
    tally = Tally(started_at=now + warmup, stops_at=now + warmup + duration)
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(30.0)

    async def worker() -> None:
        while True:
            began = time.perf_counter()
            if began >= tally.stops_at:
                return
            n = next(counter)
            buyer = scene.buyers[n % len(scene.buyers)]
            sku_id = scene.skus[(n * 7 + n // len(scene.buyers)) % len(scene.skus)]
            try:
                checkout_s, total_s, polls = await one_order(
                    client, buyer, sku_id, 1 + n % 2, paid_timeout
                )
            except Failed as exc:
                if began >= tally.started_at:
                    tally.errors[str(exc)] += 1
                continue
            except httpx.HTTPError as exc:
                if began >= tally.started_at:
                    tally.errors[f"{type(exc).__name__}"] += 1
                continue
            finished = began + total_s
            if tally.started_at <= finished <= tally.stops_at:
                tally.completed += 1
            if began < tally.started_at:
                tally.warmup_orders += 1
            elif finished <= tally.stops_at:
                tally.latencies.append(total_s)
                tally.checkout.append(checkout_s)
                tally.polls += polls

    async def meter() -> None:
        """CPU of the server and of this generator, read as the window opens and closes."""
        await asyncio.sleep(max(0.0, tally.started_at - time.perf_counter()))
        server, client_ = server_cpu(server_pid), client_cpu()
        backends = await asyncio.to_thread(db_cpu, database_url)
        await asyncio.sleep(max(0.0, tally.stops_at - time.perf_counter()))
        tally.server_cpu_s = server_cpu(server_pid) - server
        tally.client_cpu_s = client_cpu() - client_
        tally.db_cpu_s = await asyncio.to_thread(db_cpu, database_url) - backends

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        await asyncio.gather(meter(), *(worker() for _ in range(concurrency)))
    return tally


# One connection per wrk thread, so a thread's state is its connection's: checkout ->
# payment -> the cashier's pay -> the long wait until "paid", then the next order.
WRK_SCRIPT = r"""
local buyers, skus = {}, {}
local state, n = "checkout", 0  -- "me": a global set by setup, one number per thread
local body_out, order_nos, trade = nil, nil, nil
paid, failed, kinds = 0, 0, {}
local wait_s = 10

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("me", #threads)
end

function init(args)
  for line in io.lines(args[1]) do
    local token, address = line:match("^(%S+) (%d+)$")
    buyers[#buyers + 1] = {token, address}
  end
  for sku in string.gmatch(args[2], "%d+") do skus[#skus + 1] = sku end
  wait_s = tonumber(args[3]) or 10
  run = args[4]
  n = me * 7919
end

local function buyer() return buyers[(n % #buyers) + 1] end

request = function()
  local b = buyer()
  local auth = "Bearer " .. b[1]
  if state == "checkout" then
    local sku = skus[((n * 7 + math.floor(n / #buyers)) % #skus) + 1]
    local body = string.format(
      '{"lines":[{"sku_id":%s,"quantity":%d}],"address_id":%s,"from_cart":false}',
      sku, 1 + n % 2, b[2])
    return wrk.format("POST", "/api/v1/checkout", {
      ["Authorization"] = auth, ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format("wrk-%s-%d-%d", run, me, n),
    }, body)
  elseif state == "payment" then
    return wrk.format("POST", "/api/v1/payments", {
      ["Authorization"] = auth, ["Content-Type"] = "application/json",
    }, '{"order_nos":[' .. order_nos .. '],"method":"sandbox"}')
  elseif state == "pay" then
    return wrk.format("POST", "/sandbox/cashier/" .. trade .. "/pay", {
      ["Authorization"] = auth, ["Accept"] = "application/json",
    })
  end
  return wrk.format("GET", "/api/v1/payments/" .. trade .. "?wait=" .. wait_s, {
    ["Authorization"] = auth,
  })
end

local function fail(status)
  failed = failed + 1
  local key = state .. ": HTTP " .. tostring(status)
  kinds[key] = (kinds[key] or 0) + 1
  state, n = "checkout", n + 1
end

response = function(status, headers, body)
  if state == "checkout" then
    if status ~= 201 then return fail(status) end
    local nos = {}
    for no in string.gmatch(body, '"order_no":"([^"]+)"') do nos[#nos + 1] = '"' .. no .. '"' end
    order_nos, state = table.concat(nos, ","), "payment"
  elseif state == "payment" then
    if status ~= 200 then return fail(status) end
    trade, state = body:match('"out_trade_no":"([^"]+)"'), "pay"
  elseif state == "pay" then
    if status ~= 200 then return fail(status) end
    state = "wait"
  else
    if status ~= 200 then return fail(status) end
    if string.find(body, '"status":"paid"', 1, true) then
      paid, state, n = paid + 1, "checkout", n + 1
    end
  end
end

function done(summary, latency, requests)
  local total_paid, total_failed, all = 0, 0, {}
  for _, thread in ipairs(threads) do
    total_paid = total_paid + thread:get("paid")
    total_failed = total_failed + thread:get("failed")
    for k, v in pairs(thread:get("kinds")) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "paid": %d, "failed": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"kinds": {%s}}\n',
    summary.requests, summary.duration, total_paid, total_failed, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""


def measure_wrk(
    url: str, scene: Scene, args: argparse.Namespace, server_pid: int, database_url: str
) -> Tally:
    """The loop driven by wrk: a warm-up run, then the measured run with the server's (and
    PostgreSQL's backends') CPU read around it. Orders still in flight when wrk stops are
    not counted, their CPU is: the figure errs high, never low."""
    import tempfile

    wrk = common.need_wrk()
    common.raise_fd_limit()
    folder = Path(tempfile.mkdtemp(prefix="xiaodian-wrk-"))
    script = folder / "checkout.lua"
    script.write_text(WRK_SCRIPT)
    buyers = folder / "buyers.txt"
    buyers.write_text("".join(f"{b.token} {b.address_id}\n" for b in scene.buyers))
    script_args = [str(buyers), ",".join(map(str, scene.skus)), str(round(args.paid_timeout))]

    def run(seconds: float) -> dict[str, Any]:
        run_id = uuid.uuid4().hex  # each run's Idempotency-Keys are new
        return common.run_wrk(
            wrk,
            url,
            method="GET",
            path="/healthz",
            seconds=seconds,
            connections=args.concurrency,
            threads=args.concurrency,
            script=script,
            script_args=[*script_args, run_id],
            timeout_s=args.paid_timeout + 10,  # longer than a wait for "paid"
        )

    if args.warmup > 0:
        run(args.warmup)
    now = time.perf_counter()
    tally = Tally(started_at=now, stops_at=now + args.duration)
    server, backends = server_cpu(server_pid), db_cpu(database_url)
    result = run(args.duration)
    tally.server_cpu_s = server_cpu(server_pid) - server
    tally.db_cpu_s = db_cpu(database_url) - backends
    tally.client_cpu_s = result["client_cpu_s"]
    tally.completed = int(result["paid"])
    for kind, count in result["kinds"].items():
        tally.errors[kind] += int(count)
    for kind, count in result["errors"].items():
        if count and kind != "status":  # statuses are counted by the script, by step
            tally.errors[f"wrk {kind}"] += int(count)
    args.duration = result["seconds"]
    return tally


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int) -> float:
    return common.process_tree_cpu_seconds(pid) if pid else 0.0


def db_cpu(database_url: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to the benchmark's database
    (the server's pool keeps them open for the whole run); 0 on SQLite, which runs inside
    the server process."""
    if not database_url.startswith("postgresql"):
        return 0.0
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    return sum(common.process_cpu_seconds(int(pid)) for pid in pids)


def measure(
    url: str, scene: Scene, args: argparse.Namespace, server_pid: int, database_url: str
) -> Tally:
    if args.generator == "wrk":
        return measure_wrk(url, scene, args, server_pid, database_url)
    return asyncio.run(
        drive(
            url,
            scene,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            paid_timeout=args.paid_timeout,
            server_pid=server_pid,
            database_url=database_url,
        )
    )


def summary(tally: Tally, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    ms = [s * 1000 for s in tally.latencies]
    checkout_ms = [s * 1000 for s in tally.checkout]
    paid = tally.completed or 1

    def per_order(seconds: float) -> float:
        return round(seconds * 1000 / paid, 2)

    wrk = args.generator == "wrk"  # no per-order latencies: wrk sees requests
    # httpx: orders started and paid inside the window; wrk: orders paid while it ran
    orders = tally.completed if wrk else len(ms)
    out = {
        "benchmark": "checkout",
        "orders_per_s": round(orders / args.duration, 1),
        "server_cpu_ms_per_order": per_order(tally.server_cpu_s + tally.db_cpu_s),
        "app_cpu_ms_per_order": per_order(tally.server_cpu_s),
        "db_cpu_ms_per_order": per_order(tally.db_cpu_s),
        "p50_ms": round(common.percentile(ms, 50), 1),
        "p99_ms": round(common.percentile(ms, 99), 1),
        "errors": sum(tally.errors.values()),
        "checkout_p50_ms": round(common.percentile(checkout_ms, 50), 1),
        "checkout_p99_ms": round(common.percentile(checkout_ms, 99), 1),
        "orders": orders,
        "polls_per_order": round(tally.polls / len(ms), 1) if ms else 0.0,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "buyers": args.buyers,
        "server_workers": args.workers,
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "server_cpu_s": round(tally.server_cpu_s, 2),
        "db_cpu_s": round(tally.db_cpu_s, 2),
        "client_cpu_s": round(tally.client_cpu_s, 2),
        "generator": args.generator,
        "error_kinds": dict(tally.errors.most_common(5)),
    }
    if wrk:
        for key in ("p50_ms", "p99_ms", "checkout_p50_ms", "checkout_p99_ms", "polls_per_order"):
            out[key] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    parser.add_argument("--target", default="", help="an already running server's URL")
    parser.add_argument("--server-pid", type=int, default=0, help="with --target: its pid")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--shops", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--paid-timeout", type=float, default=10.0)
    parser.add_argument(
        "--generator",
        choices=("python", "wrk"),
        default="python",
        help="the load generator: asyncio + httpx here (latencies per order), or wrk + Lua",
    )
    args = parser.parse_args()

    if args.target:
        if not args.database_url:
            parser.error("--target needs --database-url naming that server's database")
        scene = seed(args.database_url, shops=args.shops, buyers=args.buyers)
        print(f"seeded {len(scene.buyers)} buyers; driving {args.target}", file=sys.stderr)
        tally = measure(args.target, scene, args, args.server_pid, args.database_url)
        result = summary(tally, args, args.database_url)
        if not args.server_pid:
            result["server_cpu_s"] = None
        common.report(result)
        return

    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        env = common.prepare(database_url, data_dir, XIAODIAN_PAYMENT_PROVIDER="sandbox")
        scene = seed(database_url, shops=args.shops, buyers=args.buyers)
        with common.run_server(env, workers=args.workers) as server:
            tally = measure(server.url, scene, args, server.pid, database_url)
        common.report(summary(tally, args, database_url))


if __name__ == "__main__":
    main()

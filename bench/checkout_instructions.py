"""Instructions per paid order: the checkout benchmark's loop, one order at a time, with the
server running under valgrind's callgrind, which counts the instructions it executes.

    uv run python bench/checkout_instructions.py                     # fresh SQLite
    uv run python bench/checkout_instructions.py --orders 40
    uv run python bench/checkout_instructions.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Why: on a shared virtual machine the CPU time of the same work moves by a factor of two from
one hour to the next (other tenants, and memory left untouched for a few hundred
milliseconds costing many times more to touch again), so ``bench/checkout.py``'s
``server_cpu_ms_per_order`` compares two versions only when they run in one sitting, and a
change of a few per cent is lost in the noise. An instruction count does not depend on
what else the machine does: two runs of the same code agree within about 1 %. It is not a
time either (a cache miss counts as one instruction), so it complements the CPU figures,
it does not replace them.

What it does: a fresh database (as ``bench/checkout.py``), seeded with its ``seed``; one
server process (uvicorn, the sandbox provider, notifications POSTed back to itself over
HTTP) started under ``valgrind --tool=callgrind --instr-atstart=no``; ``--warmup`` orders
one after the other (checkout -> payment -> the cashier's pay -> the long wait until paid,
``bench.checkout.one_order``); then counting is switched on (``callgrind_control -i on``)
for ``--orders`` more and off again, and the count is read from callgrind's dump. Every
thread of the server is counted (the request threads, the event loop, the sandbox's
delivery threads, the event outbox's poll). On PostgreSQL the database's own work is not
in the count (it is another process): only the server's.

Needs valgrind (Debian's package ``valgrind``). The server runs about fifty times slower
under it: the defaults take two to three minutes.

The server also works on a timer (the event outbox's poll every 0.2 s, the event loop's
ticks), and that grows with the wall time, which valgrind stretches and a busy machine
stretches more: after the orders, an idle spell as long is counted too and taken off.

The last line of output is one JSON object: ``server_instructions_per_order_m`` (millions
of instructions per paid order, the idle spell taken off), ``counted_per_order_m`` and
``idle_per_order_m`` (its two parts), ``orders``, ``warmup_orders``, ``database``,
``wall_s`` (the counted orders' time under valgrind) and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import checkout, common


async def _orders(url: str, scene: checkout.Scene, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for i in range(count):
            buyer = scene.buyers[i % len(scene.buyers)]
            sku_id = scene.skus[i % len(scene.skus)]
            await checkout.one_order(client, buyer, sku_id, 1, 20.0)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL)


def _dumped(out_dir: Path, pid: str, part: int) -> int:
    """The instructions in callgrind's dump number ``part``: what was counted since the
    dump before (its ``totals:`` line; ``summary:`` is 0 when counting was switched on by
    ``callgrind_control``)."""
    with (out_dir / f"callgrind.out.{pid}.{part}").open(errors="replace") as fh:
        for line in fh:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"callgrind's dump {part} has no totals")


def _count_while(pid: str, work: Callable[[], object]) -> None:
    _control("-i", "on", pid)
    try:
        work()
    finally:
        _control("-i", "off", pid)
        _control("-d", pid)


def _measure(
    server: common.Server, scene: checkout.Scene, orders: int, warmup: int, out_dir: Path
) -> tuple[int, int, float]:
    """(instructions while ``orders`` orders are paid, instructions over an idle spell as
    long, that spell in seconds), after ``warmup`` orders."""
    asyncio.run(_orders(server.url, scene, warmup))
    pid = str(server.pid)
    started = time.monotonic()
    _count_while(pid, lambda: asyncio.run(_orders(server.url, scene, orders)))
    wall = time.monotonic() - started
    # The server's timed work (the event outbox's poll every 0.2 s, the event loop's
    # ticks) grows with the wall time, which valgrind stretches and a busy machine
    # stretches more: count an idle spell as long and take it off.
    _count_while(pid, lambda: time.sleep(wall))
    time.sleep(2)
    return _dumped(out_dir, pid, 1), _dumped(out_dir, pid, 2), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (fresh DB)")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--start-timeout", type=float, default=600.0)
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("needs valgrind and callgrind_control (Debian's package valgrind)")

    with common.fresh_database(args.database_url or None) as (database_url, data_dir):
        env = common.prepare(database_url, data_dir)
        scene = checkout.seed(database_url, shops=3, buyers=20)
        out_dir = Path(tempfile.mkdtemp(prefix="xiaodian-callgrind-"))
        valgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        ]
        try:
            with common.run_server(
                env, start_timeout=args.start_timeout, prefix=valgrind
            ) as server:
                busy, idle, wall = _measure(server, scene, args.orders, args.warmup, out_dir)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    common.report(
        {
            "benchmark": "checkout_instructions",
            "server_instructions_per_order_m": round((busy - idle) / args.orders / 1e6, 2),
            "counted_per_order_m": round(busy / args.orders / 1e6, 2),
            "idle_per_order_m": round(idle / args.orders / 1e6, 2),
            "orders": args.orders,
            "warmup_orders": args.warmup,
            "database": "postgresql" if args.database_url else "sqlite",
            "wall_s": round(wall, 1),
        }
    )


if __name__ == "__main__":
    main()

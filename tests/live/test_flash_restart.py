"""A flash sale on real server processes with Redis, killed with SIGKILL while buyers press
(with purchases admitted by the Redis gate and not yet written), on SQLite and PostgreSQL:
restarted, or with a second process selling on alone, the sale still sells exactly its
quantity, and nobody buys past the limit."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.live.conftest import Scene, add_address, sale_row, stock
from tests.servers import Server, bearer_token
from xiaodian.content.live.models import FlashSale, FlashSaleBuyer, FlashSaleOrder

pytestmark = pytest.mark.redis

QUANTITY = 40
LIMIT = 2
BUYERS = 24


class Crowd:
    """Buyers pressing "buy" in threads, each waiting for its answer before pressing
    again, against whichever servers ``urls`` names at the moment."""

    def __init__(self, path: str, tokens: list[str], urls: list[str], threads: int = 8) -> None:
        self.path = path
        self.urls = urls
        self.answers: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._press, args=(n, tokens[n::threads]), daemon=True)
            for n in range(threads)
        ]

    def start(self) -> Crowd:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _press(self, n: int, tokens: list[str]) -> None:
        """Thread ``n`` starts at server ``n`` (modulo), then takes turns."""
        with httpx.Client(timeout=httpx.Timeout(40.0, connect=2.0)) as client:
            while not self._stop.is_set():
                urls = self.urls
                url = urls[n % len(urls)]
                token = tokens[n % len(tokens)]
                n += 1
                try:
                    r = client.post(
                        url + self.path,
                        json={"quantity": 1},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    answer = "ok" if r.status_code == 201 else r.json()["error"]["code"]
                except httpx.HTTPError:
                    answer = "unreachable"  # the killed server
                    time.sleep(0.05)
                with self._lock:
                    self.answers[answer] += 1
                time.sleep(0.01)


@contextmanager
def writers_held(database: Any, sale_id: int) -> Iterator[None]:
    """Hold the writers back: the sale's row locked on PostgreSQL (a batch waits at its
    last statement), the database's write lock on SQLite (a batch waits at its first).
    Their Redis admissions are made already."""
    with database.session() as session:
        session.execute(select(FlashSale.id).where(FlashSale.id == sale_id).with_for_update())
        try:
            yield
        finally:
            session.rollback()


def _wait(what: str, test: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _in_flight(redis: Any, sale_id: int, server: Server) -> bool:
    """The gate has admitted buyers through ``server`` whose purchases are not written
    (their tickets begin with the process id)."""
    pending = redis.client.zrange(f"{redis.prefix}flash:{sale_id}:pending", 0, -1)
    return any(member.decode().startswith(f"{server.proc.pid:x}.") for member in pending)


def _sold(db: Any, sale_id: int) -> int:
    db.rollback()
    return int(db.scalar(select(FlashSale.sold).where(FlashSale.id == sale_id)) or 0)


@pytest.mark.parametrize("survivor", [False, True], ids=["restarted", "one-of-two"])
def test_a_sale_killed_mid_way_sells_exactly_its_quantity(
    db: Any,
    database: Any,
    scene: Scene,
    make_user: Any,
    redis_target: Any,
    tmp_path: Path,
    survivor: bool,
    backend: str,
) -> None:
    if survivor and backend == "sqlite":
        pytest.skip("several processes: PostgreSQL's case (SQLite: the restart shows the gate)")
    users = [make_user() for _ in range(BUYERS)]
    for u in users:
        add_address(db, u)
    db.rollback()
    tokens = [bearer_token(database, u) for u in users]
    host = {"Authorization": f"Bearer {bearer_token(database, scene.host)}"}
    servers = [Server(tmp_path, database.url, "a", redis_target)]
    crowd: Crowd | None = None
    try:
        if survivor:
            servers.append(Server(tmp_path, database.url, "b", redis_target))
        a = servers[0].url
        base = f"/api/v1/live/rooms/{scene.room_id}"
        assert httpx.post(a + base + "/go-live", headers=host).status_code == 200
        r = httpx.post(
            a + base + "/flash-sales",
            json={
                "product_id": scene.product.id,
                "sku_id": scene.sku_id,
                "price_fen": 990,
                "quantity": QUANTITY,
                "per_buyer_limit": LIMIT,
                "duration_seconds": 600,
            },
            headers=host,
        )
        sale_id = r.json()["id"]
        buy = f"{base}/flash-sales/{sale_id}/buy"
        for server in servers:  # every buyer presses early: each process knows them
            for token in tokens:
                early = httpx.post(
                    server.url + buy, json={}, headers={"Authorization": f"Bearer {token}"}
                )
                assert early.json()["error"]["code"] == "sale_not_running"
        assert httpx.post(f"{a}{base}/flash-sales/{sale_id}/start", headers=host).is_success
        for token in tokens[:12]:  # the sale is under way
            r = httpx.post(a + buy, json={}, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
        with writers_held(database, sale_id):
            crowd = Crowd(buy, tokens, [s.url for s in servers]).start()
            _wait("admissions in flight", lambda: _in_flight(redis_target, sale_id, servers[0]), 20)
            servers[0].kill()
        if survivor:
            crowd.urls = [servers[1].url]
        else:
            assert _sold(db, sale_id) == 12  # the killed process wrote none of them
            servers[0] = Server(tmp_path, database.url, "a", redis_target)
            crowd.urls = [servers[0].url]
        _wait("the sale to sell out", lambda: _sold(db, sale_id) >= QUANTITY, 30)
        time.sleep(0.5)  # the crowd presses on: nothing more is sold
        crowd.stop()
    finally:
        if crowd is not None:
            crowd.stop()
        for server in servers:
            server.stop()
    assert set(crowd.answers) <= {"ok", "sold_out", "limit_reached", "unreachable"}, crowd.answers
    assert crowd.answers["sold_out"] > 0
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (QUANTITY, 0, QUANTITY)
    per_buyer = dict(
        db.execute(
            select(FlashSaleOrder.buyer_id, func.sum(FlashSaleOrder.quantity)).group_by(
                FlashSaleOrder.buyer_id
            )
        ).all()
    )
    assert sum(per_buyer.values()) == QUANTITY and max(per_buyer.values()) <= LIMIT
    counted = dict(
        db.execute(
            select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                FlashSaleBuyer.sale_id == sale_id, FlashSaleBuyer.bought > 0
            )
        ).all()
    )
    assert counted == per_buyer
    assert stock(db, scene.sku_id) == (100 - QUANTITY, QUANTITY, 0, 100)

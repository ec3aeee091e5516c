"""The sandbox plays WeChat Pay's servers: its notification reaches the shop even when the
shop has a single worker thread. Its first delivery used to run on the app's own worker
threads and hold one while it POSTed the notification back to the same server, whose
answer needed a worker thread too: with every thread so held, payments were paid only by
the retry job (on PostgreSQL the threads are as many as the pool's connections)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.orders.test_crowd import _scene
from tests.servers import Server
from xiaodian.db import Database
from xiaodian.payments.models import DeliveryStatus, SandboxDelivery


@pytest.fixture
def one_thread_server(backend: str, database: Database, tmp_path: Path) -> Iterator[Server]:
    if backend == "sqlite":
        pytest.skip("the worker threads follow the pool on PostgreSQL (SQLite keeps 40)")
    env = {"XIAODIAN_DB_POOL_SIZE": "1", "XIAODIAN_DB_MAX_OVERFLOW": "0"}
    started = Server(tmp_path, database.url, "one-thread", env=env)
    try:
        yield started
    finally:
        started.stop()


def test_a_payment_is_notified_with_one_worker_thread(
    one_thread_server: Server, database: Database, make_user: Any
) -> None:
    sku_id, ((token, address_id),) = _scene(database, make_user, 1)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=one_thread_server.url, headers=auth, timeout=30) as client:
        placed = client.post(
            "/api/v1/checkout",
            json={
                "lines": [{"sku_id": sku_id, "quantity": 1}],
                "address_id": address_id,
                "from_cart": False,
            },
        )
        assert placed.status_code == 201, placed.text
        order_no = placed.json()["orders"][0]["order_no"]
        started = client.post(
            "/api/v1/payments", json={"order_nos": [order_no], "method": "sandbox"}
        )
        assert started.status_code == 200, started.text
        trade = started.json()["out_trade_no"]
        paid = client.post(f"/sandbox/cashier/{trade}/pay", headers={"Accept": "application/json"})
        assert paid.status_code == 200, paid.text
        status = client.get(f"/api/v1/payments/{trade}", params={"wait": 20})
        assert status.json()["status"] == "paid", one_thread_server.text()
    # Delivered at the first attempt: a notification stuck behind the thread is applied
    # once the thread is free, but its delivery has timed out by then (a failed attempt,
    # a retry scheduled).
    deadline = time.monotonic() + 20  # the delivery records its outcome just after
    while True:
        with database.session(write=False) as db:
            row = db.execute(
                select(
                    SandboxDelivery.status, SandboxDelivery.attempts, SandboxDelivery.last_error
                ).where(SandboxDelivery.out_trade_no == trade)
            ).one()
        if row.status != DeliveryStatus.PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert tuple(row) == (DeliveryStatus.DELIVERED, 1, None)

"""A crowd checking out at once against a real server process: no server errors, and every
order the database saved was answered to its buyer as created.

On SQLite a crowd once stopped checkout completely: building the answer after the commit
lazy-loaded the order's lines in a new transaction (a second write lock) while the requests
queued behind it held every worker thread, so buyers waited 30 s and got 500 "database is
locked" for orders that had been saved."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import make_product, make_shop
from tests.servers import Server
from xiaodian import clock
from xiaodian.accounts import security
from xiaodian.accounts.models import AuthSession, User
from xiaodian.db import Database
from xiaodian.orders.models import Address, CheckoutRequest, Order

BUYERS = 256


@pytest.fixture
def server(database: Database, tmp_path: Path, settings: Any) -> Iterator[Server]:
    started = Server(tmp_path, database.url, "crowd")
    try:
        yield started
    finally:
        started.stop()


def _scene(database: Database, make_user: Any, buyers: int) -> tuple[int, list[tuple[str, int]]]:
    """A SKU with plenty of stock and ``buyers`` accounts, each with a default address and
    a bearer token (rows written in bulk: nobody signs in with a password here)."""
    with database.session() as db:
        shop = make_shop(db, make_user())
        sku_id = make_product(db, shop, skus=[("标准", 1990, 100_000)]).skus[0].id
        users = [
            User(phone=f"1{n + 5_000_000_000:010d}", password_hash="-", display_name=f"买家{n}")
            for n in range(buyers)
        ]
        db.add_all(users)
        db.flush()
        addresses = [
            Address(
                user_id=u.id,
                name="张三",
                phone="13800138000",
                province="浙江省",
                city="杭州市",
                district="西湖区",
                detail="文三路 100 号",
                is_default=True,
            )
            for u in users
        ]
        tokens = [security.new_token() for _ in users]
        db.add_all(addresses)
        db.add_all(
            AuthSession(
                token_hash=security.token_hash(token),
                user_id=u.id,
                kind="bearer",
                expires_at=clock.now() + timedelta(days=1),
            )
            for token, u in zip(tokens, users, strict=True)
        )
        db.commit()
        return sku_id, [(t, a.id) for t, a in zip(tokens, addresses, strict=True)]


async def _crowd(url: str, sku_id: int, asks: list[tuple[str, int, str | None]]) -> list[Any]:
    """Every ask at once: (token, address id, Idempotency-Key or None)."""
    limits = httpx.Limits(max_connections=len(asks), max_keepalive_connections=len(asks))
    timeout = httpx.Timeout(60)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def one(token: str, address_id: int, key: str | None) -> Any:
            headers = {"Authorization": f"Bearer {token}"}
            if key:
                headers["Idempotency-Key"] = key
            body = {
                "lines": [{"sku_id": sku_id, "quantity": 1}],
                "address_id": address_id,
                "from_cart": False,
            }
            try:
                return await client.post("/api/v1/checkout", json=body, headers=headers)
            except httpx.HTTPError as exc:  # a timeout or a dropped connection: an error
                return exc

        return await asyncio.gather(*(one(*ask) for ask in asks))


def _answered_order_nos(responses: list[Any]) -> tuple[Counter[str], list[str]]:
    statuses: Counter[str] = Counter()
    order_nos: list[str] = []
    for response in responses:
        if isinstance(response, Exception):
            statuses[type(response).__name__] += 1
            continue
        statuses[str(response.status_code)] += 1
        if response.status_code == 201:
            order_nos += [o["order_no"] for o in response.json()["orders"]]
    return statuses, order_nos


def test_a_crowd_checks_out_at_once_with_no_errors(
    server: Server, database: Database, make_user: Any
) -> None:
    sku_id, people = _scene(database, make_user, BUYERS)
    asks = [(token, address_id, None) for token, address_id in people]
    responses = asyncio.run(_crowd(server.url, sku_id, asks))
    statuses, answered = _answered_order_nos(responses)
    assert statuses == Counter({"201": BUYERS}), (statuses, server.text()[-2000:])
    with database.session(write=False) as db:
        saved = list(db.scalars(select(Order.order_no)))
    assert sorted(saved) == sorted(answered)


def test_a_crowd_repeating_its_idempotency_keys_gets_one_order_each(
    server: Server, database: Database, make_user: Any
) -> None:
    """64 buyers each send the same checkout four times at once, with one key: each buyer
    gets four answers naming the same order, and only that order exists."""
    sku_id, people = _scene(database, make_user, 64)
    keys = {token: uuid.uuid4().hex for token, _address in people}
    asks = [(token, address_id, keys[token]) for token, address_id in people for _ in range(4)]
    responses = asyncio.run(_crowd(server.url, sku_id, asks))
    statuses, answered = _answered_order_nos(responses)
    assert statuses == Counter({"201": 256}), (statuses, server.text()[-2000:])
    by_buyer: dict[str, set[str]] = {}
    for (token, _address, _key), response in zip(asks, responses, strict=True):
        by_buyer.setdefault(token, set()).update(o["order_no"] for o in response.json()["orders"])
    assert all(len(numbers) == 1 for numbers in by_buyer.values()), by_buyer
    with database.session(write=False) as db:
        saved = sorted(db.scalars(select(Order.order_no)))
        assert db.query(CheckoutRequest).count() == 64
    assert saved == sorted(set(answered)) and len(saved) == 64

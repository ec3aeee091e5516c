"""A paid order costs a fixed number of SQL statements at every step, whatever the number of
lines and of shops: checkout (one order per shop), the payment, the sandbox's cashier and
delivery, the notification, the buyer's wait. Counted over HTTP, as a buyer's app sends them
(each counted request looks its token up once: ``count_queries`` empties the token cache)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import make_address, make_product, make_shop
from tests.payments.conftest import Poster, _install
from xiaodian.accounts import service as accounts_service
from xiaodian.db import Database


@dataclass
class Step:
    checkout: int
    payment: int
    pay_and_notify: int  # the cashier, the delivery and the notification it delivers
    wait: int


@pytest.fixture
def poster(client: TestClient) -> Iterator[Poster]:
    yield from _install(client)


def _skus(db: Any, make_user: Any, *, shops: int, per_shop: int) -> list[int]:
    ids: list[int] = []
    for _ in range(shops):
        shop = make_shop(db, make_user())
        skus = [(f"款{i}", 1000 + i, 1000) for i in range(per_shop)]
        ids += [s.id for s in make_product(db, shop, skus=skus).skus]
    return ids


def _paid_order(
    client: TestClient, token: str, address_id: int, skus: list[int], counter: Any, poster: Any
) -> Step:
    auth = {"Authorization": f"Bearer {token}"}
    with counter() as checkout:
        r = client.post(
            "/api/v1/checkout",
            json={
                "lines": [{"sku_id": s, "quantity": 1} for s in skus],
                "address_id": address_id,
                "from_cart": False,
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 201, r.text
    order_nos = [o["order_no"] for o in r.json()["orders"]]
    with counter() as payment:
        r = client.post(
            "/api/v1/payments", json={"order_nos": order_nos, "method": "sandbox"}, headers=auth
        )
    assert r.status_code == 200, r.text
    no = r.json()["out_trade_no"]
    with counter() as pay:
        r = client.post(
            f"/sandbox/cashier/{no}/pay", headers={**auth, "Accept": "application/json"}
        )
    assert r.status_code == 200 and poster.answers[-1] == 204, (r.text, poster.answers)
    assert sum(1 for s in pay.statements if "INSERT INTO payment_notification_log" in s) == 1
    if __import__("os").environ.get("SHOW_STEPS"):
        print("\n".join(s[:120].replace("\n", " ") for s in pay.statements))
    with counter() as wait:
        r = client.get(f"/api/v1/payments/{no}", params={"wait": 5}, headers=auth)
    assert r.json()["status"] == "paid"
    return Step(checkout.count, payment.count, pay.count, wait.count)


def test_a_paid_order_costs_the_same_statements_for_1_line_10_lines_and_10_shops(
    database: Database,
    db: Any,
    make_user: Any,
    client: TestClient,
    poster: Poster,
    count_queries: Any,
) -> None:
    buyer = make_user()
    address_id = make_address(db, buyer.id)
    with database.session() as session:
        token = accounts_service.issue_token(session, user_id=buyer.id)
    one = _skus(db, make_user, shops=1, per_shop=1)
    ten = _skus(db, make_user, shops=1, per_shop=10)
    ten_shops = _skus(db, make_user, shops=10, per_shop=1)
    db.rollback()

    steps = {
        name: _paid_order(client, token, address_id, skus, count_queries, poster)
        for name, skus in (("1 line", one), ("10 lines", ten), ("10 shops", ten_shops))
    }
    assert steps["10 lines"] == steps["1 line"], steps
    assert steps["10 shops"] == steps["1 line"], steps
    # Pinned, so a change in what a payment costs is seen and explained. The notification's
    # path takes 18 statements (20 on PostgreSQL, which locks rows first): the cashier
    # claims the delivery's first attempt as it pays the trade, so posting it reads and
    # claims nothing (it took 21 and 23 when the delivery found and claimed it), and the
    # notification reads the payment with its orders' links in one statement; the ledger's
    # listener of "paid" adds 8 on SQLite, 7 on PostgreSQL, whatever the number of orders:
    # the orders' products' categories (their lines come with the change, read once with
    # the stock they sell), the fee rates, its accounts (a
    # SELECT; these shops are new, so an INSERT of the missing ones and the SELECT again: a
    # known shop's payment costs two fewer), then the transfers and their postings (one
    # INSERT each on SQLite, one statement on PostgreSQL) and one INSERT of the pending income;
    # the live rooms' listener of "paid" adds none (its flash rows of these orders would be
    # marked paid by one UPDATE, but the change's lines show no order of a live room); the
    # affiliates' listener of "paid" adds 1 (the orders' credited touches, none here: nothing
    # more to post); WeChat's listener of "paid" adds 1 for a buyer who did not subscribe to
    # order messages (the consents of the orders' buyers); the group buys' listener of
    # "paid" adds none (the change's lines show no order of a group); orders' own "orders to
    # ship" cases add 1 (one INSERT of their cases, their shops and numbers from the
    # change's lines: ``orders.due``).
    before_the_ledger = {"sqlite": 18, "postgresql": 20}[database.engine.dialect.name]
    ledger = {"sqlite": 8, "postgresql": 7}[database.engine.dialect.name]
    assert steps["1 line"].pay_and_notify == before_the_ledger + ledger + 1 + 1 + 1, steps
    if __import__("os").environ.get("SHOW_STEPS"):
        print(steps)


def test_checkout_with_a_promoters_attribution_costs_one_statement_more_than_without(
    database: Database,
    db: Any,
    make_user: Any,
    client: TestClient,
    count_queries: Any,
) -> None:
    """The affiliates' "created" listener reads the buyer's locks and writes the touch
    rows whether or not the request carried a tracked link's cookie; only a lock found
    (the touch's) costs one more read, of the products' plans and the promoter's rates."""
    from datetime import timedelta

    from xiaodian import clock as clock_module
    from xiaodian.actor import Actor
    from xiaodian.affiliates import links, plans
    from xiaodian.affiliates.models import Touch

    owner, promoter, buyer = make_user(), make_user(), make_user()
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("标准", 5000, 100)])
    plans.create_plan(
        db,
        Actor(user_id=owner.id, shop_roles={shop.id: "owner"}),
        shop.id,
        product_id=product.id,
        terms=plans.PlanTerms("open", 10, clock_module.now() - timedelta(days=1)),
    )
    link = links.get_or_create_link(db, Actor(user_id=promoter.id), product_id=product.id)
    address_id = make_address(db, buyer.id)
    with database.session() as session:
        token = accounts_service.issue_token(session, user_id=buyer.id)
    db.rollback()

    def checkout() -> int:
        with count_queries() as counted:
            r = client.post(
                "/api/v1/checkout",
                json={
                    "lines": [{"sku_id": product.skus[0].id, "quantity": 1}],
                    "address_id": address_id,
                    "from_cart": False,
                },
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
            )
        assert r.status_code == 201, r.text
        return int(counted.count)

    without = checkout()
    r = client.get(f"/s/{link.code}", headers={"User-Agent": "Mozilla/5.0"}, follow_redirects=False)
    assert r.status_code == 302
    with_touch = checkout()
    from sqlalchemy import select

    reasons = [t.reason for t in db.scalars(select(Touch).order_by(Touch.id))]
    assert reasons == ["no_touch", "credited"]
    # the touch's lock costs one read, of the products' plans, which a checkout without
    # any lock skips; nothing else
    assert with_touch == without + 1, (with_touch, without)

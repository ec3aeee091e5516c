"""The everyday purchase on the web fast path (``orders.fastpath``, ``payments.fastpath``):
a bearer client's checkout, payment, cashier "pay", notification and wait are answered
without the framework's routing, and whatever the fast path declines (an invalid body, a
parameter out of range, a token that is not valid) reaches the app intact, which answers as
it always did."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import make_address, make_product, make_shop
from tests.payments.conftest import Poster, _install
from xiaodian.accounts import service as accounts_service
from xiaodian.db import Database

PURCHASE_PATHS = ("/api/v1/checkout", "/api/v1/payments", "/sandbox/cashier/")


@pytest.fixture
def poster(client: TestClient) -> Iterator[Poster]:
    yield from _install(client)


@pytest.fixture
def buyer(database: Database, db: Any, make_user: Any) -> dict[str, Any]:
    person = make_user()
    address_id = make_address(db, person.id)
    shop = make_shop(db, make_user())
    sku = make_product(db, shop, skus=[("红色", 1990, 100)]).skus[0]
    db.commit()
    with database.session() as session:
        token = accounts_service.issue_token(session, user_id=person.id)
    return {
        "auth": {"Authorization": f"Bearer {token}"},
        "address_id": address_id,
        "sku_id": sku.id,
    }


def _checkout(client: TestClient, buyer: dict[str, Any], **body: Any) -> Any:
    payload = {
        "lines": [{"sku_id": buyer["sku_id"], "quantity": 1}],
        "address_id": buyer["address_id"],
        "from_cart": False,
        **body,
    }
    headers = {**buyer["auth"], "Idempotency-Key": uuid.uuid4().hex}
    return client.post("/api/v1/checkout", json=payload, headers=headers)


def test_a_bearer_purchase_is_answered_on_the_fast_path_from_checkout_to_paid(
    client: TestClient, poster: Poster, buyer: dict[str, Any], app_saw: list[str]
) -> None:
    r = _checkout(client, buyer)
    assert r.status_code == 201, r.text
    order_no = r.json()["orders"][0]["order_no"]
    assert r.json()["orders"][0]["status"] == "pending_payment"
    r = client.post(
        "/api/v1/payments",
        json={"order_nos": [order_no], "method": "sandbox"},
        headers=buyer["auth"],
    )
    assert r.status_code == 200, r.text
    no = r.json()["out_trade_no"]
    assert r.json()["cashier_url"].endswith(f"/sandbox/cashier/{no}")
    r = client.post(
        f"/sandbox/cashier/{no}/pay", headers={**buyer["auth"], "Accept": "application/json"}
    )
    assert r.status_code == 200 and r.json()["poll"] == f"/api/v1/payments/{no}", r.text
    assert poster.answers[-1] == 204  # the notification, delivered and accepted
    r = client.get(f"/api/v1/payments/{no}", params={"wait": 2}, headers=buyer["auth"])
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-length"] == str(len(r.content))  # as the app's, not chunked
    # Not one of these requests (nor the notification) went through the app's routing.
    assert not [p for p in app_saw if p.startswith(PURCHASE_PATHS)], app_saw
    # The order is paid, as the app's own page of it says.
    r = client.get(f"/api/v1/orders/{order_no}", headers=buyer["auth"])
    assert r.json()["status"] == "paid"


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({"lines": []}, 422, "invalid", "lines"),
        ({"lines": [{"sku_id": 2**40, "quantity": 1}]}, 404, "not_found", ""),
        ({"lines": [{"sku_id": "one", "quantity": 1}]}, 422, "invalid", "sku_id"),
        ({"address_id": -1}, 404, "not_found", ""),
        ({"from_cart": "maybe"}, 422, "invalid", "from_cart"),
        ({"note": "长" * 201}, 422, "invalid", "note"),
    ],
)
def test_a_checkout_the_fast_path_declines_reaches_the_app_with_its_body(
    client: TestClient,
    buyer: dict[str, Any],
    app_saw: list[str],
    body: dict[str, Any],
    status: int,
    code: str,
    mentions: str,
) -> None:
    r = _checkout(client, buyer, **body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert mentions in r.json()["error"]["message"]
    assert app_saw == ["/api/v1/checkout"]  # the app read the body the fast path had read


def test_malformed_json_a_large_body_and_a_bad_token_go_through_the_app(
    client: TestClient, buyer: dict[str, Any], app_saw: list[str]
) -> None:
    headers = {**buyer["auth"], "Content-Type": "application/json"}
    r = client.post("/api/v1/checkout", content=b'{"lines": [', headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid", r.text
    # Larger than the fast path reads: placed by the app, as any checkout.
    padded = (
        json.dumps(
            {
                "lines": [{"sku_id": buyer["sku_id"], "quantity": 1}],
                "address_id": buyer["address_id"],
                "from_cart": False,
            }
        )
        + " " * 5000
    )
    r = client.post("/api/v1/checkout", content=padded.encode(), headers=headers)
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/payments",
        json={"order_nos": ["1234567890"], "method": "sandbox"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated", r.text
    assert app_saw == ["/api/v1/checkout"] * 2 + ["/api/v1/payments"]


@pytest.mark.parametrize("wait", ["31", "-1", "abc", "nan", "1e3"])
def test_a_wait_out_of_range_is_refused_by_the_app(
    client: TestClient, buyer: dict[str, Any], app_saw: list[str], wait: str
) -> None:
    r = client.get("/api/v1/payments/NOSUCHTRADE", params={"wait": wait}, headers=buyer["auth"])
    assert r.status_code == 422, r.text
    assert app_saw == ["/api/v1/payments/NOSUCHTRADE"]


def test_refusals_on_the_fast_path_are_the_apps_error_bodies(
    client: TestClient, buyer: dict[str, Any], app_saw: list[str]
) -> None:
    r = client.get("/api/v1/payments/NOSUCHTRADE", headers=buyer["auth"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "payment_not_found", r.text
    r = client.post(
        "/api/v1/payments",
        json={"order_nos": ["99999999999"], "method": "sandbox"},
        headers={**buyer["auth"], "Accept-Language": "zh-CN"},
    )
    assert r.status_code in (404, 409) and set(r.json()) == {"error"}, r.text
    # A notification that is not signed by the provider: WeChat Pay's refusal body.
    r = client.post(
        "/api/v1/payments/notify",
        content=b'{"id": "EV-1"}',
        headers={"Content-Type": "application/json", "Wechatpay-Signature": "forged"},
    )
    assert r.status_code == 400 and r.json()["code"] == "FAIL", r.text
    assert app_saw == []

"""Shipping templates through the API and at checkout: a shop's staff write them, bad
input is a 4xx with nothing written, checkout charges the fee (per template, added) into
the order's total and the payment, refuses an undeliverable province, costs one statement
for the templates however many lines and shops, and refunds never pass what was paid."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.aftersales import refunds as aftersales_refunds
from xiaodian.db import Database
from xiaodian.logistics.models import ShippingTemplate
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order

BY_PIECE = {  # first piece ¥10, each further piece ¥5; 新疆/西藏 ¥20 + ¥15; not 香港
    "name": "全国",
    "method": "piece",
    "rule": {"first_units": 1, "first_fen": 1000, "extra_units": 1, "extra_fen": 500},
    "regions": [
        {
            "provinces": ["新疆维吾尔自治区", "西藏"],
            "first_units": 1,
            "first_fen": 2000,
            "extra_units": 1,
            "extra_fen": 1500,
        }
    ],
    "excluded": ["香港特别行政区"],
    "is_default": True,
}
BY_WEIGHT = {  # first kilogram ¥8, each further 500 g ¥3, free from ¥300
    "name": "按重",
    "method": "weight",
    "rule": {"first_units": 1000, "first_fen": 800, "extra_units": 500, "extra_fen": 300},
    "free_over_fen": 30000,
}


def _token(database: Database, user_id: int) -> dict[str, str]:
    with database.session() as session:
        return {"Authorization": f"Bearer {accounts_service.issue_token(session, user_id=user_id)}"}


def _count(db: Any) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(ShippingTemplate)) or 0


@pytest.fixture
def merchant(db: Any, database: Database, make_user: Any) -> Any:
    owner = make_user()
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("标准", 5000, 100)])
    db.commit()

    class Merchant:
        pass

    m = Merchant()
    m.shop, m.product, m.sku_id = shop, product, product.skus[0].id  # type: ignore[attr-defined]
    m.auth = _token(database, owner.id)  # type: ignore[attr-defined]
    m.base = f"/api/v1/merchant/shops/{shop.id}/shipping-templates"  # type: ignore[attr-defined]
    return m


def _checkout(
    client: TestClient, auth: dict[str, str], address_id: int, lines: list[tuple[int, int]]
) -> Any:
    return client.post(
        "/api/v1/checkout",
        json={
            "lines": [{"sku_id": s, "quantity": q} for s, q in lines],
            "address_id": address_id,
            "from_cart": False,
        },
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )


def test_staff_create_list_update_and_delete_templates(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    r = client.post(merchant.base, json=BY_PIECE, headers=merchant.auth)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["regions"][0]["provinces"] == ["新疆维吾尔自治区", "西藏自治区"]
    assert made["is_default"] is True and made["excluded"] == ["香港特别行政区"]
    r = client.post(merchant.base, json={**BY_WEIGHT, "is_default": True}, headers=merchant.auth)
    second = r.json()
    listed = client.get(merchant.base, headers=merchant.auth).json()
    assert [(t["id"], t["is_default"]) for t in listed] == [
        (second["id"], True),
        (made["id"], False),
    ]  # one default per shop
    r = client.put(
        f"{merchant.base}/{made['id']}", json={**BY_PIECE, "name": "改名"}, headers=merchant.auth
    )
    assert r.status_code == 200 and r.json()["name"] == "改名" and r.json()["is_default"]
    path = f"/api/v1/merchant/shops/{merchant.shop.id}/products/{merchant.product.id}"
    r = client.put(
        path + "/shipping-template", json={"template_id": second["id"]}, headers=merchant.auth
    )
    assert r.status_code == 200 and r.json()["template_id"] == second["id"]
    assert (
        client.delete(f"{merchant.base}/{second['id']}", headers=merchant.auth).status_code == 204
    )
    db.rollback()
    db.refresh(merchant.product)
    assert merchant.product.shipping_template_id is None  # back to the shop's default
    assert _count(db) == 1
    # Someone else: not found, nothing written.
    stranger = _token(database, make_user().id)
    assert client.get(merchant.base, headers=stranger).status_code == 404
    assert client.post(merchant.base, json=BY_PIECE, headers=stranger).status_code == 404
    assert _count(db) == 1


def _rule(**changes: Any) -> dict[str, Any]:
    return {**BY_PIECE["rule"], **changes}  # type: ignore[dict-item]


def _region(provinces: list[str]) -> dict[str, Any]:
    return {"provinces": provinces, **_rule()}


@pytest.mark.parametrize(
    "body",
    [
        {**BY_PIECE, "rule": _rule(first_fen=-1)},
        {**BY_PIECE, "rule": _rule(extra_fen=1_000_001)},  # over ¥10,000
        {**BY_PIECE, "rule": _rule(first_fen="1000")},
        {**BY_PIECE, "rule": _rule(first_fen=True)},
        {**BY_PIECE, "rule": _rule(first_fen=10.0)},
        {**BY_PIECE, "rule": _rule(first_units=0)},
        {**BY_PIECE, "rule": _rule(first_units=2**31)},
        {**BY_PIECE, "rule": _rule(extra_units=2**63)},
        {**BY_PIECE, "excluded": ["火星"]},
        {**BY_PIECE, "regions": [_region(["火星"])]},
        {**BY_PIECE, "regions": [_region(["广东"]), _region(["广东省"])]},
        {**BY_PIECE, "regions": [_region([p]) for p in ["北京"] * 35]},
        {**BY_PIECE, "method": "volume"},
        {**BY_PIECE, "name": ""},
        {**BY_PIECE, "free_over_fen": 0},
        {**BY_PIECE, "free_over_fen": 2**63},
        {**BY_PIECE, "is_default": "yes"},
        {**BY_PIECE, "rule": [1000, 500]},
        {**BY_PIECE, "surprise": 1},
        {"name": "缺规则", "method": "piece"},
    ],
)
def test_bad_templates_are_a_422_and_nothing_is_written(
    client: TestClient, merchant: Any, db: Any, body: dict[str, Any]
) -> None:
    r = client.post(merchant.base, json=body, headers=merchant.auth)
    assert r.status_code == 422, r.text
    assert _count(db) == 0


def test_another_shops_template_and_absurd_ids_are_not_found(
    client: TestClient, merchant: Any, db: Any, make_user: Any, database: Database
) -> None:
    other_owner = make_user()
    other = make_shop(db, other_owner)
    db.commit()
    other_auth = _token(database, other_owner.id)
    theirs = client.post(
        f"/api/v1/merchant/shops/{other.id}/shipping-templates", json=BY_PIECE, headers=other_auth
    ).json()["id"]
    product_path = (
        f"/api/v1/merchant/shops/{merchant.shop.id}/products/{merchant.product.id}"
        "/shipping-template"
    )
    for template_id in (theirs, 2**31, 2**63):
        if template_id == theirs:
            assert (
                client.put(
                    f"{merchant.base}/{template_id}", json=BY_PIECE, headers=merchant.auth
                ).status_code
                == 404
            )
            r = client.put(product_path, json={"template_id": template_id}, headers=merchant.auth)
            assert r.status_code == 404, r.text
        else:
            r = client.put(product_path, json={"template_id": template_id}, headers=merchant.auth)
            assert r.status_code in (404, 422), r.text
        r = client.delete(f"{merchant.base}/{template_id}", headers=merchant.auth)
        assert r.status_code == 404, r.text
        assert (
            client.get(f"{merchant.base}/{template_id}", headers=merchant.auth).status_code == 404
        )
    r = client.put(product_path, json={"template_id": "1"}, headers=merchant.auth)
    assert r.status_code == 422
    # Their template still there, and the product still on the default.
    assert _count(db) == 1
    db.refresh(merchant.product)
    assert merchant.product.shipping_template_id is None


def test_checkout_charges_the_fee_into_the_total_and_the_payment(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    client.post(merchant.base, json=BY_PIECE, headers=merchant.auth)
    buyer = make_user()
    auth = _token(database, buyer.id)
    zhejiang = make_address(db, buyer.id)
    xinjiang = make_address(db, buyer.id, province="新疆", is_default=False)
    r = _checkout(client, auth, zhejiang, [(merchant.sku_id, 3)])
    assert r.status_code == 201, r.text
    (order,) = r.json()["orders"]
    assert (order["items_fen"], order["shipping_fen"]) == (15000, 1000 + 2 * 500)
    assert order["total_fen"] == 17000
    r = client.post(
        "/api/v1/payments",
        json={"order_nos": [order["order_no"]], "method": "sandbox"},
        headers=auth,
    )
    assert r.status_code == 200 and r.json()["amount_fen"] == 17000, r.text
    r = _checkout(client, auth, xinjiang, [(merchant.sku_id, 2)])
    assert r.json()["orders"][0]["shipping_fen"] == 2000 + 1500


def test_an_undeliverable_province_is_refused_and_nothing_is_written(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    client.post(merchant.base, json=BY_PIECE, headers=merchant.auth)
    buyer = make_user()
    auth = _token(database, buyer.id)
    hongkong = make_address(db, buyer.id, province="香港")
    r = _checkout(client, auth, hongkong, [(merchant.sku_id, 1)])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "undeliverable", r.json()
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Order)) == 0
    db.refresh(merchant.product.skus[0])
    assert merchant.product.skus[0].stock_reserved == 0


def test_lines_under_different_templates_pay_each_fee_added_and_free_over(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    client.post(merchant.base, json=BY_PIECE, headers=merchant.auth)
    weight = client.post(merchant.base, json=BY_WEIGHT, headers=merchant.auth).json()["id"]
    heavy = make_product(db, merchant.shop, skus=[("大", 4000, 100)])
    heavy.skus[0].weight_g = 1200
    db.commit()
    path = f"/api/v1/merchant/shops/{merchant.shop.id}/products/{heavy.id}/shipping-template"
    assert client.put(path, json={"template_id": weight}, headers=merchant.auth).status_code == 200
    buyer = make_user()
    auth = _token(database, buyer.id)
    address = make_address(db, buyer.id)
    # 2 pieces by piece (¥10 + ¥5) and 2 × 1200 g by weight (¥8 + 3 × ¥3 for 1400 g more).
    r = _checkout(client, auth, address, [(merchant.sku_id, 2), (heavy.skus[0].id, 2)])
    (order,) = r.json()["orders"]
    assert order["items_fen"] == 10000 + 8000
    assert order["shipping_fen"] == (1000 + 500) + (800 + 3 * 300)
    # ¥300 of items: the weight template is free, the piece template still pays.
    r = _checkout(client, auth, address, [(merchant.sku_id, 2), (heavy.skus[0].id, 5)])
    (order,) = r.json()["orders"]
    assert order["items_fen"] == 30000 and order["shipping_fen"] == 1500


def test_no_template_is_free_shipping(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    buyer = make_user()
    r = _checkout(
        client, _token(database, buyer.id), make_address(db, buyer.id), [(merchant.sku_id, 2)]
    )
    (order,) = r.json()["orders"]
    assert order["shipping_fen"] == 0 and order["total_fen"] == order["items_fen"] == 10000


def test_the_templates_cost_one_statement_for_1_line_10_lines_and_10_shops(
    client: TestClient, db: Any, database: Database, make_user: Any, count_queries: Any
) -> None:
    def shop_skus(shops: int, per_shop: int) -> list[int]:
        ids = []
        for _ in range(shops):
            owner = make_user()
            shop = make_shop(db, owner)
            skus = [(f"款{i}", 1000 + i, 100) for i in range(per_shop)]
            ids += [s.id for s in make_product(db, shop, skus=skus).skus]
            db.commit()
            client.post(
                f"/api/v1/merchant/shops/{shop.id}/shipping-templates",
                json=BY_PIECE,
                headers=_token(database, owner.id),
            )
        return ids

    carts = {"1 line": shop_skus(1, 1), "10 lines": shop_skus(1, 10), "10 shops": shop_skus(10, 1)}
    buyer = make_user()
    auth = _token(database, buyer.id)
    address = make_address(db, buyer.id)
    db.rollback()
    counts = {}
    for name, skus in carts.items():
        with count_queries() as counted:
            r = _checkout(client, auth, address, [(s, 1) for s in skus])
        assert r.status_code == 201, r.text
        assert all(o["shipping_fen"] > 0 for o in r.json()["orders"])
        reads = [s for s in counted.statements if "logistics_shipping_templates" in s]
        assert len(reads) == 1, reads
        counts[name] = counted.count
    assert counts["10 lines"] == counts["1 line"] == counts["10 shops"], counts


def test_refunds_never_pass_what_was_paid_shipping_included(
    client: TestClient, merchant: Any, db: Any, database: Database, make_user: Any
) -> None:
    """An order's paid amount includes shipping: a full refund may return it, a line's
    after-sales refund returns at most the line's amount (not the shipping)."""
    client.post(merchant.base, json=BY_PIECE, headers=merchant.auth)
    buyer = make_user()
    auth = _token(database, buyer.id)
    r = _checkout(client, auth, make_address(db, buyer.id), [(merchant.sku_id, 2)])
    order_no = r.json()["orders"][0]["order_no"]
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.order_no == order_no))
        orders_service.mark_paid(
            session, order_ids=[order.id], paid_at=clock.now(), payment_ref="P-ship"
        )
        session.commit()
        session.refresh(order)
        assert order.paid_fen == order.total_fen == 10000 + 1500
        assert orders_service.refundable_fen(session, order_id=order.id) == 11500
        assert aftersales_refunds.refundable_fen(session, order) == 11500
        assert aftersales_refunds.refundable_fen(session, order, order.lines[0]) == 10000

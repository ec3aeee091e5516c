"""Cart rules and checkout: prices from the server, one order per shop, idempotency,
purchase limits, bad input, and SQL that does not grow with the number of lines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from tests.orders.conftest import Scene, add_address, stock
from xiaodian.catalog.models import ProductStatus
from xiaodian.errors import Conflict, NotFound
from xiaodian.orders import cart
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderStatus


def _body(scene: Scene, qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "lines": [{"sku_id": scene.sku_id, "quantity": qty}],
        "address_id": scene.address_id,
        **extra,
    }


def test_checkout_splits_per_shop_and_reserves(
    db: Session, scene: Scene, make_user: Any, api_client: Any
) -> None:
    other_shop = make_shop(db, make_user())
    other = make_product(db, other_shop, skus=[("大号", 5000, 3)])
    c = api_client(scene.buyer)
    r = c.post(
        "/api/v1/checkout",
        json={
            "lines": [
                {"sku_id": scene.sku_id, "quantity": 2, "price_fen": 1},
                {"sku_id": other.skus[0].id, "quantity": 1, "unit_price_fen": 1},
                {"sku_id": scene.sku_id, "quantity": 1},
            ],
            "address_id": scene.address_id,
            "note": "放门口",
            "channel": {"type": "share", "id": 7},
        },
        headers={"Idempotency-Key": "key-0001-abcdef"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["pay_url"].startswith("/pay?orders=")
    orders = {o["shop_id"]: o for o in body["orders"]}
    assert set(orders) == {scene.shop.id, other_shop.id}
    mine = orders[scene.shop.id]
    assert mine["total_fen"] == 3 * 1990 and mine["items_fen"] == 3 * 1990  # client price ignored
    assert mine["shipping_fen"] == 0 and mine["status"] == "pending_payment"
    # (a "video" claim is checked by content: only a published video featuring the product)
    assert mine["channel"] == "share" and mine["channel_ref_id"] == 7
    assert mine["address"]["phone"] == "13800138000"
    assert orders[other_shop.id]["total_fen"] == 5000
    no = mine["order_no"]
    assert len(no) == 18 and no.isdigit()
    assert stock(db, scene.sku_id) == (97, 3, 0, 100)
    assert stock(db, other.skus[0].id) == (2, 1, 0, 3)


def test_idempotency_key(db: Session, scene: Scene, api_client: Any) -> None:
    c = api_client(scene.buyer)
    headers = {"Idempotency-Key": "same-key-123456"}
    first = c.post("/api/v1/checkout", json=_body(scene, 2), headers=headers)
    second = c.post("/api/v1/checkout", json=_body(scene, 2), headers=headers)
    assert first.status_code == second.status_code == 201
    assert [o["order_no"] for o in first.json()["orders"]] == [
        o["order_no"] for o in second.json()["orders"]
    ]
    assert db.query(Order).count() == 1
    db.rollback()
    changed = c.post("/api/v1/checkout", json=_body(scene, 3), headers=headers)
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)


@pytest.mark.parametrize("qty", [0, -1, "abc", 10000, 1.5, None])
def test_invalid_quantities(db: Session, scene: Scene, api_client: Any, qty: Any) -> None:
    c = api_client(scene.buyer)
    r = c.post("/api/v1/checkout", json=_body(scene, qty))
    assert r.status_code == 422
    r = c.post("/api/v1/cart/items", json={"sku_id": scene.sku_id, "quantity": qty})
    assert r.status_code == 422
    assert db.query(Order).count() == 0


def test_unknown_and_unavailable(db: Session, scene: Scene, api_client: Any) -> None:
    c = api_client(scene.buyer)
    r = c.post(
        "/api/v1/checkout", json={**_body(scene), "lines": [{"sku_id": 99999, "quantity": 1}]}
    )
    assert r.status_code == 404
    r = c.post("/api/v1/cart/items", json={"sku_id": 99999, "quantity": 1})
    assert r.status_code == 404
    scene.product.status = ProductStatus.OFF_SHELF
    db.commit()
    assert c.post("/api/v1/cart/items", json={"sku_id": scene.sku_id}).status_code == 409
    r = c.post("/api/v1/checkout", json=_body(scene))
    assert r.status_code == 409 and r.json()["error"]["code"] == "unavailable"


def test_out_of_stock_reserves_nothing(db: Session, scene: Scene) -> None:
    blue = scene.product.skus[1].id  # 5 in stock
    with pytest.raises(Conflict) as err:
        checkout(
            db, scene.buyer_actor, lines=[(scene.sku_id, 2), (blue, 6)], address_id=scene.address_id
        )
    assert err.value.code == "out_of_stock" and "蓝色" in err.value.render()
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)
    assert stock(db, blue) == (5, 0, 0, 5)
    assert db.query(Order).count() == 0


def test_purchase_limit(db: Session, scene: Scene, api_client: Any) -> None:
    limited = make_product(db, scene.shop, skus=[("S", 100, 50), ("M", 100, 50)], purchase_limit=3)
    s, m = limited.skus[0].id, limited.skus[1].id
    c = api_client(scene.buyer)
    assert c.post("/api/v1/cart/items", json={"sku_id": s, "quantity": 2}).status_code == 201
    r = c.post("/api/v1/cart/items", json={"sku_id": m, "quantity": 2})
    assert r.status_code == 409 and r.json()["error"]["code"] == "purchase_limit"
    body = {"lines": [{"sku_id": s, "quantity": 2}], "address_id": scene.address_id}
    first = c.post("/api/v1/checkout", json=body)
    assert first.status_code == 201
    r = c.post("/api/v1/checkout", json={**body, "lines": [{"sku_id": m, "quantity": 2}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "purchase_limit"
    # a cancelled order no longer counts
    no = first.json()["orders"][0]["order_no"]
    assert c.post(f"/api/v1/orders/{no}/cancel").status_code == 200
    r = c.post("/api/v1/checkout", json={**body, "lines": [{"sku_id": m, "quantity": 3}]})
    assert r.status_code == 201


def test_cart_api_and_others_items(
    db: Session, scene: Scene, api_client: Any, make_user: Any
) -> None:
    other = make_user()
    c = api_client(scene.buyer)
    item = c.post("/api/v1/cart/items", json={"sku_id": scene.sku_id, "quantity": 2}).json()
    c.post("/api/v1/cart/items", json={"sku_id": scene.sku_id, "quantity": 3})
    got = c.get("/api/v1/cart").json()
    line = got["groups"][0]["lines"][0]
    assert line["quantity"] == 5 and line["price_fen"] == 1990 and got["selected_fen"] == 9950
    assert (
        c.post("/api/v1/cart/items", json={"sku_id": scene.sku_id, "quantity": 995}).status_code
        == 422
    )
    blue = scene.product.skus[1].id
    r = c.post("/api/v1/cart/items", json={"sku_id": blue, "quantity": 6})
    assert r.status_code == 409 and r.json()["error"]["code"] == "out_of_stock"
    o = api_client(other)
    assert o.patch(f"/api/v1/cart/items/{item['id']}", json={"quantity": 1}).status_code == 404
    assert o.delete(f"/api/v1/cart/items/{item['id']}").status_code == 404
    assert c.patch(f"/api/v1/cart/items/{item['id']}", json={"quantity": 0}).status_code == 422
    r = c.patch(f"/api/v1/cart/items/{item['id']}", json={"quantity": 1, "selected": False})
    assert r.status_code == 200 and r.json()["selected"] is False
    # the product goes off shelf: the cart says so
    scene.product.status = ProductStatus.OFF_SHELF
    db.commit()
    assert c.get("/api/v1/cart").json()["groups"][0]["lines"][0]["problem"] == "off_shelf"
    assert c.delete(f"/api/v1/cart/items/{item['id']}").status_code == 204
    assert cart.get_cart(db, scene.buyer_actor).groups == []


def test_addresses_api(db: Session, scene: Scene, api_client: Any, make_user: Any) -> None:
    other = make_user()
    c, o = api_client(scene.buyer), api_client(other)
    new = {
        "name": "李四",
        "phone": "13912345678",
        "province": "北京市",
        "city": "北京市",
        "district": "朝阳区",
        "detail": "建国路 88 号",
        "is_default": True,
    }
    r = c.post("/api/v1/addresses", json=new)
    assert r.status_code == 201 and r.json()["is_default"]
    listed = c.get("/api/v1/addresses").json()
    assert [a["is_default"] for a in listed] == [True, False]
    assert c.post("/api/v1/addresses", json={**new, "phone": "12345"}).status_code == 422
    assert c.post("/api/v1/addresses", json={**new, "detail": "x"}).status_code == 422
    assert c.post("/api/v1/addresses", json={**new, "name": ""}).status_code == 422
    assert o.get(f"/api/v1/addresses/{scene.address_id}").status_code == 404
    assert o.put(f"/api/v1/addresses/{scene.address_id}", json=new).status_code == 404
    assert o.delete(f"/api/v1/addresses/{scene.address_id}").status_code == 404
    # checkout with someone else's address
    other_address = add_address(db, other)
    r = c.post("/api/v1/checkout", json={**_body(scene), "address_id": other_address})
    assert r.status_code == 404
    assert db.query(Order).count() == 0


def test_others_orders_are_not_found(
    db: Session, scene: Scene, api_client: Any, make_user: Any
) -> None:
    other = make_user()
    c = api_client(scene.buyer)
    no = c.post("/api/v1/checkout", json=_body(scene)).json()["orders"][0]["order_no"]
    o = api_client(other)
    assert o.get(f"/api/v1/orders/{no}").status_code == 404
    assert o.post(f"/api/v1/orders/{no}/cancel").status_code == 404
    assert o.get("/api/v1/orders").json()["total"] == 0
    assert c.get(f"/api/v1/orders/{no}").json()["events"][0]["action"] == "created"
    assert c.get("/api/v1/orders?tab=unpaid").json()["total"] == 1
    assert c.get("/api/v1/orders?tab=to_ship").json()["total"] == 0
    assert c.get("/api/v1/orders?tab=bogus").status_code == 422
    assert c.get("/api/v1/orders/abc").status_code == 422
    anon = api_client.__self__ if hasattr(api_client, "__self__") else None
    assert anon is None


def test_checkout_query_count_is_constant(db: Session, scene: Scene, count_queries: Any) -> None:
    many = make_product(db, scene.shop, skus=[(f"款{i}", 1000 + i, 10) for i in range(10)])
    ids = [s.id for s in many.skus]
    db.rollback()
    with count_queries() as one:
        checkout(
            db,
            scene.buyer_actor,
            lines=[(ids[0], 1)],
            address_id=scene.address_id,
            idempotency_key="count-one-1234",
        )
    with count_queries() as ten:
        checkout(
            db,
            scene.buyer_actor,
            lines=[(i, 1) for i in ids],
            address_id=scene.address_id,
            idempotency_key="count-ten-1234",
        )
    assert ten.count <= one.count, ten.statements


def test_order_list_query_count_is_constant(
    db: Session, scene: Scene, api_client: Any, count_queries: Any
) -> None:
    c = api_client(scene.buyer)
    checkout(db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id)
    with count_queries() as one:
        assert c.get("/api/v1/orders").status_code == 200
    for _ in range(5):
        checkout(db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id)
    with count_queries() as six:
        assert c.get("/api/v1/orders").json()["total"] == 6
    assert six.count == one.count
    assert db.query(Order).filter(Order.status == OrderStatus.PENDING_PAYMENT).count() == 6
    with pytest.raises(NotFound):
        checkout(db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=99999)

"""The buyer and merchant pages render, with forms that work, and hide others' data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.orders.conftest import Scene, stock
from xiaodian import clock
from xiaodian.orders import service
from xiaodian.orders.models import CartItem, Order


def _csrf(c: Any) -> str:
    return str(c.cookies.get("xd_csrf", ""))


def test_buyer_flow_through_pages(db: Session, scene: Scene, login_client: Any) -> None:
    c = login_client(scene.buyer)
    assert c.get("/cart").status_code == 200
    r = c.post(
        "/cart/items",
        data={"sku_id": scene.sku_id, "quantity": 2, "csrf_token": _csrf(c)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/cart"
    page = c.get("/cart")
    assert page.status_code == 200 and scene.product.title in page.text
    item_id = db.query(CartItem).one().id
    db.rollback()
    r = c.post(
        "/cart/checkout", data={"item": item_id, "csrf_token": _csrf(c)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/checkout"
    page = c.get("/checkout")
    assert page.status_code == 200 and "form_key" in page.text
    data = {
        "csrf_token": _csrf(c),
        "form_key": "page-key-123456",
        "from_cart": "1",
        "sku_id": [str(scene.sku_id)],
        "quantity": ["2"],
        "address_id": str(scene.address_id),
        "note": "请尽快发货",
    }
    r = c.post("/checkout", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/pay?orders=")
    again = c.post("/checkout", data=data, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]
    db.expire_all()
    assert db.query(Order).count() == 1
    assert db.query(CartItem).count() == 0
    order_no = db.query(Order).one().order_no
    db.rollback()
    detail = c.get(f"/orders/{order_no}")
    assert detail.status_code == 200 and "/pay?orders=" in detail.text
    for tab in service.TABS:
        assert c.get(f"/orders?tab={tab}").status_code == 200
    r = c.post(f"/orders/{order_no}/cancel", data={"csrf_token": _csrf(c)}, follow_redirects=False)
    assert r.status_code == 303
    assert stock(db, scene.sku_id)[:2] == (100, 0)
    r = c.post(f"/orders/{order_no}/cancel", data={"csrf_token": _csrf(c)})
    assert r.status_code == 409


def test_buy_now_and_login_redirect(
    db: Session, scene: Scene, login_client: Any, client: Any
) -> None:
    r = client.get("/cart", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    c = login_client(scene.buyer)
    r = c.post(
        "/cart/items",
        data={"sku_id": scene.sku_id, "quantity": 3, "buy_now": "1", "csrf_token": _csrf(c)},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/checkout?sku={scene.sku_id}&qty=3"
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and "¥59.70" in page.text
    bad = c.post(
        "/cart/items", data={"sku_id": scene.sku_id, "quantity": "abc", "csrf_token": _csrf(c)}
    )
    assert bad.status_code == 422


def test_addresses_pages(db: Session, scene: Scene, login_client: Any, make_user: Any) -> None:
    other = make_user()
    c = login_client(scene.buyer)
    assert c.get("/addresses").status_code == 200
    r = c.post(
        "/addresses",
        data={
            "name": "李四",
            "phone": "123",
            "province": "北京市",
            "city": "北京市",
            "district": "朝阳区",
            "detail": "建国路 1 号",
            "csrf_token": _csrf(c),
        },
    )
    assert (r.status_code == 422 and "mobile" in r.text.lower()) or "手机" in r.text
    assert c.get(f"/addresses/{scene.address_id}/edit").status_code == 200
    o = login_client(other)
    assert o.get(f"/addresses/{scene.address_id}/edit").status_code == 404
    r = o.post(f"/addresses/{scene.address_id}/delete", data={"csrf_token": _csrf(o)})
    assert r.status_code == 404


def test_merchant_pages(db: Session, scene: Scene, login_client: Any, make_user: Any) -> None:
    from tests.factories import make_shop
    from xiaodian.orders.checkout import checkout

    stranger = make_user()
    make_shop(db, stranger)
    order = checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id
    ).orders[0]
    service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P")
    db.commit()
    c = login_client(scene.owner)
    base = f"/merchant/shops/{scene.shop.id}/orders"
    page = c.get(base)
    assert page.status_code == 200 and order.order_no in page.text
    assert c.get(f"{base}/{order.order_no}").status_code == 200
    r = c.post(
        f"{base}/{order.order_no}/ship",
        data={"carrier": "SF", "tracking_no": "bad", "csrf_token": _csrf(c)},
    )
    assert r.status_code == 422
    r = c.post(
        f"{base}/{order.order_no}/ship",
        follow_redirects=False,
        data={"carrier": "SF", "tracking_no": "SF1234567890123", "csrf_token": _csrf(c)},
    )
    assert r.status_code == 303
    export = c.get(f"{base}/export.csv")
    assert export.status_code == 200 and export.content.startswith("\ufeff".encode())
    s = login_client(stranger)
    assert s.get(base).status_code == 404
    assert s.get(f"{base}/{order.order_no}").status_code == 404
    assert s.get(f"{base}/export.csv").status_code == 404

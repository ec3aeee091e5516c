"""Every route of the orders domain, per object: other buyers' carts, addresses and orders,
and other shops' orders are 404 and change nothing; anonymous callers are sent to sign in.
Bad input anywhere (malformed JSON, wrong types, huge or negative numbers, unknown ids,
binary or oversized CSV uploads) is a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_shop
from tests.orders.conftest import Scene, stock
from xiaodian import clock
from xiaodian.orders import cart, service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Address, CartItem, Order, OrderEvent, OrderStatus

SHIP = {"carrier": "SF", "tracking_no": "SF1234567890123"}
ADDRESS = {
    "name": "王五",
    "phone": "13900139000",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "detail": "世纪大道 1 号",
}
CSV = ("ship.csv", b"", "text/csv")


def _csrf(c: Any) -> str:
    return str(c.cookies.get("xd_csrf", ""))


def _objects(db: Session, scene: Scene) -> dict[str, Any]:
    """The buyer's cart line, a paid order and an unpaid one of scene.shop."""
    item = cart.add_to_cart(db, scene.buyer_actor, sku_id=scene.sku_id, quantity=1)
    paid, unpaid = (
        checkout(
            db,
            scene.buyer_actor,
            lines=[(scene.sku_id, 1)],
            address_id=scene.address_id,
            from_cart=False,
        ).orders[0]
        for _ in range(2)
    )
    service.mark_paid(db, order_ids=[paid.id], paid_at=clock.now(), payment_ref="PAY-A")
    db.commit()
    return {
        "item": item.id,
        "address": scene.address_id,
        "paid": paid.order_no,
        "unpaid": unpaid.order_no,
        "shop": scene.shop.id,
    }


# (method, path template, body kind): buyer-owned objects
BUYER_API = [
    ("PATCH", "/api/v1/cart/items/{item}", {"json": {"quantity": 2}}),
    ("DELETE", "/api/v1/cart/items/{item}", {}),
    ("GET", "/api/v1/addresses/{address}", {}),
    ("PUT", "/api/v1/addresses/{address}", {"json": ADDRESS}),
    ("POST", "/api/v1/addresses/{address}/default", {}),
    ("DELETE", "/api/v1/addresses/{address}", {}),
    ("GET", "/api/v1/orders/{paid}", {}),
    ("POST", "/api/v1/orders/{unpaid}/cancel", {}),
    ("POST", "/api/v1/orders/{paid}/confirm", {}),
]
BUYER_PAGES = [
    ("POST", "/cart/items/{item}", {"data": {"quantity": "2"}}),
    ("POST", "/cart/items/{item}/delete", {}),
    ("GET", "/addresses/{address}/edit", {}),
    ("POST", "/addresses/{address}", {"data": ADDRESS}),
    ("POST", "/addresses/{address}/default", {}),
    ("POST", "/addresses/{address}/delete", {}),
    ("GET", "/orders/{paid}", {}),
    ("POST", "/orders/{unpaid}/cancel", {}),
    ("POST", "/orders/{paid}/confirm", {}),
]
SHOP_API = [
    ("GET", "/api/v1/merchant/shops/{shop}/orders", {}),
    ("GET", "/api/v1/merchant/shops/{shop}/orders/export.csv", {}),
    ("POST", "/api/v1/merchant/shops/{shop}/orders/ship-batch", {"files": {"file": CSV}}),
    ("GET", "/api/v1/merchant/shops/{shop}/orders/{paid}", {}),
    ("POST", "/api/v1/merchant/shops/{shop}/orders/{paid}/ship", {"json": SHIP}),
]
SHOP_PAGES = [
    ("GET", "/merchant/shops/{shop}/orders", {}),
    ("GET", "/merchant/shops/{shop}/orders/export.csv", {}),
    ("POST", "/merchant/shops/{shop}/orders/ship-batch", {"files": {"file": CSV}}),
    ("GET", "/merchant/shops/{shop}/orders/{paid}", {}),
    ("POST", "/merchant/shops/{shop}/orders/{paid}/ship", {"data": SHIP}),
]
# Routes that act only on the caller's own things (nothing of anybody else's to reach).
OWN_ONLY = {
    ("GET", "/api/v1/cart"),
    ("POST", "/api/v1/cart/items"),
    ("GET", "/api/v1/addresses"),
    ("POST", "/api/v1/addresses"),
    ("POST", "/api/v1/checkout"),
    ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/carriers"),
    ("GET", "/cart"),
    ("POST", "/cart/items"),
    ("POST", "/cart/checkout"),
    ("GET", "/checkout"),
    ("POST", "/checkout"),
    ("GET", "/addresses"),
    ("GET", "/addresses/new"),
    ("POST", "/addresses"),
    ("GET", "/orders"),
}


def _template(path: str) -> str:
    for name in ("item_id", "address_id"):
        path = path.replace("{" + name + "}", "{x}")
    return path.replace("{order_no}", "{x}").replace("{shop_id}", "{shop}")


def test_every_orders_route_is_in_the_access_matrix(app: Any) -> None:
    covered = {
        (m, _template(p.replace("{item}", "{x}").replace("{address}", "{x}")))
        for m, p, _b in BUYER_API + BUYER_PAGES + SHOP_API + SHOP_PAGES
    }
    covered = {(m, p.replace("{paid}", "{x}").replace("{unpaid}", "{x}")) for m, p in covered}
    covered |= OWN_ONLY
    routes = {
        (method, _template(route.path))
        for route in app.routes
        if isinstance(route, APIRoute) and route.endpoint.__module__.startswith("xiaodian.orders")
        for method in route.methods
    }
    assert routes - covered == set()


def _call(c: Any, method: str, path: str, spec: dict[str, Any], page: bool) -> Any:
    kwargs = {k: dict(v) for k, v in spec.items()}
    if page and method == "POST":
        kwargs.setdefault("data", {})["csrf_token"] = _csrf(c)
    return c.request(method, path, follow_redirects=False, **kwargs)


def _snapshot(db: Session, scene: Scene) -> tuple[Any, ...]:
    db.expire_all()
    result = (
        sorted(db.execute(select(CartItem.id, CartItem.quantity, CartItem.selected)).all()),
        sorted(db.execute(select(Address.id, Address.name, Address.is_default)).all()),
        sorted(db.execute(select(Order.order_no, Order.status, Order.carrier)).all()),
        db.scalar(select(func.count()).select_from(OrderEvent)),
        stock(db, scene.sku_id),
    )
    db.rollback()
    return result


def test_strangers_get_404_and_change_nothing(
    db: Session, scene: Scene, make_user: Any, api_client: Any, login_client: Any
) -> None:
    ids = _objects(db, scene)
    other_buyer = make_user()
    other_owner = make_user()
    staff_elsewhere = make_user()
    other_shop = make_shop(db, other_owner, staff=staff_elsewhere)
    # the other merchant also has an address and a cart, so an id of theirs exists
    cart.add_to_cart(
        db,
        scene.buyer_actor.__class__(user_id=other_owner.id),
        sku_id=scene.product.skus[1].id,
        quantity=1,
    )
    db.rollback()
    before = _snapshot(db, scene)
    for user in (other_buyer, other_owner, staff_elsewhere):
        api, page = api_client(user), login_client(user)
        for method, path, spec in BUYER_API + SHOP_API:
            r = _call(api, method, path.format(**ids), spec, page=False)
            assert r.status_code == 404, (user.id, method, path, r.text)
            assert r.json()["error"]["code"]
        for method, path, spec in BUYER_PAGES + SHOP_PAGES:
            r = _call(page, method, path.format(**ids), spec, page=True)
            assert r.status_code == 404, (user.id, method, path, r.text)
    assert _snapshot(db, scene) == before
    # the owner of another shop, on their own shop's URL with our order number: 404 too
    api = api_client(other_owner)
    r = api.get(f"/api/v1/merchant/shops/{other_shop.id}/orders/{ids['paid']}")
    assert r.status_code == 404
    r = api.post(f"/api/v1/merchant/shops/{other_shop.id}/orders/{ids['paid']}/ship", json=SHIP)
    assert r.status_code == 404
    assert _snapshot(db, scene) == before


def test_anonymous_callers_sign_in_first(db: Session, scene: Scene, app: Any) -> None:
    from fastapi.testclient import TestClient

    ids = _objects(db, scene)
    db.rollback()
    before = _snapshot(db, scene)
    with TestClient(app) as anon:
        anon.get("/login")
        for method, path, spec in BUYER_API + SHOP_API:
            r = _call(anon, method, path.format(**ids), spec, page=False)
            # 401; a cookie-less unsafe request without a JSON body fails CSRF first (403)
            assert r.status_code in (401, 403), (method, path, r.text)
        for method, path, spec in BUYER_PAGES + SHOP_PAGES:
            r = _call(anon, method, path.format(**ids), spec, page=True)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert _snapshot(db, scene) == before


def test_the_owners_and_staff_can(
    db: Session, scene: Scene, make_user: Any, api_client: Any
) -> None:
    ids = _objects(db, scene)
    staff = make_user()
    from xiaodian.merchants.models import MemberRole, ShopMember

    db.add(ShopMember(shop_id=scene.shop.id, user_id=staff.id, role=MemberRole.STAFF))
    db.commit()
    buyer = api_client(scene.buyer)
    assert buyer.get(f"/api/v1/orders/{ids['paid']}").status_code == 200
    r = api_client(staff).post(
        f"/api/v1/merchant/shops/{scene.shop.id}/orders/{ids['paid']}/ship", json=SHIP
    )
    assert r.status_code == 200 and r.json()["status"] == "shipped"
    assert buyer.post(f"/api/v1/orders/{ids['paid']}/confirm").status_code == 200


# --------------------------------------------------------------------------- bad input

BAD_JSON: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/checkout", b"{not json"),
    ("POST", "/api/v1/checkout", {"lines": "abc", "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": "x", "quantity": 1}], "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": 2**40, "quantity": 1}], "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": 1, "quantity": 10**12}], "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": 1, "quantity": -1}], "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": 1, "quantity": 1}], "address_id": 2**63}),
    ("POST", "/api/v1/checkout", {"lines": [{"sku_id": 1, "quantity": 1.5}], "address_id": 1}),
    ("POST", "/api/v1/checkout", {"lines": [], "address_id": 1}),
    ("POST", "/api/v1/checkout", [1, 2, 3]),
    ("POST", "/api/v1/cart/items", {"sku_id": 99999, "quantity": 1}),
    ("POST", "/api/v1/cart/items", {"sku_id": 1, "quantity": 0}),
    ("POST", "/api/v1/cart/items", {"sku_id": 1, "quantity": True}),
    ("POST", "/api/v1/cart/items", {"sku_id": 10**30, "quantity": 1}),
    ("PATCH", "/api/v1/cart/items/99999", {"quantity": 1}),
    ("PATCH", "/api/v1/cart/items/abc", {"quantity": 1}),
    ("PATCH", "/api/v1/cart/items/99999999999999999999", {"quantity": 1}),
    ("POST", "/api/v1/addresses", {"name": 5}),
    ("POST", "/api/v1/addresses", {**ADDRESS, "phone": "1" * 19}),
    ("PUT", "/api/v1/addresses/99999", ADDRESS),
    ("GET", "/api/v1/orders?tab=nope", None),
    ("GET", "/api/v1/orders?page=-1", None),
    ("GET", "/api/v1/orders/123", None),
    ("GET", "/api/v1/orders/20260101999999999999", None),
    ("POST", "/api/v1/orders/not-a-number/cancel", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_JSON)
def test_bad_api_input_is_4xx(
    db: Session, scene: Scene, api_client: Any, method: str, path: str, body: Any
) -> None:
    db.rollback()
    before = _snapshot(db, scene)
    c = api_client(scene.buyer)
    if isinstance(body, bytes):
        r = c.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        r = c.request(method, path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json().get("error") or r.json().get("detail")
    assert _snapshot(db, scene) == before


def test_bad_merchant_api_input_is_4xx(db: Session, scene: Scene, api_client: Any) -> None:
    ids = _objects(db, scene)
    db.rollback()
    before = _snapshot(db, scene)
    c = api_client(scene.owner)
    base = f"/api/v1/merchant/shops/{scene.shop.id}/orders"
    for path in (
        f"{base}?status=lost",
        f"{base}?page=0",
        f"{base}/export.csv?from=2026-13-01",
        f"{base}/export.csv?from=2026-02-02&to=2026-02-01",
        f"{base}/export.csv?status=%00",
        "/api/v1/merchant/shops/99999999999/orders",
    ):
        assert 400 <= c.get(path).status_code < 500, path
    ship = f"{base}/{ids['paid']}/ship"
    for body in ({"carrier": "DHL", "tracking_no": "1"}, {"carrier": 1}, {}, SHIP | {"x": 1}):
        assert c.post(ship, json=body).status_code == 422, body
    assert _snapshot(db, scene) == before


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    [
        ("a.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", 422),  # binary, wrong type
        ("a.csv", b"\xff\xfe\x00o\x00r", "text/csv", 422),  # UTF-16 in disguise
        ("a.csv", "订单号,快递,单号\n".encode("gbk"), "text/csv", 422),  # GBK, not UTF-8
        ("a.csv", b'"' + b"a" * 200_000 + b'"\n', "text/csv", 422),  # a field over csv's limit
        ("a.csv", b"x" * (1024 * 1024 + 1), "text/csv", 413),  # over 1 MB
        ("a.exe", b"MZ\x90\x00", "application/octet-stream", 422),
    ],
)
def test_bad_csv_uploads(
    db: Session,
    scene: Scene,
    api_client: Any,
    login_client: Any,
    name: str,
    data: bytes,
    content_type: str,
    status: int,
) -> None:
    _objects(db, scene)
    db.rollback()
    before = _snapshot(db, scene)
    path = f"/merchant/shops/{scene.shop.id}/orders/ship-batch"
    r = api_client(scene.owner).post("/api/v1" + path, files={"file": (name, data, content_type)})
    assert r.status_code == status, r.text
    page = login_client(scene.owner)
    r = page.post(
        path, files={"file": (name, data, content_type)}, data={"csrf_token": _csrf(page)}
    )
    assert r.status_code == status, r.text
    assert _snapshot(db, scene) == before


def test_bad_form_input_is_4xx(db: Session, scene: Scene, login_client: Any) -> None:
    ids = _objects(db, scene)
    db.rollback()
    before = _snapshot(db, scene)
    c = login_client(scene.buyer)
    good = {"sku_id": str(scene.sku_id), "quantity": "1", "address_id": str(scene.address_id)}
    checkouts = [
        good | {"sku_id": "9" * 30},  # overflows the database's INTEGER
        good | {"sku_id": "4294967296"},
        good | {"sku_id": "²"},  # str.isdigit() says yes, int() says no
        good | {"quantity": "abc"},
        good | {"quantity": "-1"},
        good | {"quantity": "100000"},
        good | {"address_id": "²"},
        good | {"address_id": "9" * 12},
        good | {"address_id": ""},
        {"quantity": "1", "address_id": str(scene.address_id)},
    ]
    for form in checkouts:
        r = c.post("/checkout", data=form | {"csrf_token": _csrf(c), "form_key": "k" * 20})
        assert 400 <= r.status_code < 500, (form, r.status_code)
    for item in ("9" * 30, "²", "-5"):
        r = c.post("/cart/checkout", data={"item": item, "csrf_token": _csrf(c)})
        assert r.status_code == 422, item
    for form in ({"sku_id": "x"}, {"sku_id": "9" * 30}, {"sku_id": "1", "quantity": "0"}):
        r = c.post("/cart/items", data=form | {"csrf_token": _csrf(c)})
        assert 400 <= r.status_code < 500, form
    r = c.post(f"/cart/items/{ids['item']}", data={"quantity": "-3", "csrf_token": _csrf(c)})
    assert r.status_code == 422
    for url in ("/checkout?sku=99999999999", "/checkout?sku=abc", "/orders?page=abc"):
        assert 400 <= c.get(url).status_code < 500, url
    assert c.get("/checkout?sku=99999").status_code == 404
    assert _snapshot(db, scene) == before
    assert db.scalar(select(Order.status).where(Order.order_no == ids["unpaid"])) == (
        OrderStatus.PENDING_PAYMENT
    )

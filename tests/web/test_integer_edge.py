"""Integers at the edge: an id past what the INTEGER columns hold (or below 1) names no row
and is answered 404, a quantity or amount out of range is a 422, never a 500 (PostgreSQL's
"integer out of range", SQLite's OverflowError). Money and counts in JSON are strict: true,
"100", 100.0 and 1e2 are refused and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import leaf_category, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog.models import Product
from xiaodian.content.live import service as live
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order

OUT_OF_RANGE = [2**31, 2**63, 2**64, -1, 0]
TOO_BIG = [2**31, 2**63, 2**64]


@dataclass
class Scene:
    buyer: Any
    owner: Any
    operator: Any
    shop_id: int
    product_id: int
    sku_id: int
    address_id: int
    order_no: str
    room_id: int
    category_id: int


@pytest.fixture
def scene(database: Any, make_user: Any) -> Scene:
    buyer = make_user(display_name="买家")
    owner = make_user(display_name="店主", creator=True)
    operator = make_user(display_name="运营", operator=True)
    with database.session() as db:
        shop = make_shop(db, owner)
        product = make_product(db, shop)
        sku_id = product.skus[0].id
        address_id = make_address(db, buyer.id)
        placed = checkout(db, Actor(user_id=buyer.id), lines=[(sku_id, 1)], address_id=address_id)
        room = live.create_room(
            db,
            Actor(user_id=owner.id, shop_roles={shop.id: "owner"}),
            live.RoomInput(
                title="直播",
                scheduled_at=clock.now() + timedelta(hours=1),
                shop_id=shop.id,
                product_ids=[product.id],
            ),
        )
        return Scene(
            buyer=buyer,
            owner=owner,
            operator=operator,
            shop_id=shop.id,
            product_id=product.id,
            sku_id=sku_id,
            address_id=address_id,
            order_no=placed.orders[0].order_no,
            room_id=room.id,
            category_id=leaf_category(db).id,
        )


# (who, method, path, body): "{v}" is the number under test; ``s`` is the scene.
Call = tuple[str, str, Callable[[Scene, int], str], Callable[[Scene, int], Any] | None]

ID_CALLS: dict[str, Call] = {
    "anonymous path: storefront product": (
        "anonymous",
        "GET",
        lambda s, v: f"/api/v1/products/{v}",
        None,
    ),
    "anonymous path: shop card": ("anonymous", "GET", lambda s, v: f"/api/v1/shops/{v}", None),
    "anonymous path: live room": (
        "anonymous",
        "GET",
        lambda s, v: f"/api/v1/live/rooms/{v}",
        None,
    ),
    "anonymous path: room comments": (
        "anonymous",
        "GET",
        lambda s, v: f"/api/v1/live/rooms/{v}/comments",
        None,
    ),
    "anonymous path: video": ("anonymous", "GET", lambda s, v: f"/api/v1/videos/{v}", None),
    "anonymous path: a room's likes": (
        "anonymous",
        "POST",
        lambda s, v: f"/api/v1/live/rooms/{v}/likes",
        lambda s, v: {},
    ),
    "anonymous query: products of a shop": (
        "anonymous",
        "GET",
        lambda s, v: f"/api/v1/products?shop={v}",
        None,
    ),
    "anonymous query: videos of an author": (
        "anonymous",
        "GET",
        lambda s, v: f"/api/v1/videos?author={v}",
        None,
    ),
    "buyer path: address": ("buyer", "GET", lambda s, v: f"/api/v1/addresses/{v}", None),
    "buyer path: cart item": (
        "buyer",
        "PATCH",
        lambda s, v: f"/api/v1/cart/items/{v}",
        lambda s, v: {"quantity": 1},
    ),
    "buyer path: after-sales case": (
        "buyer",
        "GET",
        lambda s, v: f"/api/v1/aftersales/{v}",
        None,
    ),
    "buyer query: after-sales options of a line": (
        "buyer",
        "GET",
        lambda s, v: f"/api/v1/aftersales/options?order_no={s.order_no}&line_id={v}",
        None,
    ),
    "buyer body: cart sku": (
        "buyer",
        "POST",
        lambda s, v: "/api/v1/cart/items",
        lambda s, v: {"sku_id": v},
    ),
    "buyer body: checkout address": (
        "buyer",
        "POST",
        lambda s, v: "/api/v1/checkout",
        lambda s, v: {"lines": [{"sku_id": s.sku_id, "quantity": 1}], "address_id": v},
    ),
    "buyer body: comment on a room": (
        "buyer",
        "POST",
        lambda s, v: f"/api/v1/live/rooms/{v}/comments",
        lambda s, v: {"body": "好"},
    ),
    "merchant path: shop": ("owner", "GET", lambda s, v: f"/api/v1/merchant/shops/{v}", None),
    "merchant path: product": (
        "owner",
        "GET",
        lambda s, v: f"/api/v1/shops/{s.shop_id}/products/{v}",
        None,
    ),
    "merchant path: a shop's cases": (
        "owner",
        "GET",
        lambda s, v: f"/api/v1/merchant/shops/{v}/aftersales",
        None,
    ),
    "merchant body: product category": (
        "owner",
        "POST",
        lambda s, v: f"/api/v1/shops/{s.shop_id}/products",
        lambda s, v: {"title": "新商品", "category_id": v, "price_fen": 1990},
    ),
    "merchant body: pinned product": (
        "owner",
        "POST",
        lambda s, v: f"/api/v1/live/rooms/{s.room_id}/pin",
        lambda s, v: {"product_id": v},
    ),
    "merchant body: stock adjustment's sku": (
        "owner",
        "POST",
        lambda s, v: f"/api/v1/shops/{s.shop_id}/products/{s.product_id}/stock-adjustments",
        lambda s, v: {"sku_id": v, "delta": 1, "reason": "到货"},
    ),
    "operator path: product under review": (
        "operator",
        "GET",
        lambda s, v: f"/api/v1/ops/products/{v}",
        None,
    ),
}


def _client(who: str, s: Scene, client: Any, api_client: Any) -> Any:
    return client if who == "anonymous" else api_client(getattr(s, who))


@pytest.mark.parametrize("name", list(ID_CALLS))
def test_an_id_out_of_range_is_not_found(
    scene: Scene, client: Any, api_client: Any, name: str
) -> None:
    who, method, path, body = ID_CALLS[name]
    c = _client(who, scene, client, api_client)
    for value in OUT_OF_RANGE:
        r = c.request(method, path(scene, value), json=body(scene, value) if body else None)
        assert r.status_code == 404, (value, r.text)
        assert r.json()["error"]["code"] == "not_found", value


def test_an_id_out_of_range_in_a_page_shows_the_not_found_page(
    scene: Scene, client: Any, login_client: Any
) -> None:
    pages = [f"/p/{2**63}", f"/shops/{2**31}", f"/live/{2**64}", f"/videos/{2**31}"]
    for url in pages:
        r = client.get(url, headers={"Accept-Language": "en"})
        assert r.status_code == 404, url
        assert "text/html" in r.headers["content-type"] and "Not found." in r.text, url
    buyer = login_client(scene.buyer)
    for url in (f"/checkout?sku={2**31}", f"/addresses/{2**63}/edit", f"/aftersales/{2**31}"):
        assert buyer.get(url).status_code == 404, url


def test_the_not_found_body_is_the_one_of_any_unknown_id(client: Any) -> None:
    unknown = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en"}).json()
    r = client.get(f"/api/v1/products/{2**31}", headers={"Accept-Language": "en"})
    assert r.json() == unknown == {"error": {"code": "not_found", "message": "Not found."}}


def test_anonymous_callers_are_asked_to_sign_in_before_ids_are_looked_at(client: Any) -> None:
    r = client.get(f"/api/v1/addresses/{2**63}")
    assert r.status_code == 401


def test_ids_out_of_range_with_other_problems_are_invalid_input(
    scene: Scene, api_client: Any
) -> None:
    r = api_client(scene.buyer).post("/api/v1/cart/items", json={"sku_id": 2**40, "quantity": 0})
    assert r.status_code == 422, r.text


# (who, method, path, body with the number under test, the numbers refused)
AMOUNT_CALLS: dict[str, tuple[str, str, Callable[[Scene], str], Callable[[Scene, Any], Any]]] = {
    "cart quantity": (
        "buyer",
        "POST",
        lambda s: "/api/v1/cart/items",
        lambda s, v: {"sku_id": s.sku_id, "quantity": v},
    ),
    "checkout quantity": (
        "buyer",
        "POST",
        lambda s: "/api/v1/checkout",
        lambda s, v: {"lines": [{"sku_id": s.sku_id, "quantity": v}], "address_id": s.address_id},
    ),
    "a room's likes": (
        "anonymous",
        "POST",
        lambda s: f"/api/v1/live/rooms/{s.room_id}/likes",
        lambda s, v: {"count": v},
    ),
    "product price": (
        "owner",
        "POST",
        lambda s: f"/api/v1/shops/{s.shop_id}/products",
        lambda s, v: {"title": "新商品", "category_id": s.category_id, "price_fen": v},
    ),
    "product stock": (
        "owner",
        "POST",
        lambda s: f"/api/v1/shops/{s.shop_id}/products",
        lambda s, v: {"title": "新", "category_id": s.category_id, "price_fen": 990, "stock": v},
    ),
    "sku price": (
        "owner",
        "PUT",
        lambda s: f"/api/v1/shops/{s.shop_id}/products/{s.product_id}/skus",
        lambda s, v: {"skus": [{"spec_key": "标准", "price_fen": v}]},
    ),
    "flash sale price": (
        "owner",
        "POST",
        lambda s: f"/api/v1/live/rooms/{s.room_id}/flash-sales",
        lambda s, v: {
            "product_id": s.product_id,
            "sku_id": s.sku_id,
            "price_fen": v,
            "quantity": 5,
        },
    ),
    "flash sale quantity": (
        "owner",
        "POST",
        lambda s: f"/api/v1/live/rooms/{s.room_id}/flash-sales",
        lambda s, v: {
            "product_id": s.product_id,
            "sku_id": s.sku_id,
            "price_fen": 990,
            "quantity": v,
        },
    ),
    "after-sales amount": (
        "buyer",
        "POST",
        lambda s: "/api/v1/aftersales",
        lambda s, v: {
            "order_no": s.order_no,
            "kind": "refund_only",
            "reason": "no_longer_wanted",
            "amount_fen": v,
        },
    ),
    "operator refund": (
        "operator",
        "POST",
        lambda s: "/api/v1/payments/refunds",
        lambda s, v: {"order_no": s.order_no, "amount_fen": v},
    ),
}


@pytest.mark.parametrize("name", list(AMOUNT_CALLS))
def test_a_quantity_or_amount_out_of_range_is_invalid(
    scene: Scene, db: Session, client: Any, api_client: Any, name: str
) -> None:
    who, method, path, body = AMOUNT_CALLS[name]
    c = _client(who, scene, client, api_client)
    before = _written(db)
    for value in [*TOO_BIG, -1]:
        r = c.request(method, path(scene), json=body(scene, value))
        assert r.status_code == 422, (value, r.text)
        assert r.json()["error"]["code"] == "invalid", value
    assert _written(db) == before


def test_a_stock_change_is_bounded_both_ways(scene: Scene, api_client: Any) -> None:
    s = scene
    url = f"/api/v1/shops/{s.shop_id}/products/{s.product_id}/stock-adjustments"
    owner = api_client(s.owner)
    for delta in (2**31, -(2**31), 2**63, -(2**64)):
        r = owner.post(url, json={"sku_id": s.sku_id, "delta": delta, "reason": "盘点"})
        assert r.status_code == 422, (delta, r.text)
    assert (
        owner.post(url, json={"sku_id": s.sku_id, "delta": -1, "reason": "盘点"}).status_code == 201
    )


LOOSE = ["true", '"100"', "100.0", "1e2"]


@pytest.mark.parametrize("name", list(AMOUNT_CALLS))
def test_money_and_counts_are_json_integers(
    scene: Scene, db: Session, client: Any, api_client: Any, name: str
) -> None:
    who, method, path, body = AMOUNT_CALLS[name]
    c = _client(who, scene, client, api_client)
    marker = 7_654_321
    before = _written(db)
    for raw in LOOSE:
        text = json.dumps(body(scene, marker)).replace(str(marker), raw)
        headers = {"content-type": "application/json"}
        r = c.request(method, path(scene), content=text, headers=headers)
        assert r.status_code == 422, (text, r.text)
    assert _written(db) == before


def test_price_true_is_not_one_fen(scene: Scene, db: Session, api_client: Any) -> None:
    s = scene
    r = api_client(s.owner).post(
        f"/api/v1/shops/{s.shop_id}/products",
        content=json.dumps({"title": "一分钱", "category_id": s.category_id})[:-1]
        + ', "price_fen": true}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert db.scalar(select(Product.id).where(Product.title == "一分钱")) is None


def _written(db: Session) -> tuple[int, ...]:
    """Rows that any of the calls above would add (or change the number of)."""
    from xiaodian.aftersales.models import AftersaleCase
    from xiaodian.catalog.models import Sku, StockMovement
    from xiaodian.content.live.models import FlashSale, LiveRoom
    from xiaodian.orders.models import CartItem
    from xiaodian.payments.models import Refund

    counts = tuple(
        db.scalar(select(func.count()).select_from(model)) or 0
        for model in (
            Product,
            Sku,
            StockMovement,
            Order,
            CartItem,
            FlashSale,
            AftersaleCase,
            Refund,
        )
    )
    likes = db.scalar(select(func.coalesce(func.sum(LiveRoom.likes), 0)))
    prices = db.scalar(select(func.coalesce(func.sum(Sku.price_fen), 0)))
    db.rollback()
    return (*counts, likes or 0, prices or 0)


def _routes(routes: list[Any]) -> list[Any]:
    """Every route of the app, the pages' too (FastAPI nests included routers)."""
    from fastapi.routing import APIRoute

    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_routes(route.original_router.routes))
    return found


def _integers(node: Any, components: dict[str, Any], seen: set[str]) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [i for item in node for i in _integers(item, components, seen)]
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _integers(components[name], components, seen)
    found = [node] if node.get("type") == "integer" else []
    return found + [i for value in node.values() for i in _integers(value, components, seen)]


def test_every_integer_a_route_reads_is_bounded(app: Any) -> None:
    """Paths, queries, headers, JSON bodies and forms declared on the routes (the pages'
    too): each integer has a lower and an upper bound, none past the INTEGER columns."""
    import copy
    import warnings

    from fastapi.openapi.utils import get_openapi

    from xiaodian.db import MAX_ID

    routes = []
    for route in _routes(app.router.routes):
        shown = copy.copy(route)
        shown.include_in_schema = True
        routes.append(shown)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pages and API share function names (operation ids)
        document = get_openapi(title="all", version="1", routes=routes)
    components = document.get("components", {}).get("schemas", {})
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            read = [operation.get("parameters", []), operation.get("requestBody", {})]
            for schema in _integers(read, components, set()):
                low = schema.get("minimum", schema.get("exclusiveMinimum"))
                high = schema.get("maximum", schema.get("exclusiveMaximum"))
                if low is None or high is None or high > MAX_ID or low < -MAX_ID:
                    unbounded.append(f"{method.upper()} {path}: {schema}")
    assert unbounded == []


def test_a_feed_cursor_past_the_columns_is_invalid_input(client: Any) -> None:
    """The feed's cursor is "<rank>.<id>", both INTEGER columns: a made-up one with a
    bigger number is refused like any malformed cursor, not sent to the database."""
    for cursor in (f"{2**31}.1", f"1.{2**31}", f"-{2**31}.5", "999999999999.1"):
        r = client.get("/api/v1/videos", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
    assert client.get("/api/v1/videos", params={"cursor": f"{2**31 - 1}.1"}).status_code == 200


def _form(c: Any, fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "csrf_token": c.cookies.get("xd_csrf", "")}


def test_numbers_typed_in_forms_past_the_columns_are_refused(
    scene: Scene, db: Session, login_client: Any
) -> None:
    """The merchant's and the host's forms: a number past the INTEGER columns is a form
    error (or a "not found" for an id), the page answers, and nothing is written."""
    s = scene
    owner = login_client(s.owner)
    before = _written(db)
    base = f"/merchant/shops/{s.shop_id}/products"
    stock = owner.post(
        f"{base}/{s.product_id}/stock",
        data=_form(owner, {"sku_id": "9" * 30, "delta": "1", "reason": "到货"}),
    )
    assert stock.status_code == 422, stock.text
    for price in ("30000000", "999999999999"):  # yuan: past the column in fen
        new = owner.post(
            f"{base}/new",
            data=_form(owner, {"title": "贵", "category_id": str(s.category_id), "price": price}),
        )
        assert new.status_code == 422, (price, new.text)
    bulk = owner.post(
        f"{base}/bulk",
        data=_form(owner, {"product_id": ["9" * 20, str(s.product_id)], "action": "put_on_shelf"}),
    )
    assert bulk.status_code < 500, bulk.text
    pin = owner.post(f"/live/{s.room_id}/host/pin", data=_form(owner, {"product_id": "9" * 20}))
    assert pin.status_code == 404, pin.text
    sale = owner.post(
        f"/live/{s.room_id}/host/sales",
        data=_form(
            owner,
            {"product_id": str(s.product_id), "sku_id": str(s.sku_id), "price": "9" * 12},
        ),
    )
    assert sale.status_code == 422, sale.text
    assert _written(db) == before

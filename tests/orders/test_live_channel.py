"""Attribution from a live room's 小黄车: room -> product page -> buy now -> checkout ->
an order whose channel is ("live", room id), checked on the server."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_product
from tests.orders.conftest import Scene, actor_for
from xiaodian import clock as clock_module
from xiaodian.content.live import service as live
from xiaodian.orders import lifecycle as orders_lifecycle
from xiaodian.orders.models import CartItem, Order


def _csrf(c: Any) -> str:
    return str(c.cookies.get("xd_csrf", ""))


def _room(db: Session, scene: Scene, product_ids: list[int]) -> int:
    room = live.create_room(
        db,
        actor_for(scene.owner, {scene.shop.id: "owner"}),
        live.RoomInput(
            title="春季上新直播",
            scheduled_at=clock_module.now() + timedelta(hours=1),
            shop_id=scene.shop.id,
            product_ids=product_ids,
        ),
    )
    return room.id


def _hidden(page: str, name: str) -> str | None:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    return found.group(1) if found else None


def _buy_now(c: Any, scene: Scene, query: str) -> Any:
    """The product page's buy form, as the page renders it, then checkout's form."""
    page = c.get(f"/p/{scene.product.id}{query}")
    assert page.status_code == 200
    form = {"sku_id": scene.sku_id, "quantity": 1, "buy_now": "1", "csrf_token": _csrf(c)}
    for name in ("channel", "channel_id"):
        value = _hidden(page.text, name)
        if value is not None:
            form[name] = value
    r = c.post("/cart/items", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    page = c.get(target)
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)" class="form">', page.text)
    assert action is not None
    data = {
        "csrf_token": _csrf(c),
        "sku_id": str(scene.sku_id),
        "quantity": "1",
        "address_id": str(scene.address_id),
        "form_key": re.search(r'name="form_key" value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
    }
    for name in ("channel", "channel_id"):
        value = _hidden(page.text, name)
        if value is not None:
            data[name] = value
    done = c.post(action.group(1).replace("&amp;", "&"), data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    return target


def _last_order(db: Session) -> tuple[str, int | None]:
    db.expire_all()
    order = db.scalars(select(Order).order_by(Order.id.desc())).first()
    assert order is not None
    db.rollback()
    return order.channel, order.channel_ref_id


def test_live_room_to_checkout_attributes_the_order_to_the_room(
    db: Session, scene: Scene, login_client: Any
) -> None:
    room_id = _room(db, scene, [scene.product.id])
    c = login_client(scene.buyer)
    room_page = c.get(f"/live/{room_id}")
    assert room_page.status_code == 200
    link = f"/p/{scene.product.id}?channel=live&amp;channel_id={room_id}"
    assert link in room_page.text  # the 小黄车 links carry the room
    target = _buy_now(c, scene, link.replace("&amp;", "&")[len(f"/p/{scene.product.id}") :])
    assert target == f"/checkout?sku={scene.sku_id}&qty=1&channel=live&channel_id={room_id}"
    assert _last_order(db) == ("live", room_id)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?channel=live&channel_id=abc",
        "?channel=live&channel_id=-1",
        "?channel=live&channel_id=99999999999",
        "?channel=live&channel_id=１２",
        "?channel=shelfish&channel_id=1",
        "?channel=live",
    ],
)
def test_malformed_claims_show_the_page_and_attribute_nothing(
    db: Session, scene: Scene, login_client: Any, query: str
) -> None:
    c = login_client(scene.buyer)
    page = c.get(f"/p/{scene.product.id}{query}")
    assert page.status_code == 200
    assert _hidden(page.text, "channel") is None
    _buy_now(c, scene, query)
    assert _last_order(db) == ("shelf", None)


def test_a_room_that_does_not_list_the_product_is_the_shelf(
    db: Session, scene: Scene, login_client: Any
) -> None:
    other = make_product(db, scene.shop, skus=[("标准", 500, 10)])
    room_id = _room(db, scene, [other.id])  # lists another product only
    c = login_client(scene.buyer)
    page = c.get(f"/p/{scene.product.id}?channel=live&channel_id={room_id}")
    assert _hidden(page.text, "channel_id") == str(room_id)  # carried, checked at checkout
    _buy_now(c, scene, f"?channel=live&channel_id={room_id}")
    assert _last_order(db) == ("shelf", None)
    _buy_now(c, scene, "?channel=live&channel_id=424242")  # no such room
    assert _last_order(db) == ("shelf", None)


def test_a_live_claim_is_proven_by_the_rooms_list(db: Session, scene: Scene) -> None:
    room_id = _room(db, scene, [scene.product.id])
    product = scene.product.id
    assert orders_lifecycle.prove_channel(db, "live", room_id, [product + 99, product]) == room_id
    assert orders_lifecycle.prove_channel(db, "live", room_id + 1, [product]) is None
    assert orders_lifecycle.prove_channel(db, "live", room_id, [product + 99]) is None


def test_video_claims_ride_the_same_fields_and_are_checked(
    db: Session, scene: Scene, login_client: Any
) -> None:
    c = login_client(scene.buyer)
    page = c.get(f"/p/{scene.product.id}?channel=video&channel_id=7")
    assert _hidden(page.text, "channel") == "video" and _hidden(page.text, "channel_id") == "7"
    target = _buy_now(c, scene, "?channel=video&channel_id=7")
    assert target.endswith("&channel=video&channel_id=7")
    assert _last_order(db) == ("shelf", None)  # no published video 7 features it


def test_cart_adds_are_attributed_at_buy_now_only(
    db: Session, scene: Scene, login_client: Any
) -> None:
    room_id = _room(db, scene, [scene.product.id])
    c = login_client(scene.buyer)
    r = c.post(
        "/cart/items",
        data={
            "sku_id": scene.sku_id,
            "quantity": 1,
            "channel": "live",
            "channel_id": str(room_id),
            "csrf_token": _csrf(c),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/cart"
    assert db.scalar(select(CartItem.sku_id)) == scene.sku_id
    db.rollback()


def test_api_checkout_checks_a_live_claim(
    db: Session, scene: Scene, api_client: Any, make_user: Any
) -> None:
    room_id = _room(db, scene, [scene.product.id])
    other = make_product(db, scene.shop, skus=[("标准", 500, 10)])
    api = api_client(scene.buyer)
    for sku_id, expected in [
        (scene.sku_id, ("live", room_id)),
        (other.skus[0].id, ("shelf", None)),
    ]:
        r = api.post(
            "/api/v1/checkout",
            json={
                "lines": [{"sku_id": sku_id, "quantity": 1}],
                "address_id": scene.address_id,
                "channel": {"type": "live", "id": room_id},
            },
        )
        assert r.status_code == 201, r.text
        assert (r.json()["orders"][0]["channel"], r.json()["orders"][0]["channel_ref_id"]) == (
            expected
        )


def test_old_product_links_redirect_to_the_page(client: Any, db: Session, scene: Scene) -> None:
    r = client.get(
        f"/products/{scene.product.id}?channel=live&channel_id=3", follow_redirects=False
    )
    assert r.status_code == 307
    assert r.headers["location"] == f"/p/{scene.product.id}?channel=live&channel_id=3"
    assert client.get("/products/abc").status_code == 422

"""Orders that come from a video's buy button carry channel "video" and the video's id,
checked on the server: a video that does not feature the product counts as the shelf."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.content.conftest import Scene
from xiaodian.orders.addresses import AddressInput, create_address
from xiaodian.orders.models import Order


def _address(scene: Scene) -> int:
    address = create_address(
        scene.db,
        scene.actor(scene.buyer),
        AddressInput(
            name="小王",
            phone="13900000001",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 100 号",
            is_default=True,
        ),
    )
    scene.db.commit()
    return address.id


def _orders(db: Any) -> list[tuple[str, int | None]]:
    db.commit()
    rows = db.execute(select(Order.channel, Order.channel_ref_id).order_by(Order.id)).all()
    db.commit()
    return [(c, r) for c, r in rows]


def test_api_checkout_from_a_video(scene: Scene, api_client: Any) -> None:
    product = scene.products[0]
    video = scene.post(scene.creator, product_ids=[product.id])
    elsewhere = scene.post(scene.creator, product_ids=[scene.products[1].id])
    address_id = _address(scene)
    buyer = api_client(scene.buyer)
    sku_id = product.skus[0].id

    def buy(channel: dict[str, Any] | None, key: str) -> int:
        body: dict[str, Any] = {
            "lines": [{"sku_id": sku_id, "quantity": 1}],
            "address_id": address_id,
            "from_cart": False,
        }
        if channel is not None:
            body["channel"] = channel
        r = buyer.post("/api/v1/checkout", json=body, headers={"Idempotency-Key": key})
        assert r.status_code in (200, 201), r.text
        return r.status_code

    assert buy({"type": "video", "id": video.id}, "video-key-1") in (200, 201)
    assert buy({"type": "video", "id": elsewhere.id}, "video-key-2") in (
        200,
        201,
    )  # not this product
    assert buy({"type": "video", "id": 999_999}, "video-key-3") in (200, 201)  # no such video
    assert buy(None, "video-key-4") in (200, 201)
    assert _orders(scene.db) == [
        ("video", video.id),
        ("shelf", None),
        ("shelf", None),
        ("shelf", None),
    ]


def test_buy_now_page_flow_from_a_video(scene: Scene, login_client: Any) -> None:
    product = scene.products[0]
    video = scene.post(scene.creator, product_ids=[product.id])
    address_id = _address(scene)
    browser = login_client(scene.buyer)
    token = browser.cookies.get("xd_csrf")
    sku_id = product.skus[0].id
    r = browser.post(
        "/cart/items",
        data={
            "csrf_token": token,
            "sku_id": sku_id,
            "quantity": 1,
            "buy_now": "1",
            "channel": "video",
            "channel_id": str(video.id),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    target = r.headers["location"]
    assert f"channel_id={video.id}" in target
    page = browser.get(target)
    assert page.status_code == 200 and f'name="channel_id" value="{video.id}"' in page.text
    form_key = page.text.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    r = browser.post(
        "/checkout",
        data={
            "csrf_token": token,
            "form_key": form_key,
            "from_cart": "0",
            "sku_id": sku_id,
            "quantity": 1,
            "address_id": address_id,
            "channel": "video",
            "channel_id": str(video.id),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert _orders(scene.db) == [("video", video.id)]

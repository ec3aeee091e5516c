"""The order list pages (buyer and merchant, HTML and JSON) cost the same number of SQL
statements for 2 orders as for 12: lines are loaded in one batch, nothing per order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_product
from tests.orders.conftest import Scene
from xiaodian import clock
from xiaodian.orders import service
from xiaodian.orders.checkout import checkout


def _place(db: Session, scene: Scene, n: int, other_sku: int) -> None:
    for i in range(n):
        order = checkout(
            db,
            scene.buyer_actor,
            lines=[(scene.sku_id, 1), (other_sku, 2)],
            address_id=scene.address_id,
            from_cart=False,
        ).orders[0]
        if i % 2:
            service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref=f"P{i}")
            db.commit()
    db.rollback()


def _count(count_queries: Any, c: Any, url: str, expect: int) -> int:
    c.get(url)  # warm up (template compilation, first-request caches)
    with count_queries() as counter:
        r = c.get(url)
    assert r.status_code == 200, r.text
    assert r.text.count(expect_marker(url)) >= expect
    return counter.count


def expect_marker(url: str) -> str:
    return '"order_no"' if url.startswith("/api/") else "/orders/"


def test_order_lists_do_not_grow_with_orders(
    db: Session,
    scene: Scene,
    login_client: Any,
    api_client: Any,
    count_queries: Any,
) -> None:
    other_sku = make_product(db, scene.shop, skus=[("大", 500, 100)]).skus[0].id
    buyer, owner = login_client(scene.buyer), login_client(scene.owner)
    buyer_api, owner_api = api_client(scene.buyer), api_client(scene.owner)
    shop_orders = f"/merchant/shops/{scene.shop.id}/orders"
    urls = [
        (buyer, "/orders"),
        (buyer, "/orders?tab=to_ship"),
        (owner, shop_orders),
        (owner, shop_orders + "?status=paid"),
        (buyer_api, "/api/v1/orders"),
        (owner_api, "/api/v1" + shop_orders),
    ]
    _place(db, scene, 2, other_sku)
    few = [_count(count_queries, c, url, 1) for c, url in urls]
    _place(db, scene, 10, other_sku)
    many = [_count(count_queries, c, url, 5) for c, url in urls]
    assert many == few, list(zip([u for _c, u in urls], few, many, strict=True))
    assert max(many) <= 8  # and a small number at that

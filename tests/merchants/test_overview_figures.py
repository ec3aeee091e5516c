"""The console overview's trading figures: paid orders and GMV of the Shanghai business
day and of the last 7 days, refunds beside them, orders to ship, after-sales waiting and
products by status, in a constant number of queries, for the shop's people only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from xiaodian import clock as clock_module
from xiaodian.actor import Actor
from xiaodian.catalog.models import ProductStatus
from xiaodian.orders import addresses, service
from xiaodian.orders.addresses import AddressInput
from xiaodian.orders.checkout import checkout

# 00:30 on 11 March in Shanghai (16:30 UTC on the 10th): "today" began 30 minutes ago.
NOW = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)


class World:
    def __init__(self, db: Session, make_user: Any) -> None:
        self.owner = make_user()
        self.staff = make_user()
        self.buyer = make_user()
        self.shop = make_shop(db, self.owner, staff=self.staff)
        self.other_shop = make_shop(db, make_user())
        self.sku = make_product(db, self.shop, skus=[("标准", 1000, 500)]).skus[0].id
        self.other_sku = make_product(db, self.other_shop, skus=[("标准", 7000, 50)]).skus[0].id
        make_product(db, self.shop, status=ProductStatus.UNDER_REVIEW)
        make_product(db, self.shop, status=ProductStatus.UNDER_REVIEW)
        buyer = Actor(user_id=self.buyer.id, display_name="买家", shop_roles={})
        self.buyer_actor = buyer
        self.address_id = addresses.create_address(
            db,
            buyer,
            AddressInput(
                name="李四",
                phone="13900139000",
                province="上海市",
                city="上海市",
                district="徐汇区",
                detail="漕溪北路 1 号",
            ),
        ).id

    def order(self, db: Session, qty: int, paid_at: datetime | None, sku: int = 0) -> int:
        order = checkout(
            db, self.buyer_actor, lines=[(sku or self.sku, qty)], address_id=self.address_id
        ).orders[0]
        if paid_at is not None:
            service.mark_paid(db, order_ids=[order.id], paid_at=paid_at, payment_ref=f"P{order.id}")
            db.commit()
        return order.id


def _fill(db: Session, world: World) -> None:
    world.order(db, 1, NOW - timedelta(minutes=10))  # today: ¥10
    refunded = world.order(db, 3, NOW - timedelta(minutes=20))  # today: ¥30
    world.order(db, 2, NOW - timedelta(minutes=31))  # 23:59 yesterday: week only, ¥20
    world.order(db, 4, NOW - timedelta(days=6, minutes=29))  # 00:01 six days ago: ¥40
    world.order(db, 5, NOW - timedelta(days=6, minutes=31))  # 23:59 seven days ago: out
    world.order(db, 9, None)  # not paid: out
    world.order(db, 1, NOW - timedelta(minutes=5), sku=world.other_sku)  # another shop
    service.apply_refund(db, order_id=refunded, amount_fen=1200, refund_ref="R1")
    db.commit()


def test_shop_summary_uses_the_shanghai_day_and_keeps_refunds_apart(
    db: Session, make_user: Any, clock: Any
) -> None:
    clock.set(NOW)
    world = World(db, make_user)
    empty = service.shop_summary(db, shop_id=world.shop.id, today=clock_module.today())
    assert (empty.today_orders, empty.week_gmv_fen, empty.to_ship) == (0, 0, 0)
    _fill(db, world)
    s = service.shop_summary(db, shop_id=world.shop.id, today=clock_module.today())
    assert (s.today_orders, s.today_gmv_fen) == (2, 4000)
    assert (s.week_orders, s.week_gmv_fen) == (4, 10000)  # 10 + 30 + 20 + 40 yuan
    assert s.to_ship == 5  # every paid order of the shop, whenever paid
    assert (s.today_refunded_fen, s.week_refunded_fen) == (1200, 1200)
    yesterday = service.shop_summary(
        db, shop_id=world.shop.id, today=clock_module.today() - timedelta(days=1)
    )
    assert (yesterday.today_orders, yesterday.today_gmv_fen) == (1, 2000)
    assert yesterday.today_refunded_fen == 0


def _figure(page: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">\s*<span[^>]*>[^<]*</span>\s*<b>([^<]*)</b>', page)
    assert found, name
    return found.group(1)


def test_overview_page_shows_the_figures_with_links(
    db: Session, make_user: Any, clock: Any, login_client: Any
) -> None:
    clock.set(NOW)
    world = World(db, make_user)
    _fill(db, world)
    page = login_client(world.staff).get(f"/merchant/shops/{world.shop.id}")
    assert page.status_code == 200
    text = page.text
    assert _figure(text, "today-orders") == "2"
    assert _figure(text, "today-gmv") == "¥40.00"
    assert _figure(text, "week-gmv") == "¥100.00"
    assert _figure(text, "to-ship") == "5"
    assert _figure(text, "aftersales") == "0"
    assert _figure(text, "on-sale") == "1"
    assert _figure(text, "under-review") == "2"
    assert "¥12.00" in text  # the refund, shown beside GMV
    for link in ("orders?status=paid", "products?status=on_sale", "products?status=under_review"):
        assert f"/merchant/shops/{world.shop.id}/{link}" in text
    assert f"/merchant/shops/{world.shop.id}/aftersales" in text


def test_overview_is_for_the_shops_people_only(
    db: Session, make_user: Any, login_client: Any, client: Any
) -> None:
    world = World(db, make_user)
    url = f"/merchant/shops/{world.shop.id}"
    assert login_client(world.owner).get(url).status_code == 200
    assert login_client(world.buyer).get(url).status_code == 404
    assert login_client(world.buyer).get("/merchant/shops/999999").status_code == 404
    assert login_client(world.owner).get("/merchant/shops/abc").status_code == 422
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # A visitor is asked to sign in first, whatever the address (as the API answers 401).
    r = client.get("/merchant/shops/abc", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_overview_queries_do_not_grow_with_orders(
    db: Session, make_user: Any, clock: Any, login_client: Any, count_queries: Any
) -> None:
    clock.set(NOW)
    world = World(db, make_user)
    c = login_client(world.owner)
    url = f"/merchant/shops/{world.shop.id}"

    def count() -> int:
        with count_queries() as counter:
            assert c.get(url).status_code == 200
        return counter.count

    before = count()
    _fill(db, world)
    for _ in range(5):
        world.order(db, 1, NOW - timedelta(hours=1))
    assert count() == before

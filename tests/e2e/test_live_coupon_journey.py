"""A live-room coupon in a real browser: a viewer in a room on air claims the room's
coupon from the strip under the pinned product, buys the pinned product with it, and the
order carries the discount."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts
from xiaodian.campaigns import templates
from xiaodian.content.live import service as live
from xiaodian.orders.models import Order

pytestmark = pytest.mark.e2e


def test_a_viewer_claims_the_rooms_coupon_and_buys_with_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        host = accounts.register(db, login="13600000051", password="merchant123")
        buyer = accounts.register(db, login="13900000051", password="buyer1234")
        shop = make_shop(db, host, name="山野茶铺")
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 50)])
        make_address(db, buyer.id)
        actor = actor_for(host, {shop.id: "owner"})
        room = live.create_room(
            db,
            actor,
            live.RoomInput(
                title="春茶上新",
                scheduled_at=clock.now() + timedelta(minutes=5),
                shop_id=shop.id,
                product_ids=[tea.id],
            ),
        )
        room_id = room.id
        now = clock.now()
        templates.create_shop_template(
            db,
            actor,
            shop.id,
            templates.TemplateInput(
                name="直播间专享满200减30",
                kind="threshold",
                level="shop",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
                quantity=100,
                off_fen=3000,
                min_spend_fen=20000,
                audience="live_room",
                room_id=room_id,
            ),
        )
        live.transition(db, actor, room_id, "go_live")
        live.pin_product(db, actor, room_id, tea.id)

    page = new_page()
    sign_in(page, "13900000051", "buyer1234")
    page.goto(f"/live/{room_id}")
    strip = page.locator("[data-testid=room-coupons]")
    strip.wait_for(state="visible")
    assert "直播间专享满200减30" in strip.inner_text()
    strip.locator("button").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=room-coupons] button').textContent === '已领取'"
    )
    shot(page, "live-coupon-claimed")
    page.click("#pinned-product a")
    page.wait_for_url(f"**/p/{tea.id}**")
    page.click("#buy-now")
    page.wait_for_url("**/checkout**")
    text = page.locator("main").inner_text()
    assert "直播间专享满200减30" in text and "¥238.00" in text
    shot(page, "live-coupon-checkout")
    page.click(".checkout-bar button")
    page.wait_for_url("**/sandbox/cashier/**")
    with live_server.database.session(write=False) as db:
        order = db.scalars(select(Order)).one()
        assert (order.total_fen, order.discount_fen) == (23800, 3000)

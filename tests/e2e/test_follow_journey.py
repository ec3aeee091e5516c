"""Following in a real browser: a buyer follows a shop from its page in one tap, finds its
coupon and live room on the "following" page, and unfollows from there in one tap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import actor_for, make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts
from xiaodian.campaigns import templates
from xiaodian.content.live import service as live

pytestmark = pytest.mark.e2e


def test_a_buyer_follows_a_shop_and_sees_what_it_does(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000061", password="merchant123")
        accounts.register(db, login="13900000061", password="buyer1234")
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
        merchant = actor_for(owner, {shop.id: "owner"})
        now = clock.now()
        templates.create_shop_template(
            db,
            merchant,
            shop.id,
            templates.TemplateInput(
                name="粉丝专享无门槛5元",
                kind="no_threshold",
                level="shop",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=3),
                quantity=50,
                off_fen=500,
                audience="followers",
            ),
        )
        room = live.create_room(
            db,
            merchant,
            live.RoomInput(
                title="春茶上新",
                scheduled_at=now + timedelta(minutes=5),
                shop_id=shop.id,
                product_ids=[tea.id],
            ),
        )
        live.transition(db, merchant, room.id, "go_live")
        shop_id = shop.id

    page = new_page()
    sign_in(page, "13900000061", "buyer1234")
    page.goto(f"/shops/{shop_id}")
    button = page.locator("[data-testid=follow]")
    assert button.inner_text() == "+ 关注"
    button.click()
    page.wait_for_url(f"**/shops/{shop_id}")
    assert page.locator("[data-testid=follow]").inner_text() == "已关注"
    assert "1 位粉丝" in page.locator("[data-testid=followers]").inner_text()
    shot(page, "follow-shop")
    page.goto("/me/following")
    assert "春茶上新" in page.locator("[data-testid=following-rooms]").inner_text()
    coupons = page.locator("[data-testid=following-coupons]")
    assert "粉丝专享无门槛5元" in coupons.inner_text()
    coupons.locator("button").click()
    page.wait_for_url("**/me/coupons")
    assert "粉丝专享无门槛5元" in page.locator("main").inner_text()
    page.goto("/me/following")
    shot(page, "following-page")
    page.locator("[data-testid=following-list] [data-testid=follow]").click()
    page.wait_for_url("**/me/following")
    assert page.locator("[data-testid=following-list]").count() == 0

"""Coupons at checkout in a real browser: the cart and checkout pages say which coupon
applies and which does not and why, and the order costs what checkout showed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts
from xiaodian.campaigns import claims, templates
from xiaodian.orders.models import Order

pytestmark = pytest.mark.e2e


def _template(db: Any, owner: Any, shop_id: int, name: str, off: int, minimum: int) -> int:
    now = clock.now()
    made = templates.create_shop_template(
        db,
        actor_for(owner, {shop_id: "owner"}),
        shop_id,
        templates.TemplateInput(
            name=name,
            kind="threshold",
            level="shop",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=7),
            quantity=10,
            off_fen=off,
            min_spend_fen=minimum,
        ),
    )
    return int(made.id)


def test_the_cart_and_checkout_explain_the_coupons(live_server: LiveServer, new_page: Any) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000031", password="merchant123")
        buyer = accounts.register(db, login="13900000031", password="buyer1234")
        shop = make_shop(db, owner)
        tea = make_product(db, shop, title="西湖龙井", skus=[("罐装", 26800, 8)])
        make_address(db, buyer.id)
        fits = _template(db, owner, shop.id, "满200减30", 3000, 20000)
        second = _template(db, owner, shop.id, "满100减10", 1000, 10000)
        for template_id in (fits, second):
            claims.claim(db, actor_for(buyer), template_id)
        tea_id, sku_id = tea.id, tea.skus[0].id

    page = new_page()
    sign_in(page, "13900000031", "buyer1234")
    page.goto(f"/p/{tea_id}")
    page.click("#add-to-cart")
    page.wait_for_load_state()
    page.goto("/cart")
    cart = page.locator("main").inner_text()
    assert "满200减30" in cart and "−¥30.00" in cart
    assert "已有同类优惠券生效" in cart and "¥238.00" in cart
    page.locator("section.coupons").scroll_into_view_if_needed()
    shot(page, "coupons-cart")

    page.goto(f"/checkout?sku={sku_id}&qty=1")
    text = page.locator("main").inner_text()
    assert "满200减30" in text and "不可用" in text and "¥238.00" in text
    page.locator("section.coupons").scroll_into_view_if_needed()
    shot(page, "coupons-checkout")
    page.click(".checkout-bar button")
    page.wait_for_url("**/sandbox/cashier/**")
    with live_server.database.session(write=False) as db:
        order = db.scalars(select(Order)).one()
        assert (order.total_fen, order.discount_fen) == (23800, 3000)

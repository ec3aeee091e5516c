"""A limited-time discount in a real browser: the merchant creates one from the console,
the buyer sees the discounted price with the regular one struck through and a countdown,
and the cart charges it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts

pytestmark = pytest.mark.e2e


def test_a_merchant_discounts_a_sku_and_the_buyer_sees_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000041", password="merchant123")
        buyer = accounts.register(db, login="13900000041", password="buyer1234")
        shop = make_shop(db, owner)
        tea = make_product(db, shop, title="西湖龙井", skus=[("罐装", 26800, 8)])
        make_address(db, buyer.id)
        shop_id, tea_id, sku_id = shop.id, tea.id, tea.skus[0].id

    merchant = new_page()
    sign_in(merchant, "13600000041", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/discounts")
    form = merchant.locator("[data-testid=discount-form]")
    form.locator("input[name=name]").fill("午夜特惠")
    form.locator("input[name=rate_percent]").fill("80")
    form.locator(f"input[name=sku_ids][value='{sku_id}']").check()
    form.locator("button").click()
    merchant.wait_for_load_state()
    row = merchant.locator("[data-testid=discount-list] tr[data-state=on]")
    assert "午夜特惠" in row.inner_text() and "进行中" in row.inner_text()
    shot(merchant, "discount-console")

    page = new_page()
    sign_in(page, "13900000041", "buyer1234")
    page.goto(f"/p/{tea_id}")
    assert page.locator("#price").inner_text() == "¥214.40"
    assert page.locator("#list-price").inner_text() == "¥268.00"
    deal = page.locator("[data-testid=deal]")
    assert "限时折扣" in deal.inner_text()
    page.wait_for_function("document.querySelector('.countdown').textContent.startsWith('距结束')")
    shot(page, "discount-product")
    page.click("#add-to-cart")
    page.wait_for_load_state()
    page.goto("/cart")
    assert "¥214.40" in page.locator("main").inner_text()
    page.goto(f"/shops/{shop_id}")
    tile = page.locator(f".product-tile[data-product-id='{tea_id}']")
    assert "¥214.40" in tile.inner_text() and "限时折扣" in tile.inner_text()
    page.wait_for_function(
        "document.querySelector('.product-tile .countdown').textContent.startsWith('距结束')"
    )
    shot(page, "discount-list")

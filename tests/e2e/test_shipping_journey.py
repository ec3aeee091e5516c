"""Shipping templates in a real browser: a merchant writes one in the console (by piece,
one province rule), the buyer's checkout shows the shop's fee to the chosen address and
the total with it, and the payment takes that total."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.orders.models import Order

pytestmark = pytest.mark.e2e


def _orders(live_server: LiveServer) -> list[Order]:
    with live_server.database.session(write=False) as db:
        return list(db.scalars(select(Order)))


def test_a_template_made_in_the_console_sets_the_fee_the_buyer_pays(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000071", password="merchant123")
        buyer = accounts.register(db, login="13900000071", password="buyer1234")
        shop = make_shop(db, owner)
        tea = make_product(db, shop, title="安吉白茶", skus=[("罐装", 12800, 8)])
        make_address(db, buyer.id)  # 浙江省, the default
        make_address(db, buyer.id, province="新疆", city="乌鲁木齐市", is_default=False)
        shop_id, sku_id = shop.id, tea.skus[0].id

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000071", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/shipping")
    form = merchant.locator("[data-testid=shipping-form]")
    form.locator("input[name=name]").fill("全国包邮外")
    form.locator("input[name=first_fee]").fill("8")
    form.locator("input[name=extra_fee]").fill("2")
    form.locator("input[name=region_province][value=新疆维吾尔自治区]").check()
    form.locator("input[name=region_first_fee]").fill("20")
    form.locator("input[name=region_extra_fee]").fill("10")
    form.locator("input[name=is_default]").check()
    form.locator("button.primary").click()
    merchant.wait_for_load_state()
    table = merchant.locator("[data-testid=shipping-templates]").inner_text()
    assert "全国包邮外" in table and "默认" in table and "新疆维吾尔自治区" in table, table
    shot(merchant, "shipping-templates")

    page = new_page()
    sign_in(page, "13900000071", "buyer1234")
    page.goto(f"/checkout?sku={sku_id}&qty=2")
    fee = page.locator("[data-testid=shop-shipping]").inner_text()
    assert "¥10.00" in fee, fee  # ¥8 for the first, ¥2 for the second
    assert page.locator("[data-testid=checkout-total]").inner_text() == "¥266.00"
    # Another address: the page shows the fee to it.
    page.locator("label.address-choice", has_text="新疆").locator("input").click()
    page.wait_for_url("**address=**")
    fee = page.locator("[data-testid=shop-shipping]").inner_text()
    assert "¥30.00" in fee, fee  # 新疆: ¥20 + ¥10
    assert page.locator("[data-testid=checkout-total]").inner_text() == "¥286.00"
    shot(page, "shipping-checkout")
    page.click(".checkout-bar button")
    page.wait_for_url("**/sandbox/cashier/**")
    assert "286.00" in page.locator("main").inner_text()
    (order,) = _orders(live_server)
    assert (order.items_fen, order.shipping_fen, order.total_fen) == (25600, 3000, 28600)
    page.click("form.cashier-pay button")
    page.wait_for_url("**/orders**", timeout=20_000)
    wait_for(lambda: _orders(live_server)[0].paid_fen == 28600)

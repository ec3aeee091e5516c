"""Samples (寄样) in a real browser: a creator without an address finds a product in the
marketplace and asks for a sample from its row; the page names the product and sends them
to add an address first, then back; the request shows "requested" on both sides; the
merchant approves it from the shop's samples page, ships the zero-price sample order from
its order page, and the creator sees it shipped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import actor_for, make_product, make_shop
from xiaodian import clock as clock_module
from xiaodian.accounts import service as accounts
from xiaodian.affiliates import plans
from xiaodian.orders.models import Order


def _sample_order(live_server: LiveServer, shop_id: int) -> Order:
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.shop_id == shop_id))
        assert order is not None and order.channel == "sample" and order.total_fen == 0
        return order


def test_a_creator_asks_for_a_sample_from_the_marketplace_and_the_shop_ships_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000071", password="merchant123")
        creator = accounts.register(db, login="13700000071", password="creator123")
        creator.is_creator = True
        db.commit()
        shop = make_shop(db, owner, name="山野茶铺")
        shop_id = shop.id
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        tea_id = tea.id
        plans.create_plan(
            db,
            actor_for(owner, {shop_id: "owner"}),
            shop_id,
            product_id=tea_id,
            terms=plans.PlanTerms("open", 15, clock_module.now() - timedelta(days=1)),
        )

    page = new_page()
    sign_in(page, "13700000071", "creator123")
    page.goto("/market")
    row = page.locator(f"[data-testid=market] tr[data-product-id='{tea_id}']")
    row.locator("[data-testid=request-sample]").click()
    page.wait_for_url(f"**/me/samples?product={tea_id}")
    assert "明前西湖龙井 250g" in page.locator("[data-testid=sample-product]").inner_text()
    assert page.input_value("input[name=product_id]") == str(tea_id)
    # No address yet: the page says so and the link comes back here after adding one.
    page.click("a:has-text('新增收货地址')")
    page.fill("input[name=name]", "茶小白")
    page.fill("input[name=phone]", "13700000071")
    page.fill("input[name=province]", "浙江省")
    page.fill("input[name=city]", "杭州市")
    page.fill("input[name=district]", "西湖区")
    page.fill("input[name=detail]", "龙井路 1 号")
    page.click("button:has-text('保存')")
    page.wait_for_url(f"**/me/samples?product={tea_id}")
    assert page.input_value("input[name=product_id]") == str(tea_id)
    page.fill("input[name=note]", "想做一期开箱视频")
    page.click("button:has-text('申请寄样')")
    page.wait_for_load_state()
    mine = page.locator("[data-testid=samples] li[data-stage]")
    assert mine.count() == 1 and mine.first.get_attribute("data-stage") == "requested"
    assert "明前西湖龙井 250g" in mine.first.inner_text()
    shot(page, "creator-samples")

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000071", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/samples")
    request = merchant.locator("[data-testid=samples] li[data-stage=requested]")
    assert "想做一期开箱视频" in request.inner_text()
    counts = merchant.locator("[data-testid=sample-counts]")
    assert counts.locator("li[data-stage=requested]").inner_text() == "待商家处理: 1"
    shot(merchant, "merchant-samples")
    request.locator("button:has-text('通过')").click()
    merchant.wait_for_load_state()
    approved = merchant.locator("[data-testid=samples] li[data-sample]").first
    assert approved.get_attribute("data-stage") == "approved"
    assert approved.locator("button").count() == 0  # answered: nothing more to decide

    # The approval placed a zero-price order, paid, that ships as any order.
    order = _sample_order(live_server, shop_id)
    assert order.status == "paid"
    merchant.goto(f"/merchant/shops/{shop_id}/orders/{order.order_no}")
    merchant.select_option("select[name=carrier]", "SF")
    merchant.fill("input[name=tracking_no]", "SF1234567890071")
    merchant.click("form[action$='/ship'] button")
    merchant.wait_for_load_state()
    assert _sample_order(live_server, shop_id).status == "shipped"

    page.goto("/me/samples")
    assert mine.first.get_attribute("data-stage") == "shipped"
    assert "已发货" in mine.first.inner_text()

"""The closed loop in a real browser: two products from two shops in one cart, checkout, the
sandbox cashier, shipping, receipt, a return, the merchant's approval and the refund."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.aftersales.models import AftersaleCase, CaseStatus
from xiaodian.catalog.models import Sku
from xiaodian.orders.models import Order


def _orders(live_server: LiveServer) -> list[Order]:
    with live_server.database.session(write=False) as db:
        return list(db.scalars(select(Order).order_by(Order.id)))


def test_buy_from_two_shops_pay_ship_receive_return_and_refund(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner_a = accounts.register(db, login="13600000011", password="merchant123")
        owner_b = accounts.register(db, login="13600000012", password="merchant123")
        accounts.register(db, login="13900000011", password="buyer1234", display_name="小买")
        shop_a = make_shop(db, owner_a, name="花间衣橱")
        shop_b = make_shop(db, owner_b, name="山野茶铺")
        dress = make_product(db, shop_a, title="夏季碎花连衣裙", skus=[("M", 12900, 5)])
        tea = make_product(db, shop_b, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        dress_id, tea_id, shop_a_id = dress.id, tea.id, shop_a.id
        dress_sku = dress.skus[0].id

    buyer = new_page()
    sign_in(buyer, "13900000011", "buyer1234")
    # An address first (a buyer is asked for one at checkout otherwise).
    buyer.goto("/addresses/new")
    buyer.fill("input[name=name]", "李小买")
    buyer.fill("input[name=phone]", "13900000011")
    buyer.fill("input[name=province]", "浙江省")
    buyer.fill("input[name=city]", "杭州市")
    buyer.fill("input[name=district]", "西湖区")
    buyer.fill("input[name=detail]", "文三路 100 号")
    buyer.check("input[name=is_default]")
    buyer.click("form button.primary")
    buyer.wait_for_load_state()

    for product_id, value in ((dress_id, "M"), (tea_id, "罐装")):
        buyer.goto(f"/p/{product_id}")
        chip = buyer.locator(f"button.spec-chip[data-value='{value}']")
        if chip.get_attribute("aria-pressed") != "true":  # a lone value comes pre-chosen
            chip.click()
        buyer.click("#add-to-cart")
        buyer.wait_for_load_state()

    buyer.goto("/cart")
    for box in buyer.locator("input[name=item]").all():
        box.check()
    shot(buyer, "cart")
    buyer.click("button[form=cart-checkout]")
    buyer.wait_for_url("**/checkout**")
    shot(buyer, "checkout")
    buyer.click("form[action^='/checkout'] button.primary")

    # One order per shop, both paid at once in the sandbox cashier.
    buyer.wait_for_url("**/sandbox/cashier/**")
    orders = _orders(live_server)
    assert sorted(o.shop_id for o in orders) == sorted([shop_a_id, shop_a_id + 1])
    assert sum(o.total_fen for o in orders) == 12900 + 26800
    shot(buyer, "sandbox-cashier")
    buyer.click("form.cashier-pay button")
    buyer.wait_for_url("**/orders**", timeout=20_000)
    wait_for(lambda: all(o.status == "paid" for o in _orders(live_server)))
    dress_order = next(o for o in _orders(live_server) if o.shop_id == shop_a_id)

    # The dress shop ships.
    merchant = new_page(phone=False)
    sign_in(merchant, "13600000011", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_a_id}/orders")
    shot(merchant, "merchant-orders")
    merchant.goto(f"/merchant/shops/{shop_a_id}/orders/{dress_order.order_no}")
    merchant.select_option("select[name=carrier]", "SF")
    merchant.fill("input[name=tracking_no]", "SF1234567890123")
    merchant.click("form[action$='/ship'] button")
    merchant.wait_for_load_state()
    assert next(o for o in _orders(live_server) if o.id == dress_order.id).status == "shipped"

    # The buyer confirms receipt, then asks to return it.
    buyer.goto(f"/orders/{dress_order.order_no}")
    assert buyer.locator("text=SF1234567890123").count() > 0
    buyer.click(f"form[action='/orders/{dress_order.order_no}/confirm'] button")
    buyer.wait_for_load_state()
    shot(buyer, "order-detail")
    buyer.click("a[href*='/aftersales/new']")
    buyer.check("input[name=kind][value=return_refund]")
    buyer.fill("textarea[name=description]", "尺码偏小，想退货。")
    buyer.click("form[action$='/aftersales/new'] button[type=submit]")
    buyer.wait_for_url("**/aftersales/*")
    case_url = buyer.url

    merchant.goto(f"/merchant/shops/{shop_a_id}/aftersales")
    shot(merchant, "merchant-aftersales")
    merchant.click("a[href*='/aftersales/']:not([href$='/aftersales'])")
    merchant.click("form[action$='/approve'] button")
    merchant.wait_for_load_state()

    buyer.goto(case_url)
    buyer.fill("input[name=carrier]", "顺丰")
    buyer.fill("input[name=tracking_no]", "SF9876543210987")
    buyer.click("form[action$='/ship-back'] button")
    buyer.wait_for_load_state()

    merchant.reload()
    merchant.click("form[action$='/confirm-return'] button")
    merchant.wait_for_load_state()

    def refunded() -> bool:
        with live_server.database.session(write=False) as db:
            case = db.scalar(select(AftersaleCase))
            return case is not None and case.status == CaseStatus.REFUNDED

    wait_for(refunded, timeout=30)
    buyer.goto(case_url)
    shot(buyer, "aftersale-refunded")
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.order_no == dress_order.order_no))
        assert order is not None and order.refunded_fen == 12900
        sku = db.get(Sku, dress_sku)
        assert sku is not None
        # Returned and restocked: 5 received, 5 on hand again, nothing sold.
        assert (sku.stock_on_hand, sku.stock_reserved, sku.stock_sold) == (5, 0, 0)

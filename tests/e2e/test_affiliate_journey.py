"""A promoter's journey in a real browser: the merchant puts a product in a 普通 plan; the
creator picks it from the marketplace into their showcase, which gives them its tracked link
(and a poster); a buyer opens it signed out (as from Moments), lands on the
product, signs in and buys; once paid the commission shows pending with its date; the
clock moves past settlement and it is available; the promoter withdraws it and an
operator pays it out. A second buyer through the same link is refunded in full inside the
window, and that commission goes to zero."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, _scratch, shot, sign_in, wait_for
from tests.factories import make_address, make_product, make_shop
from xiaodian import clock as clock_module
from xiaodian.accounts import service as accounts
from xiaodian.ledger import settlement
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments import service as payments


@pytest.fixture
def frozen(live_server: LiveServer) -> Iterator[clock_module.FrozenClock]:
    clock = clock_module.FrozenClock(clock_module.now().replace(microsecond=0))
    previous = clock_module.use(clock)
    yield clock
    clock_module.use(previous)


def _order(live_server: LiveServer, order_no: str) -> Order:
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.order_no == order_no))
        assert order is not None
        return order


def test_a_link_opened_signed_out_earns_its_promoter_a_commission(
    live_server: LiveServer, new_page: Any, frozen: clock_module.FrozenClock
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000041", password="merchant123")
        creator_user = accounts.register(db, login="13700000041", password="creator123")
        creator_user.is_creator = True
        db.commit()
        buyer = accounts.register(db, login="13900000041", password="buyer1234")
        shop = make_shop(db, owner, name="山野茶铺")
        shop_id = shop.id
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        tea_id, sku_id = tea.id, tea.skus[0].id
        address_id = make_address(db, buyer.id, name="李小买", phone="13900000041")

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000041", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/affiliates")
    merchant.fill("input[name=product_id]", str(tea_id))
    merchant.fill("input[name=rate_pct]", "91")
    merchant.click("button:has-text('创建计划')")
    merchant.wait_for_load_state()
    assert "0 至 90" in merchant.locator("[role=alert]").inner_text()
    merchant.fill("input[name=rate_pct]", "15")
    merchant.click("button:has-text('创建计划')")
    merchant.wait_for_load_state()
    assert "15%" in merchant.locator("[data-testid=plans] tbody tr").first.inner_text()
    shot(merchant, "merchant-affiliate-plans")

    creator = new_page()
    sign_in(creator, "13700000041", "creator123")
    # The creator picks the product from the marketplace into their showcase: its tracked
    # link is made with it, the one they share.
    creator.goto("/market")
    offer = creator.locator(f"[data-testid=market] tr[data-product-id='{tea_id}']")
    assert "15%" in offer.inner_text() and "¥40.20" in offer.inner_text()
    offer.locator("button:has-text('加入我的橱窗')").click()
    creator.wait_for_load_state()
    assert "已在橱窗" in creator.locator(f"tr[data-product-id='{tea_id}']").inner_text()
    creator.goto("/me/links")
    code = creator.locator("[data-testid=links] li").first.get_attribute("data-code")
    assert code
    shot(creator, "promoter-links")
    poster = creator.request.get(f"/me/posters/{tea_id}.png")
    assert poster.status == 200 and poster.body()[:8] == b"\x89PNG\r\n\x1a\n"
    (_scratch() / "promoter-poster.png").write_bytes(poster.body())  # to look at

    visitor = new_page()  # from Moments: nobody signed in
    visitor.goto(f"/s/{code}")
    assert f"/p/{tea_id}?aff={code}" in visitor.url
    assert "明前西湖龙井" in visitor.content()
    shot(visitor, "tracked-link-landing")
    sign_in(visitor, "13900000041", "buyer1234")
    visitor.goto(f"/checkout?sku={sku_id}&qty=1")
    visitor.click("form[action^='/checkout'] button.primary")
    visitor.wait_for_load_state()

    with live_server.database.session() as db:
        buyer_actor = accounts.actor_for_user(db, accounts.get(db, buyer.id))
        order = db.scalar(select(Order).where(Order.buyer_id == buyer.id))
        assert order is not None and address_id
        order_no = order.order_no
        start = payments.start_payment(db, buyer_actor, order_nos=[order_no], method="sandbox")
        payments.sandbox_pay(db, buyer_actor, start.out_trade_no)
        delivery.deliver_due(db, out_trade_no=start.out_trade_no)
    wait_for(lambda: _order(live_server, order_no).status == "paid")

    creator.goto("/me/earnings")
    assert creator.locator("[data-balance=pending]").inner_text() == "¥40.20"
    row = creator.locator("[data-testid=commissions] tbody tr").first
    assert order_no in row.inner_text() and "待结算" in row.inner_text()
    shot(creator, "promoter-commission-pending")

    with live_server.database.session() as db:
        owner_actor = accounts.actor_for_user(db, accounts.get(db, owner.id))
        fulfilment.ship_order(
            db, owner_actor, shop_id, order_no, carrier="SF", tracking_no="SF123456789012"
        )
        orders_service.confirm_receipt(db, buyer_actor, order_no)
    frozen.advance(timedelta(days=7, seconds=1))
    with live_server.database.session() as db:
        assert settlement.settle_due(db) == 1
    creator.reload()
    assert creator.locator("[data-balance=available]").inner_text() == "¥40.20"
    assert creator.locator("[data-balance=pending]").inner_text() == "¥0.00"
    shot(creator, "promoter-commission-available")

    # The promoter withdraws what is available; finance approves; the sandbox pays it out.
    creator.fill("[data-testid=withdraw] input[name=amount]", "40.20")
    creator.click("[data-testid=withdraw] button.primary")
    creator.wait_for_url("**/me/earnings?withdrawn=1")
    assert creator.locator("[data-balance=withdrawing]").inner_text() == "¥40.20"
    with live_server.database.session() as db:
        operator = accounts.create_operator(db, login="ops-pay@example.com", password="op123456")
        from xiaodian.actor import Actor
        from xiaodian.ledger import withdrawals

        ops = Actor(user_id=operator.id, is_operator=True)
        (waiting,) = withdrawals.queue(db, ops)
        assert waiting.promoter_id is not None and waiting.amount_fen == 4020
        assert withdrawals.approve(db, ops, waiting.id).status == "paid"
    creator.reload()
    assert creator.locator("[data-balance=withdrawn]").inner_text() == "¥40.20"
    assert creator.locator("[data-balance=available]").inner_text() == "¥0.00"
    shot(creator, "promoter-withdrawn")

    # A second buyer through the link, refunded in full inside the window: commission 0.
    with live_server.database.session() as db:
        second = accounts.register(db, login="13900000042", password="buyer1234")
        second_address = make_address(db, second.id, name="王二", phone="13900000042")
    other = new_page()
    other.goto(f"/s/{code}")
    sign_in(other, "13900000042", "buyer1234")
    other.goto(f"/checkout?sku={sku_id}&qty=1")
    other.click("form[action^='/checkout'] button.primary")
    other.wait_for_load_state()
    with live_server.database.session() as db:
        second_actor = accounts.actor_for_user(db, accounts.get(db, second.id))
        second_order = db.scalar(select(Order).where(Order.buyer_id == second.id))
        assert second_order is not None and second_address
        second_no = second_order.order_no
        start = payments.start_payment(db, second_actor, order_nos=[second_no], method="sandbox")
        payments.sandbox_pay(db, second_actor, start.out_trade_no)
        delivery.deliver_due(db, out_trade_no=start.out_trade_no)
    wait_for(lambda: _order(live_server, second_no).status == "paid")
    creator.reload()
    assert creator.locator("[data-balance=pending]").inner_text() == "¥40.20"
    with live_server.database.session() as db:
        payments.operator_refund(
            db, ops, order_no=second_no, amount_fen=26800, reason="买家不想要了"
        )
    wait_for(lambda: _order(live_server, second_no).refunded_fen == 26800)
    creator.reload()
    assert creator.locator("[data-balance=pending]").inner_text() == "¥0.00"
    row = creator.locator("[data-testid=commissions] tbody tr", has_text=second_no)
    assert "¥0.00" in row.inner_text()
    shot(creator, "promoter-commission-refunded")

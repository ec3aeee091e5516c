"""A parcel's journey in a real browser: the merchant ships, plays the tracking sandbox from
the console (揽收 ... 签收) after a 疑难 put the parcel on the attention list, and the buyer
sees the timeline on the order page, phone-sized, with the countdown from the signature."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order


def test_a_parcel_journey_plays_and_the_buyer_sees_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000041", password="merchant123")
        buyer = accounts.register(db, login="13900000041", password="buyer1234")
        shop = make_shop(db, owner, name="山野茶铺")
        shop_id = shop.id
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        buyer_actor = accounts.actor_for_user(db, buyer)
        owner_actor = accounts.actor_for_user(db, accounts.get(db, owner.id))
        address_id = make_address(db, buyer.id, name="李小买", phone="13900000041")
        order = checkout(db, buyer_actor, lines=[(tea.skus[0].id, 1)], address_id=address_id)
        order_no = order.orders[0].order_no
        orders_service.mark_paid(
            db, order_ids=[order.orders[0].id], paid_at=clock.now(), payment_ref="E2E"
        )
        db.commit()
        fulfilment.ship_order(
            db, owner_actor, shop_id, order_no, carrier="SF", tracking_no="SF123456789012"
        )

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000041", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/parcels")
    merchant.click("text=报告疑难")
    merchant.wait_for_load_state()
    attention = merchant.locator("[data-testid=attention]")
    assert order_no in attention.inner_text() and "疑难" in attention.inner_text()
    shot(merchant, "merchant-parcels")
    for _ in range(5):  # 揽收, 在途, 在途, 派件, 签收
        merchant.click("[data-testid=parcel-step] >> nth=0")
        merchant.wait_for_load_state()
    assert order_no not in merchant.locator("[data-testid=attention]").inner_text()

    buyer_page = new_page()
    sign_in(buyer_page, "13900000041", "buyer1234")
    buyer_page.goto(f"/orders/{order_no}")
    panel = buyer_page.locator("[data-testid=parcel-tracking]")
    assert buyer_page.locator("[data-testid=parcel-state]").inner_text() == "签收"
    assert panel.locator("li").count() == 6  # 疑难 and the five steps
    assert "自动完成" in panel.inner_text()
    panel.scroll_into_view_if_needed()
    shot(buyer_page, "order-parcel-tracking")
    with live_server.database.session(write=False) as db:
        placed = db.scalar(select(Order).where(Order.order_no == order_no))
        assert placed is not None and placed.delivered_at is not None

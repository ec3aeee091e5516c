"""A live flash sale in a real browser, three people at once: the host goes live and starts
a sale; a viewer who is already watching sees it appear without reloading, buys in one tap,
pays in the sandbox cashier; another viewer sees the remaining quantity fall."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_product, make_shop
from xiaodian import clock
from xiaodian.accounts import service as accounts
from xiaodian.content.live import service as live
from xiaodian.orders.models import Order


def test_host_starts_a_flash_sale_and_a_watching_viewer_buys_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        host = accounts.register(db, login="13600000021", password="merchant123")
        accounts.register(db, login="13900000021", password="buyer1234", display_name="小林")
        accounts.register(db, login="13900000022", password="buyer1234", display_name="小周")
        shop = make_shop(db, host, name="山野茶铺")
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 50)])
        actor = accounts.actor_for_user(db, host)
        room = live.create_room(
            db,
            actor,
            live.RoomInput(
                title="春茶上新 · 龙井专场",
                scheduled_at=clock.now() + timedelta(minutes=5),
                shop_id=shop.id,
                product_ids=[tea.id],
            ),
        )
        room_id, sku_id = room.id, tea.skus[0].id

    viewer = new_page()
    sign_in(viewer, "13900000021", "buyer1234")
    viewer.goto(f"/live/{room_id}")
    observer = new_page()
    sign_in(observer, "13900000022", "buyer1234")
    observer.goto(f"/live/{room_id}")
    assert viewer.locator("#flash-card").is_hidden()

    studio = new_page(phone=False)
    sign_in(studio, "13600000021", "merchant123")
    studio.goto(f"/live/{room_id}/host")
    studio.click("#go-live")
    studio.wait_for_load_state()
    # The viewer's page follows without a reload.
    viewer.wait_for_selector("#room-status.live")
    studio.click(f"#pin-{tea.id}")
    studio.wait_for_load_state()
    viewer.wait_for_selector("#pinned-product:not([hidden])")

    studio.select_option("#sale-sku", str(sku_id))
    studio.fill("#sale-price", "199.00")
    studio.fill("#sale-quantity", "5")
    studio.fill("#sale-limit", "1")
    studio.click("#open-sale")
    studio.wait_for_load_state()
    studio.click("#start-sale")
    studio.wait_for_load_state()
    shot(studio, "live-host-console")

    viewer.wait_for_selector("#flash-card:not([hidden])")
    assert viewer.locator("#flash-remaining").inner_text() == "5"
    assert "199.00" in viewer.locator("#flash-price").inner_text()
    observer.wait_for_selector("#flash-card:not([hidden])")
    shot(viewer, "live-room")

    # One tap; the first time the buyer gives an address in the room.
    viewer.click("#flash-buy")
    viewer.wait_for_selector("#address-form:not([hidden])")
    viewer.fill("#address-form input[name=name]", "林小茶")
    viewer.fill("#address-form input[name=phone]", "13900000021")
    viewer.fill("#address-form input[name=province]", "浙江省")
    viewer.fill("#address-form input[name=city]", "杭州市")
    viewer.fill("#address-form input[name=district]", "西湖区")
    viewer.fill("#address-form input[name=detail]", "龙井路 1 号")
    viewer.click("#address-save")
    viewer.wait_for_url("**/sandbox/cashier/**")

    # The other viewer sees the remaining quantity fall, live.
    observer.wait_for_function(
        "document.getElementById('flash-remaining').textContent.trim() === '4'"
    )

    viewer.click("form.cashier-pay button")
    viewer.wait_for_url("**/orders/**", timeout=20_000)
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order))
        assert order is not None
        assert (order.channel, order.channel_ref_id) == ("live", room_id)
        assert order.total_fen == 19900

    def paid() -> bool:
        with live_server.database.session(write=False) as db:
            order = db.scalar(select(Order))
            return order is not None and order.status == "paid"

    deadline = 40
    while not paid() and deadline:
        viewer.wait_for_timeout(250)
        deadline -= 1
    assert paid()

    viewer.goto(f"/live/{room_id}")
    assert viewer.locator("#flash-remaining").inner_text() == "4"

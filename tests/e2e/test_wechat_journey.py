"""Inside WeChat, in a real browser with WeChat's user agent at two phone sizes: a shared
product link, the sandbox's authorization, a purchase paid by JSAPI through the stand-in
WeixinJSBridge, and the "shipped" message in the sandbox's WeChat once the merchant ships."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import CHROMIUM, LiveServer, shot, sign_in, wait_for
from tests.factories import make_product, make_shop
from tests.wechat.conftest import WECHAT_UA
from xiaodian.accounts import service as accounts
from xiaodian.affiliates.models import Link
from xiaodian.orders.models import Order
from xiaodian.wechat.models import SandboxOutboxMessage


def _wechat_page(browser: Any, live_server: LiveServer, size: dict[str, int]) -> Any:
    context = browser.new_context(
        viewport=size,
        user_agent=WECHAT_UA,
        locale="zh-CN",
        base_url=live_server.url,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the sandbox bridge's 确认支付
    return page


def _orders(live_server: LiveServer) -> list[Order]:
    with live_server.database.session(write=False) as db:
        return list(db.scalars(select(Order).order_by(Order.id)))


def _outbox(live_server: LiveServer) -> list[SandboxOutboxMessage]:
    with live_server.database.session(write=False) as db:
        return list(db.scalars(select(SandboxOutboxMessage).order_by(SandboxOutboxMessage.id)))


@pytest.mark.parametrize(
    "size", [{"width": 390, "height": 844}, {"width": 360, "height": 640}], ids=["390", "360"]
)
def test_buy_inside_wechat_pay_by_jsapi_and_hear_it_shipped(
    live_server: LiveServer, browser: Any, new_page: Any, size: dict[str, int]
) -> None:
    tag = str(size["width"])
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000021", password="merchant123")
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        tea_id, shop_id = tea.id, shop.id

    phone = _wechat_page(browser, live_server, size)
    phone.goto(f"/p/{tea_id}")  # the link a friend shared in a chat
    phone.wait_for_function("window.wechatSandboxShare && window.wechatSandboxShare.appMessage")
    card = phone.evaluate("window.wechatSandboxShare.appMessage")
    assert card["title"] == "明前西湖龙井 250g" and card["link"].endswith(f"/p/{tea_id}")
    phone.click("#add-to-cart")  # needs a signed-in buyer: WeChat's authorization

    phone.wait_for_url("**/sandbox/wechat/connect/oauth2/authorize**")
    shot(phone, f"wechat-authorize-{tag}")
    phone.fill("input[name=nickname]", "小满")
    phone.click("button[value=new]")
    phone.wait_for_url("**scope=snsapi_userinfo**")  # a new openid: nickname and avatar
    shot(phone, f"wechat-consent-{tag}")
    phone.click("button[value=allow]")
    phone.wait_for_url("**/wechat/welcome")
    shot(phone, f"wechat-welcome-{tag}")
    phone.click("form[action='/wechat/welcome/new'] button")
    phone.wait_for_url(f"**/p/{tea_id}")

    phone.goto("/wechat/messages")
    phone.click("button[name=subscribe][value='1']")
    phone.wait_for_load_state()
    phone.goto("/addresses/new")
    phone.fill("input[name=name]", "李小满")
    phone.fill("input[name=phone]", "13900000021")
    phone.fill("input[name=province]", "浙江省")
    phone.fill("input[name=city]", "杭州市")
    phone.fill("input[name=district]", "西湖区")
    phone.fill("input[name=detail]", "文三路 100 号")
    phone.check("input[name=is_default]")
    phone.click("form button.primary")
    phone.wait_for_load_state()

    phone.goto(f"/p/{tea_id}")
    # Signed in now: the card a share would send carries the buyer's own tracked link.
    phone.wait_for_function("window.wechatSandboxShare && window.wechatSandboxShare.appMessage")
    shared = phone.evaluate("window.wechatSandboxShare.appMessage")
    assert shared["title"] == "明前西湖龙井 250g" and "/s/" in shared["link"], shared
    phone.click("#add-to-cart")
    phone.wait_for_load_state()
    phone.goto("/cart")
    for box in phone.locator("input[name=item]").all():
        box.check()
    phone.click("button[form=cart-checkout]")
    phone.wait_for_url("**/checkout**")
    phone.click("form[action^='/checkout'] button.primary")
    # Inside WeChat the cashier is JSAPI: the page invokes getBrandWCPayRequest at once.
    phone.wait_for_url("**/orders/**", timeout=30_000)
    shot(phone, f"wechat-paid-{tag}")
    wait_for(lambda: [o.status for o in _orders(live_server)] == ["paid"])

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000021", "merchant123")
    order_no = _orders(live_server)[0].order_no
    merchant.goto(f"/merchant/shops/{shop_id}/orders/{order_no}")
    merchant.select_option("select[name=carrier]", "SF")
    merchant.fill("input[name=tracking_no]", "SF1234567890123")
    merchant.click("form[action$='/ship'] button")
    merchant.wait_for_load_state()

    wait_for(lambda: any(m.data["phrase3"]["value"] == "已发货" for m in _outbox(live_server)))
    phone.goto("/sandbox/wechat/outbox")
    assert phone.locator(".outbox-message", has_text="已发货").count() == 1
    assert phone.locator(".outbox-message", has_text="已付款").count() == 1
    shot(phone, f"wechat-outbox-{tag}")
    # everything inside the viewport's width at this size (nothing scrolls sideways)
    assert phone.evaluate("document.documentElement.scrollWidth") <= size["width"]

    # A friend opens the shared card: the product, with the sharer's attribution.
    friend = _wechat_page(browser, live_server, size)
    friend.goto(shared["link"])
    friend.wait_for_url(f"**/p/{tea_id}**")
    code = shared["link"].rsplit("/s/", 1)[1]
    with live_server.database.session(write=False) as db:
        link = db.scalar(select(Link).where(Link.code == code))
        assert link is not None and link.product_id == tea_id
        assert link.promoter_id == _orders(live_server)[0].buyer_id  # the buyer who shared


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no Chromium"),
]

"""A buyer reviews a completed order with a photo in a real browser; the merchant replies
once; the product's reviews page shows the figures, the photo and the reply."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.health import service as health_service
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments import service as payments

pytestmark = pytest.mark.e2e


def _status(live_server: LiveServer, order_no: str) -> str:
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.order_no == order_no))
        assert order is not None
        return str(order.status)


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "towel.jpg"
    image = Image.new("RGB", (320, 240), (236, 231, 220))
    for x in range(0, 320, 20):
        for y in range(240):
            image.putpixel((x, y), (190, 160, 120))
    buf = BytesIO()
    image.save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return path


def test_a_buyer_reviews_with_a_photo_and_the_merchant_replies(
    live_server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000051", password="merchant123")
        buyer = accounts.register(
            db, login="13900000051", password="buyer1234", display_name="王小美"
        )
        shop = make_shop(db, owner, name="棉麻生活馆")
        towel = make_product(db, shop, title="新疆长绒棉毛巾 两条装", skus=[("米白", 3990, 20)])
        buyer_actor = accounts.actor_for_user(db, buyer)
        owner_actor = accounts.actor_for_user(db, owner)
        address_id = make_address(db, buyer.id, name="王小美", phone="13900000051")
        placed = checkout(db, buyer_actor, lines=[(towel.skus[0].id, 1)], address_id=address_id)
        order_no = placed.orders[0].order_no
        start = payments.start_payment(db, buyer_actor, order_nos=[order_no], method="sandbox")
        payments.sandbox_pay(db, buyer_actor, start.out_trade_no)
        delivery.deliver_due(db, out_trade_no=start.out_trade_no)
        shop_id, product_id = shop.id, towel.id
    wait_for(lambda: _status(live_server, order_no) == "paid")
    with live_server.database.session() as db:
        fulfilment.ship_order(
            db, owner_actor, shop_id, order_no, carrier="SF", tracking_no="SF1234567890123"
        )
        orders_service.confirm_receipt(db, buyer_actor, order_no)

    page = new_page()
    sign_in(page, "13900000051", "buyer1234")
    page.goto(f"/orders/{order_no}")
    page.click(f"a[href='/orders/{order_no}/review']")
    page.wait_for_url(f"**/orders/{order_no}/review")
    line = page.locator("input[name=line]").first.get_attribute("value")
    page.click(f"label[for=stars_{line}-5]")
    page.fill(f"textarea[name=text_{line}]", "毛巾很厚实，吸水快，洗了两次没有掉毛。")
    page.set_input_files(f"input[name=photos_{line}]", str(_photo(tmp_path)))
    page.click("label[for=service_stars-5]")
    page.click("label[for=logistics_stars-4]")
    shot(page, "review-form")
    page.click("form.review-form button[type=submit]")
    page.wait_for_url(f"**/orders/{order_no}/review?done=1")
    assert "感谢评价" in page.locator("[role=status]").inner_text()
    assert page.locator(".review-photos img").count() == 1

    merchant = new_page(phone=False)
    sign_in(merchant, "13600000051", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/reviews")
    item = merchant.locator("article.review-item").first
    assert "毛巾很厚实" in item.inner_text() and "王**" in item.inner_text()
    item.locator("textarea[name=text]").fill("感谢您的认可，欢迎再次光临！")
    item.locator("button[type=submit]").click()
    merchant.wait_for_load_state()
    reply = merchant.locator("[data-testid=reply]").first
    assert "感谢您的认可" in reply.inner_text()
    assert merchant.locator("article.review-item textarea").count() == 0  # replied once
    shot(merchant, "review-merchant-reply")

    page.goto(f"/p/{product_id}")
    wait_for(lambda: "1 条评价" in page.locator("#product-reviews").inner_text())
    page.goto(f"/p/{product_id}/reviews?photos=1")
    summary = page.locator("[data-testid=review-summary]").inner_text()
    assert "5.0" in summary and "1 条评价" in summary
    assert page.locator(".review-photos img").count() == 1
    assert "感谢您的认可" in page.locator("[data-testid=reply]").inner_text()
    shot(page, "review-product")

    # The night's health score: the merchant sees it with each part and measure.
    with live_server.database.session() as db:
        health_service.compute_all(db)
    merchant.goto(f"/merchant/shops/{shop_id}/health")
    assert merchant.locator("[data-testid=health-score] b").inner_text() == "100"
    assert merchant.locator("[data-measure]").count() == 8
    shot(merchant, "health-merchant")

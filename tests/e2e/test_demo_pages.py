"""The seeded demo in a real browser: every role's main pages render with the demo data,
with no server errors and no script errors. Run with ``XIAODIAN_SCREENSHOTS=1`` to refresh
README.md's pictures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.content.models import Video
from xiaodian.seed import DEMO_PASSWORD, seed_demo


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None,
    )
    return problems


def test_demo_pages_for_every_role(live_server: LiveServer, new_page: Any) -> None:
    assert seed_demo(live_server.settings)
    with live_server.database.session(write=False) as db:
        product = db.scalar(
            select(Product)
            .where(Product.status == ProductStatus.ON_SALE, Product.title.like("%连衣裙%"))
            .order_by(Product.id)
        )
        assert product is not None
        video = db.scalar(select(Video).order_by(Video.id))
        assert video is not None

    buyer = new_page()
    problems = _watch(buyer)
    buyer.goto("/")
    assert buyer.locator("a.product-tile").count() >= 8
    shot(buyer, "home")
    buyer.goto("/search?q=连衣裙")
    assert buyer.locator("a.product-tile").count() >= 2
    buyer.goto(f"/p/{product.id}")
    assert buyer.locator("button.spec-chip").count() >= 2
    buyer.goto("/videos")
    assert buyer.locator("video").count() >= 1
    shot(buyer, "videos")
    buyer.goto("/live")
    assert buyer.locator("a.live-tile").count() == 2
    buyer.click("a.live-tile >> nth=0")
    buyer.wait_for_selector("#room-status.live")
    buyer.wait_for_selector("#pinned-product:not([hidden])")
    sign_in(buyer, "13900000001", DEMO_PASSWORD)
    for path in ("/cart", "/orders", "/addresses", "/aftersales"):
        buyer.goto(path)
    assert not problems, problems

    merchant = new_page(phone=False)
    problems = _watch(merchant)
    sign_in(merchant, "13800000001", DEMO_PASSWORD)
    merchant.goto("/merchant")
    merchant.wait_for_url("**/merchant/shops/*")
    shop_url = merchant.url.split("?")[0].rstrip("/")
    shot(merchant, "merchant-console")
    for section in ("products", "orders", "aftersales", "content", "live", "staff", "settings"):
        merchant.goto(f"{shop_url}/{section}")
    merchant.goto("/live")
    merchant.click("a.live-tile >> nth=0")
    merchant.goto(merchant.url.rstrip("/") + "/host")
    assert merchant.locator("#end-live").count() == 1
    merchant.goto(f"{shop_url}/products")
    assert merchant.locator("table.list tbody tr").count() >= 5
    shot(merchant, "merchant-products")
    assert not problems, problems

    ops = new_page(phone=False)
    problems = _watch(ops)
    sign_in(ops, "ops@xiaodian.test", DEMO_PASSWORD)
    for path in ("/ops", "/ops/applications", "/ops/products/review", "/ops/arbitration"):
        ops.goto(path)
    ops.goto("/ops/products/review")
    assert ops.locator("text=最好").count() + ops.locator("mark").count() > 0
    ops.goto("/ops")
    shot(ops, "ops-dashboard")
    assert not problems, problems

"""The sellability policy as a buyer sees it in a real browser: a price rule plugged into
the policy shows on the product page, in the cart and at checkout, and is what the order
costs; a suspended shop's product is "no longer on sale" in the cart and its page is gone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.e2e.conftest import LiveServer, sign_in
from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.catalog import sellability
from xiaodian.catalog.sellability import Buyer, SkuInfo
from xiaodian.merchants.models import Shop
from xiaodian.orders.models import Order


@pytest.fixture
def member_price() -> Iterator[None]:
    """¥10 off for signed-in buyers (as a campaign would plug in)."""

    def rule(
        _db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None, prices: Mapping[int, int]
    ) -> Mapping[int, int]:
        return {s.sku_id: prices[s.sku_id] - 1000 for s in skus} if buyer else {}

    sellability.price_rule(rule)
    yield
    sellability.remove_price_rule(rule)


def _add_to_cart(page: Any, product_id: int) -> None:
    page.goto(f"/p/{product_id}")
    page.click("#add-to-cart")
    page.wait_for_load_state()


def test_the_policy_prices_and_refuses_on_every_page(
    live_server: LiveServer, new_page: Any, member_price: None
) -> None:
    with live_server.database.session() as db:
        owner_a = accounts.register(db, login="13600000021", password="merchant123")
        owner_b = accounts.register(db, login="13600000022", password="merchant123")
        buyer = accounts.register(db, login="13900000021", password="buyer1234")
        dress = make_product(db, make_shop(db, owner_a), title="碎花连衣裙", skus=[("M", 12900, 5)])
        tea = make_product(db, make_shop(db, owner_b), title="西湖龙井", skus=[("罐装", 26800, 8)])
        make_address(db, buyer.id)
        dress_id, tea_id, tea_shop = dress.id, tea.id, tea.shop_id

    visitor = new_page()
    visitor.goto(f"/p/{dress_id}")
    assert "¥129.00" in visitor.locator("main").inner_text()  # no rule for a visitor

    page = new_page()
    sign_in(page, "13900000021", "buyer1234")
    page.goto(f"/p/{dress_id}")
    assert "¥119.00" in page.locator("main").inner_text()
    _add_to_cart(page, dress_id)
    _add_to_cart(page, tea_id)
    with live_server.database.session() as db:
        shop = db.get(Shop, tea_shop)
        assert shop is not None
        shop.is_active = False  # suspended by the operators
        db.commit()

    page.goto("/cart")
    lines = page.locator("ul.order-lines > li")
    assert lines.count() == 2
    tea_line = lines.filter(has_text="西湖龙井")
    assert "已下架" in tea_line.inner_text()  # "No longer on sale"
    assert tea_line.locator("input[name=item]").is_disabled()
    dress_line = lines.filter(has_text="碎花连衣裙")
    assert dress_line.locator(".price").inner_text() == "¥119.00"
    assert page.locator(".checkout-bar .price").inner_text() == "¥119.00"

    gone = page.goto(f"/p/{tea_id}")
    assert gone is not None and gone.status == 404

    page.goto("/cart")
    page.locator("input[name=item]:not([disabled])").check()
    page.click("button[form=cart-checkout]")
    page.wait_for_url("**/checkout**")
    assert "¥119.00" in page.locator("main").inner_text()
    page.click("form[action^='/checkout'] button.primary")
    page.wait_for_url("**/sandbox/cashier/**")
    with live_server.database.session(write=False) as db:
        (order,) = db.scalars(select(Order)).all()
        assert order.total_fen == 11900

"""A creator's showcase in a real browser: a creator adds a product from its page, the
public showcase shows it (with a share card), and a visitor taps it through the creator's
tracked link to the product."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts

pytestmark = pytest.mark.e2e


def test_a_creator_picks_a_product_into_the_showcase(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000071", password="merchant123")
        creator = accounts.register(
            db, login="13700000071", password="creator123", display_name="茶小白"
        )
        creator.is_creator = True
        db.commit()
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
        tea_id, creator_id = tea.id, creator.id

    page = new_page()
    sign_in(page, "13700000071", "creator123")
    page.goto(f"/p/{tea_id}")
    page.click("[data-testid=add-to-showcase]")
    page.wait_for_selector("[data-testid=showcase-added]")
    page.click("[data-testid=showcase-added]")
    page.wait_for_url(f"**/showcase/{creator_id}")
    grid = page.locator("[data-testid=showcase]")
    assert "明前龙井" in grid.inner_text() and "¥268.00" in grid.inner_text()
    assert "茶小白 的橱窗" in page.locator("h1").inner_text()
    shot(page, "showcase")

    visitor = new_page()
    visitor.goto(f"/showcase/{creator_id}")
    visitor.click(f"[data-product-id='{tea_id}'] a.title")
    visitor.wait_for_url(f"**/p/{tea_id}**")
    assert "明前龙井" in visitor.locator("h1").inner_text()

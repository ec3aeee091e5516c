"""A group buy in a real browser: a buyer finds the group price on the product page, opens
a 3-person group and pays in the sandbox cashier; two friends open the group's shared link,
join and pay; the group succeeds and its orders can be shipped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.campaigns import groups
from xiaodian.campaigns.models import Group
from xiaodian.orders.models import Order

pytestmark = pytest.mark.e2e


def _pay(page: Any) -> None:
    page.wait_for_url("**/sandbox/cashier/**")
    page.click("form.cashier-pay button")
    page.wait_for_url("**/orders**", timeout=20_000)


def test_three_friends_fill_a_group(live_server: LiveServer, new_page: Any) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000081", password="merchant123")
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 20)])
        for i in range(3):
            buyer = accounts.register(db, login=f"1390000008{i}", password="buyer1234")
            make_address(db, buyer.id)
        offer = groups.create_offer(
            db,
            actor_for(owner, {shop.id: "owner"}),
            shop.id,
            groups.OfferInput(sku_id=tea.skus[0].id, price_fen=19900, size=3),
        )
        tea_id, offer_id = tea.id, offer.id

    leader = new_page()
    sign_in(leader, "13900000080", "buyer1234")
    leader.goto(f"/p/{tea_id}")
    link = leader.locator("[data-testid=group-link]")
    link.wait_for()
    assert "3 人团" in link.inner_text() and "¥199.00" in link.inner_text()
    link.click()
    leader.wait_for_url(f"**/groups/offer/{offer_id}")
    shot(leader, "group-offer")
    leader.click("[data-testid=open-group]")
    _pay(leader)
    with live_server.database.session(write=False) as db:
        group_id = db.scalars(select(Group.id)).one()
    wait_for(lambda: _paid(live_server, group_id) == 1)

    for i in (1, 2):
        friend = new_page()
        sign_in(friend, f"1390000008{i}", "buyer1234")
        friend.goto(f"/groups/{group_id}")  # the shared link
        assert "还差" in friend.locator("[data-testid=places]").inner_text()
        if i == 1:
            shot(friend, "group-join")
        friend.click("[data-testid=join-group]")
        _pay(friend)
        wait_for(lambda n=i + 1: _paid(live_server, group_id) == n)

    friend.goto(f"/groups/{group_id}")
    assert "已成团" in friend.locator("[data-testid=group-result]").inner_text()
    with live_server.database.session(write=False) as db:
        orders = list(db.scalars(select(Order)))
        assert len(orders) == 3 and all(o.status == "paid" and not o.held for o in orders)
        assert all(o.total_fen == 19900 for o in orders)


def _paid(live_server: LiveServer, group_id: int) -> int:
    with live_server.database.session(write=False) as db:
        return int(db.get(Group, group_id).paid)

"""A group buy in a real browser: a buyer finds the group price on the product page, opens
a 3-person group and pays in the sandbox cashier; two friends open the group's shared link,
join and pay; the group succeeds and its orders can be shipped. Another group gets one
friend of the two it needs; its time runs out, both members are refunded in full by the
worker and see it on the group's page and their orders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
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


def test_a_group_that_does_not_fill_in_time_refunds_its_members(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000091", password="merchant123")
        shop = make_shop(db, owner, name="海边果园")
        mango = make_product(db, shop, title="台农芒果 5 斤", skus=[("一箱", 8800, 20)])
        for i in range(2):
            buyer = accounts.register(db, login=f"1390000009{i}", password="buyer1234")
            make_address(db, buyer.id)
        offer = groups.create_offer(
            db,
            actor_for(owner, {shop.id: "owner"}),
            shop.id,
            groups.OfferInput(sku_id=mango.skus[0].id, price_fen=5900, size=3, hours=24),
        )
        offer_id = offer.id

    leader = new_page()
    sign_in(leader, "13900000090", "buyer1234")
    leader.goto(f"/groups/offer/{offer_id}")
    leader.click("[data-testid=open-group]")
    _pay(leader)
    with live_server.database.session(write=False) as db:
        group_id = db.scalars(select(Group.id)).one()
    wait_for(lambda: _paid(live_server, group_id) == 1)
    friend = new_page()
    sign_in(friend, "13900000091", "buyer1234")
    friend.goto(f"/groups/{group_id}")
    friend.click("[data-testid=join-group]")
    _pay(friend)
    wait_for(lambda: _paid(live_server, group_id) == 2)
    with live_server.database.session(write=False) as db:
        held = list(db.scalars(select(Order)))
        assert len(held) == 2 and all(o.status == "paid" and o.held for o in held)

    # The job runs a day later: the group has expired, the worker refunds both members.
    with live_server.database.session() as db:
        assert groups.due(db, now=clock.now() + timedelta(hours=25)) == 2
    wait_for(lambda: _refunded(live_server) == [5900, 5900])

    for page in (leader, friend):
        page.goto(f"/groups/{group_id}")
        assert "超时未成团" in page.locator("[data-testid=group-result]").inner_text()
    shot(friend, "group-expired")
    friend.click("[data-testid=new-group]")  # the offer goes on: a new group can be opened
    friend.wait_for_url(f"**/groups/offer/{offer_id}")
    friend.locator("[data-testid=open-group]").wait_for()
    friend.goto("/orders")
    friend.locator("text=已退款").first.wait_for()
    with live_server.database.session(write=False) as db:
        orders = list(db.scalars(select(Order)))
        assert all(o.status in ("refunded", "closed") for o in orders), [o.status for o in orders]


def _refunded(live_server: LiveServer) -> list[int]:
    with live_server.database.session(write=False) as db:
        return sorted(o.refunded_fen for o in db.scalars(select(Order)))


def _paid(live_server: LiveServer, group_id: int) -> int:
    with live_server.database.session(write=False) as db:
        return int(db.get(Group, group_id).paid)

"""A merchant watches an order's money in a real browser: the income is pending with the
date it becomes available; the clock moves past the after-sales window; the settlement job
runs; the money is available (less the platform and payment fees) and the CSV of entries
shows each step; the owner withdraws part of it, an operator approves, the payout pays."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import make_address, make_product, make_shop
from xiaodian import clock as clock_module
from xiaodian.accounts import service as accounts
from xiaodian.accounts.service import User
from xiaodian.ledger import settlement
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments import service as payments


@pytest.fixture
def frozen(live_server: LiveServer) -> Iterator[clock_module.FrozenClock]:
    """The server runs in this process: a frozen clock moves its time too."""
    clock = clock_module.FrozenClock(clock_module.now().replace(microsecond=0))
    previous = clock_module.use(clock)
    yield clock
    clock_module.use(previous)


def _order(live_server: LiveServer, order_no: str) -> Order:
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.order_no == order_no))
        assert order is not None
        return order


def test_pending_income_becomes_available_after_the_window(
    live_server: LiveServer, new_page: Any, frozen: clock_module.FrozenClock
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000031", password="merchant123")
        buyer = accounts.register(db, login="13900000031", password="buyer1234")
        shop = make_shop(db, owner, name="山野茶铺")
        shop_id = shop.id
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        buyer_actor = accounts.actor_for_user(db, buyer)
        owner_actor = accounts.actor_for_user(db, accounts.get(db, owner.id))
        address_id = make_address(db, buyer.id, name="李小买", phone="13900000031")
        result = checkout(db, buyer_actor, lines=[(tea.skus[0].id, 1)], address_id=address_id)
        order_no = result.orders[0].order_no
        start = payments.start_payment(db, buyer_actor, order_nos=[order_no], method="sandbox")
        payments.sandbox_pay(db, buyer_actor, start.out_trade_no)
        delivery.deliver_due(db, out_trade_no=start.out_trade_no)  # to the server, over HTTP
    wait_for(lambda: _order(live_server, order_no).status == "paid")
    with live_server.database.session() as db:
        fulfilment.ship_order(
            db, owner_actor, shop_id, order_no, carrier="SF", tracking_no="SF123456789012"
        )
    frozen.advance(timedelta(days=2))
    with live_server.database.session() as db:
        orders_service.confirm_receipt(db, buyer_actor, order_no)
    completed = _order(live_server, order_no).completed_at
    assert completed is not None
    due = (completed + timedelta(days=7)).astimezone(ZoneInfo("Asia/Shanghai"))

    page = new_page(phone=False)
    sign_in(page, "13600000031", "merchant123")
    page.goto(f"/merchant/shops/{shop_id}/finance")
    assert page.locator("[data-balance=pending]").inner_text() == "¥268.00"
    assert page.locator("[data-balance=available]").inner_text() == "¥0.00"
    row = page.locator("[data-testid=pending] tr", has_text=order_no)
    assert "¥268.00" in row.inner_text() and due.strftime("%Y-%m-%d") in row.inner_text()
    shot(page, "merchant-money-pending")

    frozen.advance(timedelta(days=6))  # not yet: one day of the window left
    with live_server.database.session() as db:
        assert settlement.settle_due(db) == 0
    frozen.advance(timedelta(days=1, seconds=1))
    with live_server.database.session() as db:
        assert settlement.settle_due(db) == 1  # what the worker's job runs
    page.reload()
    # 268.00 less 1% platform fee (2.68) and 0.6% payment fee (1.608 -> 1.61), half up
    assert page.locator("[data-balance=available]").inner_text() == "¥263.71"
    assert page.locator("[data-balance=pending]").inner_text() == "¥0.00"
    assert "没有待结算收入" in page.locator("[data-testid=pending]").inner_text()
    entries = page.locator("[data-testid=entries] tbody tr")
    assert entries.count() == 3
    assert order_no in entries.first.inner_text()
    shot(page, "merchant-money-available")

    page.select_option("select[name=kind]", "settle")
    page.click("form button:has-text('筛选')")
    page.wait_for_load_state()
    assert page.locator("[data-testid=entries] tbody tr").count() == 2
    with page.expect_download() as download_info:
        page.click("a:has-text('下载 CSV')")
    path = download_info.value.path()
    with open(path, encoding="utf-8-sig") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    assert [(r[1], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("settle", "merchant:pending", "-268.00", order_no),
        ("settle", "merchant:available", "263.71", order_no),
    ]

    # the owner withdraws ¥100 (a wrong amount first: shown again, nothing moves)
    page.goto(f"/merchant/shops/{shop_id}/finance")
    page.fill("input[name=amount]", "1000")
    page.click("button:has-text('申请提现')")
    page.wait_for_load_state()
    assert "超过了可提现余额（¥263.71）" in page.locator("[role=alert]").inner_text()
    page.fill("input[name=amount]", "100")
    page.click("button:has-text('申请提现')")
    page.wait_for_load_state()
    assert page.locator("[data-balance=available]").inner_text() == "¥163.71"
    assert page.locator("[data-balance=withdrawing]").inner_text() == "¥100.00"
    assert "待审核" in page.locator("[data-testid=withdrawal-list] tbody tr").first.inner_text()
    shot(page, "merchant-withdrawal-requested")

    with live_server.database.session() as db:
        operator = accounts.register(db, login="ops-money@example.com", password="operator123")
        db.execute(update(User).where(User.id == operator.id).values(is_operator=True))
        db.commit()
    console = new_page(phone=False)
    sign_in(console, "ops-money@example.com", "operator123")
    console.goto("/ops/withdrawals")
    row = console.locator("[data-testid=withdrawal-queue] tbody tr").first
    assert "¥100.00" in row.inner_text()
    shot(console, "ops-withdrawal-queue")
    row.locator("button:has-text('通过并打款')").click()
    console.wait_for_load_state()
    assert "没有待处理的提现" in console.locator("[data-testid=withdrawal-queue]").inner_text()

    page.reload()
    assert page.locator("[data-balance=withdrawing]").inner_text() == "¥0.00"
    assert page.locator("[data-balance=available]").inner_text() == "¥163.71"
    assert "已打款" in page.locator("[data-testid=withdrawal-list] tbody tr").first.inner_text()
    page.select_option("select[name=kind]", "withdraw")
    page.click("form button:has-text('筛选')")
    page.wait_for_load_state()
    with page.expect_download() as download_info:
        page.click("a:has-text('下载 CSV')")
    with open(download_info.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        ("withdraw", "merchant:available", "-100.00"),
        ("withdraw", "merchant:withdrawing", "100.00"),
        ("withdraw", "merchant:withdrawing", "-100.00"),
    ]
    shot(page, "merchant-withdrawal-paid")

    # The month on one page: each account's opening, its movements and its closing.
    page.click("[data-testid=monthly-statement-link]")
    page.wait_for_url("**/finance/statement")
    available = page.locator(
        "[data-testid=monthly-statement] tr[data-account='merchant:available']"
    )
    assert available.locator("[data-col=closing]").inner_text() == "¥163.71"
    shot(page, "merchant-monthly-statement")
    console.goto("/ops/ledger")
    assert console.locator("[data-testid=daily-figures] tbody tr").count() == 14
    shot(console, "ops-ledger-days")

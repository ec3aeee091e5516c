"""An operator sends a failed refund again from the console, in a real browser: the
provider closed the first refund, the "Send again" button makes a new one, the worker sends
it and the order is refunded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.e2e.conftest import LiveServer, shot, sign_in, wait_for
from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import User
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments import service as payments
from xiaodian.payments.models import Refund


def _refunds(live_server: LiveServer) -> list[Refund]:
    with live_server.database.session(write=False) as db:
        return list(db.scalars(select(Refund).order_by(Refund.id)))


def _order(live_server: LiveServer, order_no: str) -> Order:
    with live_server.database.session(write=False) as db:
        order = db.scalar(select(Order).where(Order.order_no == order_no))
        assert order is not None
        return order


def test_an_operator_sends_a_failed_refund_again(live_server: LiveServer, new_page: Any) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000021", password="merchant123")
        buyer = accounts.register(db, login="13900000021", password="buyer1234")
        operator = accounts.register(db, login="ops-refunds@example.com", password="operator123")
        db.execute(update(User).where(User.id == operator.id).values(is_operator=True))
        db.commit()
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        buyer_actor = accounts.actor_for_user(db, buyer)
        ops_actor = accounts.actor_for_user(db, accounts.get(db, operator.id))
        address_id = make_address(db, buyer.id, name="李小买", phone="13900000021")
        order = checkout(db, buyer_actor, lines=[(tea.skus[0].id, 1)], address_id=address_id)
        order_no = order.orders[0].order_no
        start = payments.start_payment(db, buyer_actor, order_nos=[order_no], method="sandbox")
        payments.sandbox_pay(db, buyer_actor, start.out_trade_no)
        delivery.deliver_due(db, out_trade_no=start.out_trade_no)  # to the server, over HTTP
    wait_for(lambda: _order(live_server, order_no).status == "paid")

    # The provider keeps the refund waiting, then closes it: the refund failed.
    payments.sandbox_set_refund_mode(ops_actor, "processing")
    with live_server.database.session() as db:
        payments.operator_refund(db, ops_actor, order_no=order_no, amount_fen=26800, reason="缺货")
    wait_for(lambda: [r.status for r in _refunds(live_server)] == ["processing"])
    failed_no = _refunds(live_server)[0].out_refund_no
    with live_server.database.session() as db:
        payments.sandbox_refund_outcome(db, ops_actor, out_refund_no=failed_no, outcome="closed")
        delivery.deliver_due(db)  # the REFUND.CLOSED notification, to the server
    wait_for(lambda: [r.status for r in _refunds(live_server)] == ["failed"])
    payments.sandbox_set_refund_mode(ops_actor, "success")

    console = new_page(phone=False)
    sign_in(console, "ops-refunds@example.com", "operator123")
    console.goto("/ops")
    assert console.locator("[data-count=failed-refunds] b").inner_text() == "1"
    console.goto("/ops/payments/refunds")
    row = console.locator("tr", has_text=failed_no)
    assert "失败" in row.inner_text()
    shot(console, "ops-refund-failed")
    row.locator("button", has_text="重新退款").click()
    console.wait_for_url("**/ops/payments/refunds?retried=*")
    assert "已重新发起" in console.locator("[role=status]").inner_text()
    retry_no = console.url.rsplit("=", 1)[1]
    assert (
        retry_no != failed_no and retry_no in console.locator("tr", has_text=failed_no).inner_text()
    )

    # The worker sends the retry; the order is refunded (and closed: all of it came back).
    wait_for(lambda: _order(live_server, order_no).refunded_fen == 26800)
    console.reload()
    retry_row = console.locator(f"tr:has(td:first-child code:text-is('{retry_no}'))")
    assert "成功" in retry_row.inner_text()
    assert console.locator("tr", has_text=failed_no).locator("button").count() == 0
    shot(console, "ops-refund-retried")
    console.goto("/ops")
    assert console.locator("[data-count=failed-refunds] b").inner_text() == "0"

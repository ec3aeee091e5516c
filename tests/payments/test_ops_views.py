"""The operators' payment pages: payments with search, the notification log, refunds needing
attention first, the dashboard counts; operators only."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.payments.conftest import Poster, Shop
from tests.payments.test_refunds_reconcile import paid_order, refund
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, NotAuthenticated, PermissionDenied
from xiaodian.payments import operator, service
from xiaodian.payments.delivery import deliver_due


def _refuse(client: TestClient) -> None:
    """A notification nobody signed: refused and logged."""
    r = client.post(
        "/api/v1/payments/notify",
        content=b'{"id": "EV-forged", "event_type": "TRANSACTION.SUCCESS"}',
        headers={"Content-Type": "application/json", "Wechatpay-Serial": "forged"},
    )
    assert r.status_code in (400, 401)


@pytest.fixture
def history(db: Session, scene: Shop, sandbox_poster: Poster, client: TestClient, make_user: Any):
    """Two paid orders, a refused notification, a failed and a pending refund."""
    operator = make_user(display_name="运营", operator=True)
    ops = Actor(user_id=operator.id, is_operator=True)
    first, first_trade = paid_order(db, scene)
    second, second_trade = paid_order(db, scene, qty=1)
    _refuse(client)
    service.sandbox_set_refund_mode(ops, "processing")
    failed = refund(db, first, 1000, "ops:1")
    service.submit_refunds(db)
    service.sandbox_refund_outcome(db, ops, out_refund_no=failed.out_refund_no, outcome="closed")
    deliver_due(db)
    pending = refund(db, second, 500, "ops:2")
    db.commit()
    return {
        "operator": operator,
        "ops": ops,
        "first": (first.order_no, first_trade),
        "second": (second.order_no, second_trade),
        "failed": failed.out_refund_no,
        "pending": pending.out_refund_no,
    }


def test_read_functions(db: Session, history: dict[str, Any], clock: Any) -> None:
    ops = history["ops"]
    (first_no, first_trade), (second_no, second_trade) = history["first"], history["second"]
    page = operator.operator_payments(db, ops)
    assert page.total == 2 and [r.payment.out_trade_no for r in page.items] == [
        second_trade,
        first_trade,
    ]
    assert page.items[0].buyer_name == "买家"
    assert [o.order_no for o in page.items[0].payment.orders] == [second_no]
    by_trade = operator.operator_payments(db, ops, q=f" {first_trade} ")
    assert [r.payment.out_trade_no for r in by_trade.items] == [first_trade]
    by_order = operator.operator_payments(db, ops, q=second_no)
    assert [r.payment.out_trade_no for r in by_order.items] == [second_trade]
    assert operator.operator_payments(db, ops, q="XD-nothing").items == []

    log = operator.notification_log(db, ops)
    assert log.total >= 3
    received = [n.received_at for n in log.items]
    assert received == sorted(received, reverse=True)
    refused = operator.notification_log(db, ops, filter="refused")
    assert refused.total == 1 and refused.items[0].outcome == "refused"
    assert refused.items[0].reason
    accepted = operator.notification_log(db, ops, filter="accepted")
    assert accepted.total >= 2 and all(
        n.outcome in ("accepted", "duplicate", "ignored") for n in accepted.items
    )
    assert operator.notification_log(db, ops, filter="error").total == 0

    refunds = operator.operator_refunds(db, ops)
    assert [r.refund.out_refund_no for r in refunds.items] == [
        history["failed"],
        history["pending"],
    ]
    assert (refunds.items[0].order_no, refunds.items[0].out_trade_no) == (first_no, first_trade)

    assert service.count_failed_refunds(db, ops) == 1
    assert service.count_refused_notifications_today(db, ops) == 1
    clock.advance(days=1)
    assert service.count_refused_notifications_today(db, ops) == 0


def test_bad_paging_and_filters(db: Session, history: dict[str, Any]) -> None:
    ops = history["ops"]
    with pytest.raises(InvalidInput):
        operator.notification_log(db, ops, filter="bogus")
    for call in (operator.operator_payments, operator.notification_log, operator.operator_refunds):
        with pytest.raises(InvalidInput):
            call(db, ops, page=0)
    assert operator.operator_refunds(db, ops, page=50).page == 1  # clamped to the last page


@pytest.mark.parametrize("who", ["anonymous", "buyer", "merchant"])
def test_operators_only(db: Session, scene: Shop, who: str) -> None:
    actor = {
        "anonymous": Actor(),
        "buyer": scene.buyer_actor,
        "merchant": Actor(user_id=scene.owner.id, shop_roles={scene.shop.id: "owner"}),
    }[who]
    error = NotAuthenticated if who == "anonymous" else PermissionDenied
    for call in (
        operator.operator_payments,
        operator.notification_log,
        operator.operator_refunds,
        service.count_failed_refunds,
        service.count_refused_notifications_today,
    ):
        with pytest.raises(error):
            call(db, actor)


def test_pages(
    db: Session,
    scene: Shop,
    history: dict[str, Any],
    client: TestClient,
    login_client: Any,
) -> None:
    for path in ("/ops/payments", "/ops/payments/notifications", "/ops/payments/refunds"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    buyer = login_client(scene.buyer)
    for path in ("/ops/payments", "/ops/payments/notifications", "/ops/payments/refunds"):
        assert buyer.get(path).status_code == 403, path
    ops = login_client(history["operator"])
    first_no, first_trade = history["first"]
    second_no, second_trade = history["second"]
    page = ops.get("/ops/payments", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and first_trade in page.text and second_no in page.text
    assert "¥39.80" in page.text and 'href="/ops/payments/refunds"' in page.text
    found = ops.get("/ops/payments", params={"q": first_no})
    assert first_trade in found.text and second_trade not in found.text
    log = ops.get("/ops/payments/notifications?filter=refused", headers={"Accept-Language": "en"})
    assert log.status_code == 200 and "Refused" in log.text
    assert ops.get("/ops/payments/notifications?filter=bogus").status_code == 422
    assert ops.get("/ops/payments/notifications?page=0").status_code == 422
    refunds = ops.get("/ops/payments/refunds").text
    assert refunds.index(history["failed"]) < refunds.index(history["pending"])
    dash = ops.get("/ops")
    assert dash.status_code == 200
    assert _card(dash.text, "failed-refunds") == 1
    assert _card(dash.text, "refused-notifications") == 1


def _card(html: str, name: str) -> int:
    """The number on a dashboard card."""
    start = html.index(f'data-count="{name}"')
    bold = html.index("<b>", start) + 3
    return int(html[bold : html.index("</b>", bold)])


def test_payment_list_queries_do_not_grow(
    db: Session,
    scene: Shop,
    sandbox_poster: Poster,
    login_client: Any,
    make_user: Any,
    count_queries: Any,
) -> None:
    ops = login_client(make_user(operator=True))
    paid_order(db, scene)
    with count_queries(only=_is_select) as few:
        assert ops.get("/ops/payments").status_code == 200
    for _ in range(4):
        paid_order(db, scene, qty=1)
    with count_queries(only=_is_select) as many:
        assert ops.get("/ops/payments").status_code == 200
    assert many.count == few.count, (few.statements, many.statements)


def _is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")


def test_an_operator_sends_a_failed_refund_again_from_the_page(
    db: Session, history: dict[str, Any], login_client: Any, scene: Shop, api_client: Any
) -> None:
    failed = history["failed"]
    ops = login_client(history["operator"])
    token = {"csrf_token": ops.cookies.get("xd_csrf", "")}
    page = ops.get("/ops/payments/refunds", headers={"Accept-Language": "en"}).text
    assert f'action="/ops/payments/refunds/{failed}/retry"' in page
    # a buyer cannot, through the page or the API
    buyer = login_client(scene.buyer)
    refused = buyer.post(
        f"/ops/payments/refunds/{failed}/retry",
        data={"csrf_token": buyer.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert (
        api_client(scene.buyer).post(f"/api/v1/payments/refunds/{failed}/retry").status_code == 403
    )
    # without the CSRF token nothing happens
    forged = ops.post(f"/ops/payments/refunds/{failed}/retry", follow_redirects=False)
    assert forged.status_code == 403
    assert service.count_failed_refunds(db, history["ops"]) == 1
    db.rollback()  # end the read (SQLite: the app must see and write the newest data)
    done = ops.post(f"/ops/payments/refunds/{failed}/retry", data=token, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(
        "/ops/payments/refunds?retried=RF"
    )
    retry_no = done.headers["location"].split("=", 1)[1]
    after = ops.get(done.headers["location"], headers={"Accept-Language": "en"}).text
    assert f"Sent again as {retry_no}." in after
    forged_banner = ops.get(
        "/ops/payments/refunds?retried=Call+0800+now", headers={"Accept-Language": "en"}
    )
    assert "Sent again as" not in forged_banner.text.split("<table")[0]
    assert f'action="/ops/payments/refunds/{failed}/retry"' not in after
    assert service.count_failed_refunds(db, history["ops"]) == 0
    # the API gives the same retry back; an unknown or pending refund is refused
    api = api_client(history["operator"])
    same = api.post(f"/api/v1/payments/refunds/{failed}/retry")
    assert same.status_code == 201 and same.json()["out_refund_no"] == retry_no
    assert api.post("/api/v1/payments/refunds/RF-none/retry").status_code == 404
    pending = api.post(f"/api/v1/payments/refunds/{history['pending']}/retry")
    assert pending.status_code == 409 and pending.json()["error"]["code"] == "refund_not_failed"

"""The sandbox end to end over HTTP: /pay -> cashier -> pay -> notification -> order paid."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.payments.conftest import Poster, Shop, order_state, place, rows, scalar
from xiaodian.payments import delivery, pages, service
from xiaodian.payments.delivery import deliver_due
from xiaodian.payments.models import (
    DeliveryStatus,
    NotificationLog,
    Payment,
    PaymentEvent,
    PaymentStatus,
    SandboxDelivery,
)


def _csrf(browser: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": browser.cookies.get("xd_csrf", ""), "Accept": "application/json"}


def _to_cashier(browser: TestClient, *order_nos: str) -> str:
    response = browser.get(f"/pay?orders={','.join(order_nos)}", follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/sandbox/cashier/XD")
    return location


def test_checkout_to_paid_through_the_cashier(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    out_trade_no = cashier.rsplit("/", 1)[1]
    page = browser.get(cashier)
    assert page.status_code == 200
    assert "¥39.80" in page.text and order.order_no in page.text
    assert "<svg" in page.text and "1900000109" in page.text
    # the same orders again: the same payment (no second trade)
    assert _to_cashier(browser, order.order_no) == cashier

    paid = browser.post(f"{cashier}/pay", headers=_csrf(browser))
    assert paid.status_code == 200, paid.text
    assert paid.json()["poll"] == f"/api/v1/payments/{out_trade_no}"
    # the background task delivered the WeChat-style notification at once
    assert sandbox_poster.answers == [204]
    url, headers, body = sandbox_poster.calls[0]
    assert url == "http://127.0.0.1:8000/api/v1/payments/notify"
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert b'"event_type":"TRANSACTION.SUCCESS"' in body and b"AEAD_AES_256_GCM" in body
    assert out_trade_no.encode() not in body  # the resource is encrypted

    status = browser.get(f"/api/v1/payments/{out_trade_no}").json()
    assert status["status"] == "paid"
    assert status["return_url"] == f"/orders/{order.order_no}"
    assert order_state(db, order.order_no) == ("paid", 3980, 0)

    # double click on pay: nothing twice
    again = browser.post(f"{cashier}/pay", headers=_csrf(browser))
    assert again.status_code == 200 and again.json()["status"] == "paid"
    assert len(sandbox_poster.calls) == 1
    assert scalar(db, select(func.count()).select_from(SandboxDelivery)) == 1
    # the cashier of a paid payment sends the buyer to the order
    done = browser.get(cashier, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/orders/{order.order_no}"
    actions = rows(db, select(PaymentEvent.action).order_by(PaymentEvent.id))
    assert actions == ["created", "buyer_paid", "paid"]
    log = rows(db, select(NotificationLog))
    assert [(e.outcome.value, e.http_status) for e in log] == [("accepted", 204)]


def test_form_post_without_javascript(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    response = browser.post(
        f"{cashier}/pay",
        data={"csrf_token": browser.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("?paying=1")
    landing = browser.get(response.headers["location"], follow_redirects=False)
    assert landing.headers["location"] == f"/orders/{order.order_no}"


def test_several_orders_in_one_payment(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster
) -> None:
    first = place(db, scene, qty=1)
    second = place(db, scene, qty=1, sku_id=scene.sku2_id)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, first.order_no, second.order_no)
    assert "¥49.80" in browser.get(cashier).text
    browser.post(f"{cashier}/pay", headers=_csrf(browser))
    status = browser.get(f"/api/v1/payments/{cashier.rsplit('/', 1)[1]}").json()
    assert status["status"] == "paid" and status["return_url"] == "/orders"
    for no in (first.order_no, second.order_no):
        assert order_state(db, no)[0] == "paid"


def test_cancel_leaves_nothing_paid(db: Session, scene: Shop, login_client: Any) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    response = browser.post(
        f"{cashier}/cancel",
        data={"csrf_token": browser.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/orders/{order.order_no}"
    assert order_state(db, order.order_no)[0] == "pending_payment"
    payment = scalar(db, select(Payment))
    assert payment is not None and payment.status == PaymentStatus.OPEN
    assert scalar(db, select(func.count()).select_from(SandboxDelivery)) == 0


def test_only_the_buyer_sees_and_pays(
    db: Session, scene: Shop, login_client: Any, make_user: Any, api_client: Any
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    out_trade_no = cashier.rsplit("/", 1)[1]
    stranger = login_client(make_user())
    assert stranger.get(cashier).status_code == 404
    assert stranger.post(f"{cashier}/pay", headers=_csrf(stranger)).status_code == 404
    assert stranger.get(f"/api/v1/payments/{out_trade_no}").status_code == 404
    # not signed in: to the login page, and no payment for someone else's order
    anonymous = TestClient(browser.app)
    response = anonymous.get(cashier, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert anonymous.get(f"/api/v1/payments/{out_trade_no}").status_code == 401
    assert stranger.get(f"/pay?orders={order.order_no}", follow_redirects=False).status_code == 404
    owner = api_client(scene.owner)
    r = owner.post("/api/v1/payments", json={"order_nos": [order.order_no], "method": "sandbox"})
    assert r.status_code == 404
    # the pay button needs the CSRF token
    assert browser.post(f"{cashier}/pay").status_code == 403
    assert scalar(db, select(func.count()).select_from(SandboxDelivery)) == 0


def test_api_start_payment_and_bad_input(db: Session, scene: Shop, api_client: Any) -> None:
    order = place(db, scene)
    client = api_client(scene.buyer)
    body = {"order_nos": [order.order_no], "method": "sandbox"}
    first = client.post("/api/v1/payments", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["amount_fen"] == 3980 and data["reused"] is False
    assert data["cashier_url"] == f"http://127.0.0.1:8000/sandbox/cashier/{data['out_trade_no']}"
    again = client.post("/api/v1/payments", json=body, headers={"Idempotency-Key": "k1"})
    assert again.json()["out_trade_no"] == data["out_trade_no"] and again.json()["reused"]
    assert scalar(db, select(func.count()).select_from(Payment)) == 1
    for bad in (
        {"order_nos": [], "method": "sandbox"},
        {"order_nos": [order.order_no], "method": "alipay"},
        {"order_nos": "x", "method": "sandbox"},
        {"order_nos": [order.order_no]},
    ):
        response = client.post("/api/v1/payments", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "invalid"
    jsapi = client.post("/api/v1/payments", json={**body, "method": "jsapi"})
    # the sandbox plays JSAPI too (inside WeChat), but only for a payer with an openid
    assert jsapi.status_code == 422 and jsapi.json()["error"]["code"] == "no_openid"
    unknown = client.post("/api/v1/payments", json={**body, "order_nos": ["20200101000000"]})
    assert unknown.status_code == 404
    assert client.get("/api/v1/payments/XD0000").status_code == 404


def test_expired_orders_cannot_be_paid(
    db: Session, scene: Shop, login_client: Any, clock: Any
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    clock.advance(minutes=16)
    response = browser.post(f"{cashier}/pay", headers=_csrf(browser))
    assert response.status_code == 409
    assert scalar(db, select(func.count()).select_from(SandboxDelivery)) == 0
    assert browser.get(f"/pay?orders={order.order_no}", follow_redirects=False).status_code == 409


def test_delivery_retries_on_wechat_schedule_then_gives_up(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster, clock: Any
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    sandbox_poster.fail = 500
    browser.post(f"{cashier}/pay", headers=_csrf(browser))
    assert len(sandbox_poster.calls) == 1  # the first attempt, at once: failed
    waits = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600]
    for i, wait in enumerate(waits):
        clock.advance(seconds=wait - 1)
        deliver_due(db)
        assert len(sandbox_poster.calls) == 1 + i, f"too early before retry {i + 1}"
        clock.advance(seconds=1)
        deliver_due(db)
        assert len(sandbox_poster.calls) == 2 + i, f"retry {i + 1} missing"
    row = scalar(db, select(SandboxDelivery))
    assert row is not None and row.status == DeliveryStatus.FAILED and row.attempts == 16
    assert row.last_error == "HTTP 500"
    clock.advance(days=2)
    deliver_due(db)
    assert len(sandbox_poster.calls) == 16  # given up
    # every attempt was signed afresh, so none is refused as a replay
    stamps = {headers["Wechatpay-Timestamp"] for _u, headers, _b in sandbox_poster.calls}
    assert len(stamps) == 16
    assert order_state(db, order.order_no)[0] == "pending_payment"


def test_delivery_succeeds_on_a_retry(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster, clock: Any
) -> None:
    order = place(db, scene)
    browser = login_client(scene.buyer)
    cashier = _to_cashier(browser, order.order_no)
    sandbox_poster.fail = "connect"
    browser.post(f"{cashier}/pay", headers=_csrf(browser))
    sandbox_poster.fail = None
    clock.advance(seconds=15)
    assert deliver_due(db).delivered == 1
    assert deliver_due(db).delivered == 0  # idempotent
    clock.advance(minutes=10)
    assert deliver_due(db).delivered == 0
    row = scalar(db, select(SandboxDelivery))
    assert row is not None and row.status == DeliveryStatus.DELIVERED and row.attempts == 2
    assert order_state(db, order.order_no)[0] == "paid"


def _paid_with_a_claim(db: Session, scene: Shop) -> tuple[Any, Any, service.SandboxPaid]:
    """An order, its sandbox payment, and that payment paid with its first delivery
    attempt claimed (as the cashier pays), not posted yet."""
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    return order, start, service.sandbox_pay(db, scene.buyer_actor, start.out_trade_no, claim=True)


def test_the_cashiers_first_attempt_is_claimed_as_the_trade_is_paid(
    db: Session,
    scene: Shop,
    login_client: Any,
    sandbox_poster: Poster,
    database: Any,
    count_queries: Any,
    clock: Any,
) -> None:
    """The cashier claims the notification's first attempt in the transaction that pays
    the trade, so posting it reads nothing and claims nothing: the post and one UPDATE of
    its outcome. A retry is due 15 s later, as after any claimed attempt."""
    order, start, paid = _paid_with_a_claim(db, scene)
    assert paid.claimed is not None and paid.claimed.claimed_until is not None
    row = scalar(db, select(SandboxDelivery))
    assert row is not None and row.attempts == 1 and row.status == DeliveryStatus.PENDING
    db.rollback()
    assert deliver_due(db).delivered == 0  # in flight: not due again
    assert sandbox_poster.calls == []
    # the poster answers from the app at once: count the delivery's own statements
    with count_queries(only=lambda statement: "sandbox_deliveries" in statement) as counted:
        pages._deliver(database, start.out_trade_no, paid.claimed)
    assert sandbox_poster.answers == [204]
    assert [s.split()[0] for s in counted.statements] == ["UPDATE"], counted.statements
    assert order_state(db, order.order_no)[0] == "paid"
    clock.advance(seconds=15)
    assert deliver_due(db).delivered == 0  # delivered: no retry
    assert len(sandbox_poster.calls) == 1


def test_a_claimed_attempt_that_was_never_posted_is_retried_after_15_s(
    db: Session, scene: Shop, sandbox_poster: Poster, clock: Any
) -> None:
    """The process stopped between the commit that claimed the first attempt and its post:
    the retry job delivers it 15 s later, not before, and the order is paid once."""
    order, _start, paid = _paid_with_a_claim(db, scene)
    assert paid.claimed is not None
    clock.advance(seconds=14)
    assert deliver_due(db).delivered == 0
    clock.advance(seconds=1)
    assert deliver_due(db).delivered == 1
    assert sandbox_poster.answers == [204]
    row = scalar(db, select(SandboxDelivery))
    assert row is not None and row.status == DeliveryStatus.DELIVERED and row.attempts == 2
    assert order_state(db, order.order_no)[0] == "paid"
    with pytest.raises(ValueError):  # only a claimed notification is posted directly
        delivery.post_claimed(db, dataclasses.replace(paid.claimed, claimed_until=None))


def test_a_claimed_attempt_started_too_late_is_left_to_the_retry_job(
    db: Session, scene: Shop, sandbox_poster: Poster, clock: Any
) -> None:
    """A server too busy to post the claimed attempt within 5 s of the payment does not
    post it blind (its post could still run when the retry job takes it at 15 s): it is
    claimed as any due attempt, so it goes out once, when the claim has run out."""
    order, _start, paid = _paid_with_a_claim(db, scene)
    assert paid.claimed is not None
    clock.advance(seconds=6)
    assert delivery.post_claimed(db, paid.claimed).delivered == 0
    assert sandbox_poster.calls == []
    clock.advance(seconds=9)
    assert delivery.post_claimed(db, paid.claimed).delivered == 1  # due now: claimed, posted
    assert deliver_due(db).delivered == 0  # the job finds it delivered
    assert len(sandbox_poster.calls) == 1
    assert order_state(db, order.order_no)[0] == "paid"


def test_sandbox_keys_are_made_in_a_folder_that_holds_a_setting(tmp_path: Any) -> None:
    """A sandbox folder holding only its refund mode (written before any key, as an older
    build did) still gets its keys, and the setting stays."""
    from xiaodian.payments.providers.sandbox import load_keys

    folder = tmp_path / "sandbox"
    folder.mkdir()
    (folder / "refund_mode").write_text("processing")
    keys = load_keys(folder)
    assert keys.apiv3_key and (folder / "platform_private_key.pem").is_file()
    assert (folder / "refund_mode").read_text() == "processing"
    assert load_keys.__wrapped__(folder).apiv3_key == keys.apiv3_key  # read back, the same


def test_a_buyer_waiting_for_the_payment_is_told_when_it_is_paid(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster, count_queries: Any
) -> None:
    """``GET /api/v1/payments/{no}?wait=N`` answers the moment the notification's commit
    marks the payment paid, from the announcement itself (no second read, no polling)."""
    import threading

    order = place(db, scene)
    browser = login_client(scene.buyer)
    out_trade_no = _to_cashier(browser, order.order_no).rsplit("/", 1)[1]
    url = f"/api/v1/payments/{out_trade_no}"
    assert browser.get(url, params={"wait": 0}).json()["status"] == "open"
    # an open payment that nothing changes is answered when the wait is over, still open
    assert browser.get(url, params={"wait": 0.2}).json()["status"] == "open"
    assert browser.get(url, params={"wait": 31}).status_code == 422

    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(browser.get(url, params={"wait": 30})))

    def buyer_reads(counter: Any) -> int:  # a buyer's read of their payment (the waiter's, or
        return sum("payments.buyer_id = " in s for s in counter.statements)  # the cashier's)

    with count_queries(only=lambda s: "FROM payments" in s) as reads:
        waiter.start()
        pause = threading.Event()
        for _ in range(500):  # until the waiter has read once: it is subscribed by then
            if buyer_reads(reads) >= 1:
                break
            pause.wait(0.02)
        assert buyer_reads(reads) == 1
        paid = browser.post(f"/sandbox/cashier/{out_trade_no}/pay", headers=_csrf(browser))
        assert paid.status_code == 200, paid.text
        waiter.join(25)
    assert not waiter.is_alive(), "the waiting buyer was never told"
    body = answers[0].json()
    assert body["status"] == "paid" and body["order_nos"] == [order.order_no]
    assert body["return_url"] == f"/orders/{order.order_no}" and body["paid_at"]
    # the waiter's one read, the cashier's own: the answer came with the announcement
    assert buyer_reads(reads) == 2, reads.statements


def test_the_status_read_in_one_statement_is_the_payments_own_view(
    db: Session, scene: Shop, login_client: Any, sandbox_poster: Poster
) -> None:
    """``buyers_payment_view`` (the status and the wait, one statement) says what
    ``payment_view`` of the loaded payment says, for one order and for several, open and
    paid; another buyer's payment is "not found"."""
    from tests.payments.conftest import actor_for
    from xiaodian.errors import NotFound
    from xiaodian.payments import service

    one = place(db, scene, qty=1)
    first, second = place(db, scene, qty=1), place(db, scene, qty=2, sku_id=scene.sku2_id)
    browser = login_client(scene.buyer)
    buyer = scene.buyer_actor
    for numbers in ((one.order_no,), (first.order_no, second.order_no)):
        no = _to_cashier(browser, *numbers).rsplit("/", 1)[1]
        for _state in ("open", "paid"):
            db.rollback()  # a new snapshot: the pay below committed elsewhere
            payment = service.get_payment(db, buyer, no)
            assert service.buyers_payment_view(db, buyer, no) == service.payment_view(payment)
            assert payment.status.value == _state
            browser.post(f"/sandbox/cashier/{no}/pay", headers=_csrf(browser))
        assert len(service.buyers_payment_view(db, buyer, no)["order_nos"]) == len(numbers)
        with pytest.raises(NotFound):
            service.buyers_payment_view(db, actor_for(scene.owner), no)

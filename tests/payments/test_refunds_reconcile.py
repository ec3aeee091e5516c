"""Refunds (partial, over-refund, concurrency, notifications) and reconciliation, on the
sandbox (the WeChat Pay backend's request building is in test_wechatpay.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.payments.conftest import (
    Keys,
    Poster,
    Shop,
    build_notification,
    notify,
    order_state,
    place,
    refund_resource,
    scalar,
)
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, InvalidInput
from xiaodian.orders import service as orders_service
from xiaodian.payments import reconcile, service
from xiaodian.payments.delivery import deliver_due
from xiaodian.payments.models import Payment, Refund, SandboxRefund
from xiaodian.payments.providers import get_sandbox


def paid_order(db: Session, scene: Shop, qty: int = 2) -> tuple[Any, str]:
    """An order paid through the sandbox (buyer pays, notification delivered)."""
    order = place(db, scene, qty=qty)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    service.sandbox_pay(db, scene.buyer_actor, start.out_trade_no)
    deliver_due(db)
    assert order_state(db, order.order_no)[0] == "paid"
    return order, start.out_trade_no


def refund(db: Session, order: Any, amount: int, ref: str) -> Refund:
    row = service.request_refund(db, order_id=order.id, amount_fen=amount, reason="测试", ref=ref)
    db.commit()
    return row


def test_partial_refunds_then_full(db: Session, scene: Shop, sandbox_poster: Poster) -> None:
    order, _no = paid_order(db, scene)
    refund(db, order, 1000, "aftersale:1")
    assert service.submit_refunds(db) == 1
    assert order_state(db, order.order_no) == ("paid", 3980, 1000)
    deliver_due(db)  # the REFUND.SUCCESS notification: already settled, a no-op
    assert order_state(db, order.order_no) == ("paid", 3980, 1000)
    with pytest.raises(Conflict):
        refund(db, order, 2981, "ops:2")
    db.rollback()
    refund(db, order, 2980, "ops:3")
    service.submit_refunds(db)
    assert order_state(db, order.order_no) == ("closed", 3980, 3980)
    with pytest.raises(Conflict):
        refund(db, order, 1, "ops:4")
    db.rollback()
    with pytest.raises(InvalidInput):
        refund(db, order, 0, "ops:5")
    db.rollback()
    # the same ref again gives back the same refund
    again = service.request_refund(db, order_id=order.id, amount_fen=2980, reason="x", ref="ops:3")
    assert again.status == "succeeded"
    db.rollback()
    assert scalar(db, select(func.count()).select_from(SandboxRefund)) == 2


def test_unpaid_order_cannot_be_refunded(db: Session, scene: Shop) -> None:
    order = place(db, scene)
    with pytest.raises(Conflict):
        refund(db, order, 100, "ops:1")


def test_refund_notification_settles_a_processing_refund(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    row = refund(db, order, 500, "aftersale:9")
    service.submit_refunds(db)
    assert scalar(db, select(Refund.status)) == "processing"
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    service.sandbox_refund_outcome(db, operator, out_refund_no=row.out_refund_no, outcome="success")
    deliver_due(db)
    assert sandbox_poster.answers[-1] == 204
    assert scalar(db, select(Refund.status)) == "succeeded"
    assert order_state(db, order.order_no) == ("paid", 3980, 500)


def test_failed_refund_frees_the_amount(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    row = refund(db, order, 3980, "ops:1")
    service.submit_refunds(db)
    service.sandbox_refund_outcome(db, operator, out_refund_no=row.out_refund_no, outcome="closed")
    deliver_due(db)
    assert scalar(db, select(Refund.status)) == "failed"
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    refund(db, order, 3980, "ops:2")  # the money is refundable again


def test_an_abnormal_refund_stays_in_flight_and_is_not_sent_again(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any, login_client: Any
) -> None:
    """ABNORMAL is not final at WeChat Pay (the money left; the merchant finishes it there):
    the refund stays processing, its amount stays taken, and nobody can send it again."""
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    row = refund(db, order, 3980, "ops:1")
    service.submit_refunds(db)
    service.sandbox_refund_outcome(
        db, operator, out_refund_no=row.out_refund_no, outcome="abnormal"
    )
    deliver_due(db)
    assert sandbox_poster.answers[-1] == 204
    db.expire_all()
    assert scalar(db, select(Refund.status)) == "processing"
    assert (scalar(db, select(Refund.failure)) or "").startswith("ABNORMAL")
    assert service.count_failed_refunds(db, operator) == 1  # waiting for the merchant
    with pytest.raises(Conflict):
        service.retry_refund(db, operator, out_refund_no=row.out_refund_no)
    db.rollback()
    with pytest.raises(Conflict):  # its amount is still taken
        refund(db, order, 3980, "ops:2")
    db.rollback()
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    # the operators see it as abnormal, with no button to send it again
    ops = login_client(make_user(operator=True)).get("/ops/payments/refunds")
    assert "data-abnormal" in ops.text and "/retry" not in ops.text


def test_operator_refund_keys_cannot_hold_the_retry_mark(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    for key in ("a#r1", "x" * 41, "tab\there"):
        with pytest.raises(InvalidInput):
            service.operator_refund(
                db,
                operator,
                order_no=order.order_no,
                amount_fen=100,
                reason="x",
                idempotency_key=key,
            )
        db.rollback()
    assert scalar(db, select(func.count()).select_from(Refund)) == 0


def test_refund_notification_before_we_submitted(
    db: Session, scene: Shop, sandbox_poster: Poster, client: TestClient
) -> None:
    """Out of order: REFUND.SUCCESS for a refund still pending on our side settles it."""
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization

    from xiaodian import settings as settings_module
    from xiaodian.payments.providers import sandbox as sandbox_module
    from xiaodian.payments.providers.sandbox import load_keys

    order, out_trade_no = paid_order(db, scene)
    row = refund(db, order, 700, "ops:1")
    loaded = load_keys(Path(settings_module.current().data_dir) / "sandbox")
    platform = serialization.load_pem_private_key(loaded.platform_private_pem.encode(), None)
    keys = Keys(
        platform=platform,  # type: ignore[arg-type]
        apiv3_key=loaded.apiv3_key,
        serial=sandbox_module.PUBLIC_KEY_ID,
        mchid=sandbox_module.MCHID,
        appid=sandbox_module.APPID,
    )
    trade = get_sandbox(db).trade(out_trade_no)
    assert trade is not None
    paid_by = trade.transaction_id
    db.commit()
    resource = refund_resource(
        keys, out_trade_no, row.out_refund_no, 700, 3980, transaction_id=paid_by
    )
    headers, body = build_notification(
        keys, event_type="REFUND.SUCCESS", resource=resource, original_type="refund"
    )
    assert notify(client, headers, body).status_code == 204
    assert scalar(db, select(Refund.status)) == "succeeded"
    assert order_state(db, order.order_no) == ("paid", 3980, 700)
    wrong = refund_resource(
        keys, out_trade_no, row.out_refund_no, 701, 3980, transaction_id=paid_by
    )
    headers, body = build_notification(
        keys, event_type="REFUND.SUCCESS", resource=wrong, original_type="refund"
    )
    assert notify(client, headers, body).status_code == 400  # amount mismatch
    assert order_state(db, order.order_no) == ("paid", 3980, 700)


def test_concurrent_refunds_never_exceed_the_payment(
    db: Session, scene: Shop, sandbox_poster: Poster, database: Any
) -> None:
    order, _no = paid_order(db, scene)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        with database.session() as session:
            barrier.wait()
            try:
                service.request_refund(
                    session, order_id=order.id, amount_fen=1000, reason="并发", ref=f"t:{i}"
                )
                session.commit()
                results.append("ok")
            except Conflict:
                session.rollback()
                results.append("conflict")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 3 and results.count("conflict") == 5
    total = scalar(db, select(func.sum(Refund.amount_fen)))
    assert total == 3000
    service.submit_refunds(db)
    assert order_state(db, order.order_no) == ("paid", 3980, 3000)


def test_operator_refund_api(
    db: Session, scene: Shop, sandbox_poster: Poster, api_client: Any, make_user: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = api_client(make_user(operator=True))
    url = "/api/v1/payments/refunds"
    ok = operator.post(
        url,
        json={"order_no": order.order_no, "amount_fen": 1000, "reason": "补偿"},
        headers={"Idempotency-Key": "r1"},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["status"] == "pending" and ok.json()["amount_fen"] == 1000
    again = operator.post(
        url,
        json={"order_no": order.order_no, "amount_fen": 1000, "reason": "补偿"},
        headers={"Idempotency-Key": "r1"},
    )
    assert again.json()["out_refund_no"] == ok.json()["out_refund_no"]
    over = operator.post(url, json={"order_no": order.order_no, "amount_fen": 2981})
    assert over.status_code == 409 and over.json()["error"]["code"] == "refund_exceeds_paid"
    for bad in (
        {"order_no": order.order_no, "amount_fen": 0},
        {"order_no": order.order_no, "amount_fen": "100"},
    ):
        assert operator.post(url, json=bad).status_code == 422
    assert operator.post(url, json={"order_no": "1", "amount_fen": 1}).status_code == 404
    buyer = api_client(scene.buyer)
    assert buyer.post(url, json={"order_no": order.order_no, "amount_fen": 1}).status_code == 403
    owner = api_client(scene.owner)
    assert owner.post(url, json={"order_no": order.order_no, "amount_fen": 1}).status_code == 403
    assert scalar(db, select(func.count()).select_from(Refund)) == 1


def test_reconcile_finds_a_lost_notification(
    db: Session, scene: Shop, sandbox_poster: Poster, clock: Any
) -> None:
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    sandbox_poster.fail = "connect"
    service.sandbox_pay(db, scene.buyer_actor, start.out_trade_no)
    deliver_due(db)
    assert order_state(db, order.order_no)[0] == "pending_payment"
    clock.advance(minutes=4)
    assert reconcile.reconcile(db).paid == 0  # too young to ask
    clock.advance(minutes=1)
    report = reconcile.reconcile(db)
    assert report.paid == 1
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    assert reconcile.reconcile(db).paid == 0  # idempotent
    sandbox_poster.fail = None  # the notification finally arrives: a no-op
    clock.advance(hours=1)
    deliver_due(db)
    assert sandbox_poster.answers == [204]
    assert order_state(db, order.order_no) == ("paid", 3980, 0)


def test_reconcile_closes_expired_payments_and_late_success_is_honoured(
    db: Session, scene: Shop, sandbox_poster: Poster, clock: Any
) -> None:
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    clock.advance(minutes=16)
    orders_service.cancel_expired_orders(db)
    assert reconcile.reconcile(db).closed == 1
    assert scalar(db, select(Payment.status)) == "closed"
    sandbox = get_sandbox(db)
    trade = sandbox.trade(start.out_trade_no)
    assert trade is not None and trade.state == "CLOSED"
    db.commit()
    # the buyer had paid anyway (money taken at WeChat): honoured, and refunded in full
    trade.state = "NOTPAY"  # type: ignore[assignment]
    db.flush()
    sandbox.buyer_pays(start.out_trade_no, openid="o-late")
    db.commit()
    deliver_due(db)
    assert scalar(db, select(Payment.status)) == "paid"
    assert order_state(db, order.order_no)[0] == "cancelled"
    assert scalar(db, select(Refund.ref)) == "auto:order-cancelled"
    assert service.submit_refunds(db) == 1
    assert scalar(db, select(Refund.status)) == "succeeded"


def test_reconcile_settles_a_stuck_refund(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any, clock: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    row = refund(db, order, 800, "ops:1")
    service.submit_refunds(db)
    sandbox_poster.fail = 503
    service.sandbox_refund_outcome(db, operator, out_refund_no=row.out_refund_no, outcome="success")
    deliver_due(db)
    assert scalar(db, select(Refund.status)) == "processing"
    clock.advance(minutes=5)
    assert reconcile.reconcile(db).refunds_settled == 1
    assert order_state(db, order.order_no) == ("paid", 3980, 800)


def test_abnormal_refunds_do_not_crowd_others_out_of_reconciliation(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any, clock: Any
) -> None:
    order, _no = paid_order(db, scene)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    stuck = [refund(db, order, 100, f"ops:{n}") for n in range(3)]
    service.submit_refunds(db)
    for row in stuck:  # abnormal at WeChat Pay, and told so
        service.sandbox_refund_outcome(
            db, operator, out_refund_no=row.out_refund_no, outcome="abnormal"
        )
    deliver_due(db)
    late = refund(db, order, 800, "ops:late")  # a newer refund whose notification is lost
    service.submit_refunds(db)
    sandbox_poster.fail = 503
    service.sandbox_refund_outcome(
        db, operator, out_refund_no=late.out_refund_no, outcome="success"
    )
    deliver_due(db)
    clock.advance(minutes=5)
    report = reconcile.reconcile(db, limit=1)  # room for one: the newer one, not an abnormal one
    assert report.refunds_settled == 1
    assert order_state(db, order.order_no) == ("paid", 3980, 800)

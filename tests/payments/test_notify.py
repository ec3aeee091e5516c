"""The notify endpoint, on both providers: genuine notifications pay once; forgeries,
replays and mismatches are refused, change nothing and are logged."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.payments.conftest import (
    Keys,
    Shop,
    build_notification,
    notify,
    order_state,
    rows,
    scalar,
    transaction_resource,
)
from xiaodian.orders import service as orders_service
from xiaodian.payments.models import (
    NotificationLog,
    Payment,
    PaymentEvent,
    ProcessedNotification,
    Refund,
)


def test_genuine_notification_pays_once(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any
) -> None:
    order, out_trade_no = open_payment()
    resource = transaction_resource(keys, out_trade_no, 3980)
    headers, body = build_notification(keys, event_type="TRANSACTION.SUCCESS", resource=resource)
    response = notify(pay_client, headers, body)
    assert response.status_code == 204, response.text
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    payment = scalar(db, select(Payment))
    assert payment.status == "paid" and payment.transaction_id == resource["transaction_id"]
    # WeChat retries the same notification; a second one (another id) says the same
    assert notify(pay_client, headers, body).status_code == 204
    other_headers, other_body = build_notification(
        keys, event_type="TRANSACTION.SUCCESS", resource=resource
    )
    assert notify(pay_client, other_headers, other_body).status_code == 204
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    paid_events = (
        select(func.count()).select_from(PaymentEvent).where(PaymentEvent.action == "paid")
    )
    assert scalar(db, paid_events) == 1
    assert scalar(db, select(func.count()).select_from(ProcessedNotification)) == 2
    outcomes = [
        e.outcome.value for e in rows(db, select(NotificationLog).order_by(NotificationLog.id))
    ]
    assert outcomes == ["accepted", "duplicate", "accepted"]


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


REFUSALS = [
    ("bad_signature", 401, {"signing_key": "other"}),
    ("unknown_serial", 401, {"serial": "PUB_KEY_ID_0000000000000000000000000000BAD"}),
    ("unknown_serial", 401, {"serial": "7132D72A03E93CDDF8C03BBD1F37EEDF3A2FF200"}),
    ("stale_timestamp", 401, {"timestamp": -301}),
    ("stale_timestamp", 401, {"timestamp": +301}),
    ("undecryptable", 401, {"apiv3_key": "0123456789abcdef0123456789abcdef"}),
    ("amount", 400, {"resource": {"amount": {"total": 1, "currency": "CNY"}}}),
    ("unknown out_trade_no", 400, {"resource": {"out_trade_no": "XD20200101000000000000"}}),
    ("mchid", 400, {"resource": {"mchid": "1999999999"}}),
    ("appid", 400, {"resource": {"appid": "wx0000000000000000"}}),
    ("trade_state", 400, {"resource": {"trade_state": "NOTPAY"}}),
]


@pytest.mark.parametrize(("reason", "status", "change"), REFUSALS)
def test_refused_notifications_change_nothing(
    db: Session,
    keys: Keys,
    pay_client: TestClient,
    open_payment: Any,
    reason: str,
    status: int,
    change: dict[str, Any],
    clock: Any,
) -> None:
    order, out_trade_no = open_payment()
    resource = {**transaction_resource(keys, out_trade_no, 3980), **change.get("resource", {})}
    kwargs: dict[str, Any] = {}
    if change.get("signing_key"):
        kwargs["signing_key"] = _other_key()
    if "serial" in change:
        kwargs["serial"] = change["serial"]
    if "timestamp" in change:
        kwargs["timestamp"] = int(clock.now().timestamp()) + change["timestamp"]
    if "apiv3_key" in change:
        kwargs["apiv3_key"] = change["apiv3_key"]
    headers, body = build_notification(
        keys, event_type="TRANSACTION.SUCCESS", resource=resource, **kwargs
    )
    response = notify(pay_client, headers, body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == "FAIL"
    assert order_state(db, order.order_no) == ("pending_payment", 0, 0)
    assert scalar(db, select(Payment.status)) == "open"
    assert scalar(db, select(func.count()).select_from(ProcessedNotification)) == 0
    entry = scalar(db, select(NotificationLog))
    assert entry.outcome == "refused" and reason in (entry.reason or "")
    assert entry.http_status == status
    # a genuine notification still gets through afterwards
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    assert notify(pay_client, headers, body).status_code == 204
    assert order_state(db, order.order_no)[0] == "paid"


def test_tampered_and_malformed_bodies(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    tampered = body.replace(b'"summary": "', b'"summary": "x')
    assert notify(pay_client, headers, tampered).status_code == 401
    missing = {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}
    assert notify(pay_client, missing, body).status_code == 400
    assert notify(pay_client, {**headers, "Wechatpay-Timestamp": "soon"}, body).status_code == 400
    assert notify(pay_client, headers, b"\xff\xfe").status_code in (400, 401)
    assert pay_client.post("/api/v1/payments/notify", content=b"").status_code == 400
    assert order_state(db, order.order_no) == ("pending_payment", 0, 0)
    assert scalar(db, select(func.count()).select_from(NotificationLog)) == 5


def test_within_five_minutes_is_accepted(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any, clock: Any
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
        timestamp=int(clock.now().timestamp()) - 299,
    )
    assert notify(pay_client, headers, body).status_code == 204
    assert order_state(db, order.order_no)[0] == "paid"


def test_replay_after_five_minutes_is_refused(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any, clock: Any
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    clock.advance(minutes=5, seconds=1)
    assert notify(pay_client, headers, body).status_code == 401
    assert order_state(db, order.order_no)[0] == "pending_payment"


def test_cancelled_order_is_refunded_automatically(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any, scene: Shop
) -> None:
    order, out_trade_no = open_payment()
    orders_service.cancel_order(db, scene.buyer_actor, order.order_no)
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    assert notify(pay_client, headers, body).status_code == 204
    assert order_state(db, order.order_no) == ("cancelled", 0, 0)
    assert scalar(db, select(Payment.status)) == "paid"  # the money was taken
    refund = scalar(db, select(Refund))
    assert refund.amount_fen == 3980 and refund.ref == "auto:order-cancelled"
    assert refund.status == "pending" and refund.settles_order is False
    # the retry adds no second refund
    assert notify(pay_client, headers, body).status_code == 204
    assert scalar(db, select(func.count()).select_from(Refund)) == 1


def test_unknown_event_types_are_acknowledged(
    db: Session, keys: Keys, pay_client: TestClient, open_payment: Any
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SOMETHING",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    assert notify(pay_client, headers, body).status_code == 204
    assert order_state(db, order.order_no)[0] == "pending_payment"
    assert scalar(db, select(NotificationLog.outcome)) == "ignored"

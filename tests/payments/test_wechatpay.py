"""The WeChat Pay backend offline: requests built by wechatpayv3 (HTTP stubbed), JSAPI
signing, refunds, reconciliation by query, and the settings it needs."""

from __future__ import annotations

import json
from base64 import b64decode
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.payments.conftest import (
    TEST_APPID,
    TEST_MCHID,
    TEST_PUBLIC_KEY_ID,
    FakeWeChat,
    Shop,
    build_notification,
    notify,
    order_state,
    place,
    scalar,
    transaction_resource,
    wechat_refund_answer,
)
from xiaodian.payments import reconcile, service
from xiaodian.payments.models import Refund
from xiaodian.payments.providers import get_provider
from xiaodian.payments.providers.base import BadNotification
from xiaodian.settings import SettingsError, load_settings

NATIVE = "/v3/pay/transactions/native"
WECHATPAY = pytest.mark.parametrize("provider_name", ["wechatpay"])


@WECHATPAY
def test_native_prepay_request(
    db: Session, scene: Shop, use_wechatpay: Any, fake_wechat: FakeWeChat, pay_app: Any
) -> None:
    from fastapi.testclient import TestClient

    from xiaodian.accounts import service as accounts_service

    fake_wechat.answer("POST", NATIVE, 200, {"code_url": "weixin://wxpay/bizpayurl?pr=abc"})
    order = place(db, scene)
    token = accounts_service.issue_token(db, user_id=scene.buyer.id)
    api = TestClient(pay_app, headers={"Authorization": f"Bearer {token}"})
    response = api.post(
        "/api/v1/payments", json={"order_nos": [order.order_no], "method": "native"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["code_url"] == "weixin://wxpay/bizpayurl?pr=abc"
    sent = fake_wechat.requests[0]
    assert sent["method"] == "POST" and sent["path"] == NATIVE
    body = sent["json"]
    assert body["mchid"] == TEST_MCHID and body["appid"] == TEST_APPID
    assert body["amount"] == {"total": 3980, "currency": "CNY"}
    assert body["out_trade_no"] == response.json()["out_trade_no"]
    assert body["notify_url"] == "https://shop.example.com/api/v1/payments/notify"
    assert body["time_expire"].endswith("+08:00")
    auth = sent["headers"]["Authorization"]
    assert auth.startswith(f'WECHATPAY2-SHA256-RSA2048 mchid="{TEST_MCHID}"')
    assert sent["headers"]["Wechatpay-Serial"] == TEST_PUBLIC_KEY_ID
    # the sandbox method is not offered by WeChat Pay
    sandbox = api.post(
        "/api/v1/payments", json={"order_nos": [order.order_no], "method": "sandbox"}
    )
    assert sandbox.status_code == 422


def test_jsapi_parameters_are_signed(
    db: Session,
    scene: Shop,
    use_wechatpay: Any,
    fake_wechat: FakeWeChat,
    wechat_key_files: dict[str, Any],
) -> None:
    fake_wechat.answer("POST", "/v3/pay/transactions/jsapi", 200, {"prepay_id": "wx2017"})
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="jsapi", openid="oUpF8u"
    )
    assert fake_wechat.requests[0]["json"]["payer"] == {"openid": "oUpF8u"}
    params = start.jsapi
    assert params is not None and params["package"] == "prepay_id=wx2017"
    message = (
        "\n".join([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
        + "\n"
    )
    wechat_key_files["merchant"].public_key().verify(
        b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_provider_outage_writes_nothing(
    db: Session, scene: Shop, use_wechatpay: Any, fake_wechat: FakeWeChat
) -> None:
    from xiaodian.payments.core import ProviderUnavailable
    from xiaodian.payments.models import Payment

    fake_wechat.answer("POST", NATIVE, 500, {"code": "SYSTEM_ERROR", "message": "busy"})
    order = place(db, scene)
    with pytest.raises(ProviderUnavailable):
        service.start_payment(db, scene.buyer_actor, order_nos=[order.order_no], method="native")
    assert scalar(db, select(Payment.id)) is None


@WECHATPAY
def test_refund_submission_and_notification(
    db: Session,
    scene: Shop,
    use_wechatpay: Any,
    fake_wechat: FakeWeChat,
    keys: Any,
    pay_client: Any,
    open_payment: Any,
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    assert notify(pay_client, headers, body).status_code == 204
    db.expire_all()  # the order was loaded (unpaid) in an earlier transaction of this session
    row = service.request_refund(
        db, order_id=order.id, amount_fen=1500, reason="质量问题", ref="x:1"
    )
    db.commit()
    out_refund_no = row.out_refund_no
    fake_wechat.answer("POST", "/v3/refund/domestic/refunds", 500, None)
    assert service.submit_refunds(db) == 0  # an outage: stays pending, retried later
    assert scalar(db, select(Refund.status)) == "pending"
    fake_wechat.answer(
        "POST",
        "/v3/refund/domestic/refunds",
        200,
        wechat_refund_answer(out_trade_no, out_refund_no, "PROCESSING"),
    )
    assert service.submit_refunds(db) == 1
    sent = fake_wechat.requests[-1]["json"]
    assert sent["out_refund_no"] == out_refund_no and sent["out_trade_no"] == out_trade_no
    assert sent["amount"] == {"refund": 1500, "total": 3980, "currency": "CNY"}
    assert scalar(db, select(Refund.status)) == "processing"
    from tests.payments.conftest import refund_resource

    headers, body = build_notification(
        keys,
        event_type="REFUND.SUCCESS",
        resource=refund_resource(keys, out_trade_no, out_refund_no, 1500, 3980),
        original_type="refund",
    )
    assert notify(pay_client, headers, body).status_code == 204
    assert order_state(db, order.order_no) == ("paid", 3980, 1500)
    # a refund WeChat refuses for good fails at once
    service.request_refund(db, order_id=order.id, amount_fen=100, reason="x", ref="x:2")
    db.commit()
    fake_wechat.answer(
        "POST", "/v3/refund/domestic/refunds", 403, {"code": "NOT_ENOUGH", "message": "余额不足"}
    )
    service.submit_refunds(db)
    assert scalar(db, select(Refund.failure).where(Refund.ref == "x:2")).startswith("NOT_ENOUGH")


@WECHATPAY
def test_reconcile_by_query(
    db: Session,
    scene: Shop,
    use_wechatpay: Any,
    fake_wechat: FakeWeChat,
    keys: Any,
    open_payment: Any,
    clock: Any,
) -> None:
    order, out_trade_no = open_payment()
    fake_wechat.answer(
        "GET",
        f"/v3/pay/transactions/out-trade-no/{out_trade_no}",
        200,
        transaction_resource(keys, out_trade_no, 3980),
    )
    clock.advance(minutes=6)
    assert reconcile.reconcile(db).paid == 1
    assert order_state(db, order.order_no)[0] == "paid"
    assert fake_wechat.requests[-1]["path"].endswith(f"?mchid={TEST_MCHID}")


@WECHATPAY
def test_unknown_serial_never_fetches_certificates(
    db: Session, use_wechatpay: Any, fake_wechat: FakeWeChat, keys: Any
) -> None:
    provider = get_provider(db)
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource={},
        serial="5157F09EFDC096DE15EBE81A47057A72",
    )
    with pytest.raises(BadNotification) as caught:
        provider.parse_notification(headers, body)
    assert caught.value.reason == "unknown_serial"
    assert fake_wechat.requests == []
    headers, body = build_notification(keys, event_type="TRANSACTION.SUCCESS", resource={"a": 1})
    parsed = provider.parse_notification({k.lower(): v for k, v in headers.items()}, body)
    assert parsed.resource == {"a": 1} and json.loads(body)["id"] == parsed.id


def test_wechatpay_settings_name_what_is_missing(tmp_path: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(payment_provider="wechatpay", data_dir=tmp_path)
    message = str(caught.value)
    for name in (
        "XIAODIAN_WECHATPAY_MCHID",
        "XIAODIAN_WECHATPAY_APPID",
        "XIAODIAN_WECHATPAY_APIV3_KEY",
        "XIAODIAN_WECHATPAY_CERT_SERIAL_NO",
        "XIAODIAN_WECHATPAY_PRIVATE_KEY_PATH",
        "XIAODIAN_WECHATPAY_PUBLIC_KEY_PATH",
        "XIAODIAN_WECHATPAY_PUBLIC_KEY_ID",
    ):
        assert name in message
    with pytest.raises(SettingsError) as caught:
        load_settings(
            payment_provider="wechatpay",
            data_dir=tmp_path,
            wechatpay_mchid="1",
            wechatpay_appid="wx1",
            wechatpay_apiv3_key="short",
            wechatpay_cert_serial_no="AB",
            wechatpay_private_key_path=tmp_path / "missing.pem",
            wechatpay_cert_dir=tmp_path,
        )
    message = str(caught.value)
    assert "XIAODIAN_WECHATPAY_APIV3_KEY" in message
    assert "XIAODIAN_WECHATPAY_PRIVATE_KEY_PATH" in message
    assert "PUBLIC_KEY_PATH" not in message  # platform certificate mode
    assert load_settings(data_dir=tmp_path).payment_provider == "sandbox"


def test_daily_bills_are_asked_for_and_not_ready_or_absent_is_said(
    db: Session, use_wechatpay: Any, fake_wechat: FakeWeChat
) -> None:
    """``GET /v3/bill/tradebill`` and ``/fundflowbill``: the download address and hash, a
    bill still being made (try later) and a day without one (no trade)."""
    from datetime import date

    from xiaodian.payments.providers.base import BillNotReady

    provider = get_provider(db)
    answer = {
        "download_url": "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc",
        "hash_type": "SHA1",
        "hash_value": "79bb0f45fc4c42234a918000b2668d689e2bde04",
    }
    fake_wechat.answer("GET", "/v3/bill/tradebill", 200, answer)
    found = provider.apply_bill("trade", date(2026, 6, 18))
    assert found is not None and found.download_url == answer["download_url"]
    assert fake_wechat.requests[-1]["path"] == (
        "/v3/bill/tradebill?bill_date=2026-06-18&bill_type=ALL&tar_type=GZIP"
    )
    creating = {"code": "STATEMENT_CREATING", "message": "账单生成中"}
    fake_wechat.answer("GET", "/v3/bill/fundflowbill", 400, creating)
    with pytest.raises(BillNotReady):
        provider.apply_bill("fundflow", date(2026, 6, 18))
    absent = {"code": "NO_STATEMENT_EXIST", "message": "账单不存在"}
    fake_wechat.answer("GET", "/v3/bill/tradebill", 400, absent)
    assert provider.apply_bill("trade", date(2026, 6, 17)) is None

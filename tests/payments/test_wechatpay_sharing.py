"""Profit sharing (分账) on WeChat Pay (HTTP stubbed): a payment made while it is on asks for
``settle_info.profit_sharing``; the receiver, split, query and unfreeze requests the SDK
sends (the merchant receiver's name encrypted), and their answers read back."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.payments.conftest import TEST_APPID, FakeWeChat, Shop, place
from xiaodian import settings as settings_module
from xiaodian.payments.providers import get_provider
from xiaodian.payments.providers.base import ProviderRejected, SharingReceiver

WECHATPAY = pytest.mark.parametrize("provider_name", ["wechatpay"])
ORDERS = "/v3/profitsharing/orders"
TID = "4208450740201411110007820472"
ANSWER = {
    "transaction_id": TID,
    "out_order_no": "XDPS12",
    "order_id": "3008450740201411110007820472",
    "state": "FINISHED",
    "receivers": [
        {
            "type": "MERCHANT_ID",
            "account": "1900000200",
            "amount": 100,
            "description": "技术服务费",
            "result": "SUCCESS",
            "fail_reason": "",
            "detail_id": "36011111111111111111111",
        },
        {
            "type": "PERSONAL_OPENID",
            "account": "o-p",
            "amount": 1000,
            "description": "推广佣金",
            "result": "CLOSED",
            "fail_reason": "ACCOUNT_ABNORMAL",
            "detail_id": "36011111111111111111112",
        },
    ],
}


@WECHATPAY
def test_a_payment_made_while_sharing_is_on_is_frozen_to_be_split(
    db: Session,
    scene: Shop,
    use_wechatpay: Any,
    fake_wechat: FakeWeChat,
    pay_app: Any,
    provider_name: str,
) -> None:
    from xiaodian.accounts import service as accounts_service

    settings_module.install(settings_module.current().model_copy(update={"profit_sharing": True}))
    fake_wechat.answer("POST", "/v3/pay/transactions/native", 200, {"code_url": "weixin://x"})
    order = place(db, scene)
    token = accounts_service.issue_token(db, user_id=scene.buyer.id)
    api = TestClient(pay_app, headers={"Authorization": f"Bearer {token}"})
    response = api.post(
        "/api/v1/payments", json={"order_nos": [order.order_no], "method": "native"}
    )
    assert response.status_code == 200, response.text
    assert fake_wechat.requests[0]["json"]["settle_info"] == {"profit_sharing": True}


@WECHATPAY
def test_sharing_requests_and_answers(
    db: Session, use_wechatpay: Any, fake_wechat: FakeWeChat, provider_name: str
) -> None:
    provider = get_provider(db)
    fake_wechat.answer("POST", "/v3/profitsharing/receivers/add", 200, {"type": "MERCHANT_ID"})
    provider.add_sharing_receiver("MERCHANT_ID", "1900000200", name="小店平台科技有限公司")
    added = fake_wechat.requests[-1]["json"]
    assert added["type"] == "MERCHANT_ID" and added["account"] == "1900000200"
    assert added["relation_type"] == "PARTNER" and added["appid"] == TEST_APPID
    assert added["name"] != "小店平台科技有限公司"  # encrypted with WeChat Pay's public key

    fake_wechat.answer("POST", ORDERS, 200, {**ANSWER, "state": "PROCESSING"})
    state = provider.share(
        "XDPS12",
        transaction_id=TID,
        receivers=[
            SharingReceiver("MERCHANT_ID", "1900000200", 100, "技术服务费"),
            SharingReceiver("PERSONAL_OPENID", "o-p", 1000, "推广佣金"),
        ],
        unfreeze_unsplit=False,
    )
    body = fake_wechat.requests[-1]["json"]
    assert body["transaction_id"] == TID and body["out_order_no"] == "XDPS12"
    assert body["unfreeze_unsplit"] is False
    assert [(r["type"], r["account"], r["amount"]) for r in body["receivers"]] == [
        ("MERCHANT_ID", "1900000200", 100),
        ("PERSONAL_OPENID", "o-p", 1000),
    ]
    assert state.state == "PROCESSING"

    fake_wechat.answer("GET", f"{ORDERS}/XDPS12", 200, ANSWER)
    state = provider.query_sharing("XDPS12", transaction_id=TID)
    assert fake_wechat.requests[-1]["path"] == f"{ORDERS}/XDPS12?transaction_id={TID}"
    assert state.state == "FINISHED" and state.order_id == ANSWER["order_id"]
    assert [(r.account, r.result) for r in state.receivers] == [
        ("1900000200", "SUCCESS"),
        ("o-p", "CLOSED"),
    ]
    fake_wechat.answer("GET", f"{ORDERS}/XDPS13", 404, {"code": "RESOURCE_NOT_EXISTS"})
    assert provider.query_sharing("XDPS13", transaction_id=TID).state == "NOT_FOUND"

    fake_wechat.answer("POST", f"{ORDERS}/unfreeze", 200, {**ANSWER, "state": "PROCESSING"})
    provider.unfreeze("XDPU1", transaction_id=TID, description="解冻剩余资金")
    assert fake_wechat.requests[-1]["json"]["description"] == "解冻剩余资金"

    fake_wechat.answer(
        "POST", ORDERS, 400, {"code": "INVALID_REQUEST", "message": "分账金额超出最大分账比例"}
    )
    with pytest.raises(ProviderRejected) as refused:
        provider.share("XDPS14", transaction_id=TID, receivers=[], unfreeze_unsplit=True)
    assert refused.value.code == "INVALID_REQUEST"

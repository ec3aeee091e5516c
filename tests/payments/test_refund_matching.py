"""What the provider says about a refund is matched in full against our records before it
changes anything: the refund's and the trade's numbers, WeChat's refund id (once we know
it), the transaction id, the trade's total and the refund's amount. Notifications, the
refund call's answer and reconciliation's query all go through the same check."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.payments.conftest import (
    FakeWeChat,
    Keys,
    Poster,
    Shop,
    build_notification,
    notify,
    order_state,
    place,
    refund_resource,
    scalar,
    transaction_resource,
    wechat_refund_answer,
)
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.payments import reconcile, service
from xiaodian.payments.delivery import deliver_due
from xiaodian.payments.models import (
    NotificationLog,
    ProcessedNotification,
    Refund,
    SandboxRefund,
    SandboxTrade,
)
from xiaodian.payments.providers import get_sandbox
from xiaodian.payments.providers import sandbox as sandbox_module
from xiaodian.payments.providers.sandbox import load_keys


def _sandbox_keys() -> Keys:
    loaded = load_keys(Path(settings_module.current().data_dir) / "sandbox")
    platform = serialization.load_pem_private_key(loaded.platform_private_pem.encode(), None)
    return Keys(
        platform=platform,  # type: ignore[arg-type]
        apiv3_key=loaded.apiv3_key,
        serial=sandbox_module.PUBLIC_KEY_ID,
        mchid=sandbox_module.MCHID,
        appid=sandbox_module.APPID,
    )


def _processing_refund(db: Session, scene: Shop, make_user: Any) -> tuple[Any, Refund, Actor]:
    """A paid sandbox order with a 700 fen refund accepted by the provider (processing)."""
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    service.sandbox_pay(db, scene.buyer_actor, start.out_trade_no)
    deliver_due(db)
    operator = Actor(user_id=make_user(operator=True).id, is_operator=True)
    service.sandbox_set_refund_mode(operator, "processing")
    row = service.request_refund(db, order_id=order.id, amount_fen=700, reason="测试", ref="o:1")
    db.commit()
    assert service.submit_refunds(db) == 1
    assert scalar(db, select(Refund.provider_refund_id)), "the provider's id is stored"
    return order, row, operator


def _without(path: str) -> Any:
    def change(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = resource
        for part in parents:
            target = target[part]
        del target[last]

    return change


def _setting(path: str, value: Any) -> Any:
    def change(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = resource
        for part in parents:
            target = target[part]
        target[last] = value

    return change


MISMATCHES = [
    ("refund_id", _setting("refund_id", "50300000000000000000000000001")),
    ("refund_id", _without("refund_id")),
    ("transaction_id", _setting("transaction_id", "4200009999202606189999999999")),
    ("transaction_id", _without("transaction_id")),
    ("total", _setting("amount.total", 3981)),
    ("total", _setting("amount.total", True)),
    ("total", _without("amount.total")),
    ("refund amount", _setting("amount.refund", 701)),
    ("out_trade_no", _setting("out_trade_no", "XD20260618000000999999")),
    ("out_trade_no", _without("out_trade_no")),
    ("mchid", _setting("mchid", "1900000001")),
]


@pytest.mark.parametrize(("reason", "change"), MISMATCHES)
def test_a_refund_notification_that_does_not_match_changes_nothing(
    db: Session,
    scene: Shop,
    sandbox_poster: Poster,
    client: TestClient,
    make_user: Any,
    reason: str,
    change: Any,
) -> None:
    order, row, _operator = _processing_refund(db, scene, make_user)
    sandbox = get_sandbox(db)
    sandbox_row = sandbox.refund_row(row.out_refund_no)
    assert sandbox_row is not None
    genuine = sandbox.refund_resource(sandbox_row)
    db.commit()
    genuine.update(refund_status="SUCCESS", success_time="2026-06-18T10:40:00+08:00")
    forged = copy.deepcopy(genuine)
    change(forged)
    processed = scalar(db, select(func.count()).select_from(ProcessedNotification))
    keys = _sandbox_keys()
    headers, body = build_notification(
        keys, event_type="REFUND.SUCCESS", resource=forged, original_type="refund"
    )
    answer = notify(client, headers, body)
    assert answer.status_code == 400 and answer.json()["code"] == "FAIL"
    assert scalar(db, select(Refund.status)) == "processing"
    assert order_state(db, order.order_no) == ("paid", 3980, 0)
    assert scalar(db, select(func.count()).select_from(ProcessedNotification)) == processed
    entry = scalar(db, select(NotificationLog).order_by(NotificationLog.id.desc()).limit(1))
    assert entry.outcome == "refused" and entry.http_status == 400
    assert reason in (entry.reason or ""), entry.reason
    assert entry.out_refund_no == row.out_refund_no
    # the genuine notification still settles it
    headers, body = build_notification(
        keys, event_type="REFUND.SUCCESS", resource=genuine, original_type="refund"
    )
    assert notify(client, headers, body).status_code == 204
    assert scalar(db, select(Refund.status)) == "succeeded"
    assert order_state(db, order.order_no) == ("paid", 3980, 700)


def test_a_refund_we_have_no_provider_id_for_takes_the_notified_one(
    db: Session, scene: Shop, sandbox_poster: Poster, client: TestClient
) -> None:
    """Before our refund call got its answer, a notification names WeChat's refund id: it
    is accepted (everything else matching) and remembered."""
    order = place(db, scene)
    start = service.start_payment(
        db, scene.buyer_actor, order_nos=[order.order_no], method="sandbox"
    )
    service.sandbox_pay(db, scene.buyer_actor, start.out_trade_no)
    deliver_due(db)
    row = service.request_refund(db, order_id=order.id, amount_fen=700, reason="测试", ref="o:1")
    db.commit()
    trade = get_sandbox(db).trade(start.out_trade_no)
    assert trade is not None
    resource = refund_resource(
        _sandbox_keys(),
        start.out_trade_no,
        row.out_refund_no,
        700,
        3980,
        transaction_id=trade.transaction_id,
    )
    db.commit()
    headers, body = build_notification(
        _sandbox_keys(), event_type="REFUND.SUCCESS", resource=resource, original_type="refund"
    )
    assert notify(client, headers, body).status_code == 204
    assert scalar(db, select(Refund.provider_refund_id)) == resource["refund_id"]
    assert order_state(db, order.order_no) == ("paid", 3980, 700)


def _tamper_refund_id(db: Session, out_refund_no: str) -> None:
    row = db.scalar(select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no))
    assert row is not None
    row.refund_id = "50300000000000000000000000001"


def _tamper_total(db: Session, out_refund_no: str) -> None:
    row = db.scalar(select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no))
    assert row is not None
    row.total_fen = 3981


def _tamper_amount(db: Session, out_refund_no: str) -> None:
    row = db.scalar(select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no))
    assert row is not None
    row.amount_fen = 701


def _tamper_transaction(db: Session, out_refund_no: str) -> None:
    trade = db.scalar(select(SandboxTrade))
    assert trade is not None
    trade.transaction_id = "4200009999202606189999999999"


@pytest.mark.parametrize(
    "tamper", [_tamper_refund_id, _tamper_total, _tamper_amount, _tamper_transaction]
)
def test_reconciliation_refuses_a_query_answer_that_does_not_match(
    db: Session, scene: Shop, sandbox_poster: Poster, make_user: Any, clock: Any, tamper: Any
) -> None:
    order, row, operator = _processing_refund(db, scene, make_user)
    sandbox_poster.fail = 503  # the notification is lost: only the query tells
    service.sandbox_refund_outcome(db, operator, out_refund_no=row.out_refund_no, outcome="success")
    deliver_due(db)
    tamper(db, row.out_refund_no)
    db.commit()
    clock.advance(minutes=5)
    report = reconcile.reconcile(db)
    assert (report.refunds_settled, report.errors) == (0, 1)
    assert scalar(db, select(Refund.status)) == "processing"
    assert order_state(db, order.order_no) == ("paid", 3980, 0)


WECHATPAY = pytest.mark.parametrize("provider_name", ["wechatpay"])
REFUNDS = "/v3/refund/domestic/refunds"


@WECHATPAY
def test_wechatpay_refund_answers_are_matched(
    db: Session,
    scene: Shop,
    use_wechatpay: Any,
    fake_wechat: FakeWeChat,
    keys: Any,
    pay_client: Any,
    open_payment: Any,
    clock: Any,
) -> None:
    order, out_trade_no = open_payment()
    headers, body = build_notification(
        keys,
        event_type="TRANSACTION.SUCCESS",
        resource=transaction_resource(keys, out_trade_no, 3980),
    )
    assert notify(pay_client, headers, body).status_code == 204
    db.expire_all()
    row = service.request_refund(db, order_id=order.id, amount_fen=1500, reason="x", ref="x:1")
    db.commit()
    no = row.out_refund_no
    # the refund call's answer names another trade's total: not applied, sent again later
    wrong_call = wechat_refund_answer(
        out_trade_no, no, "SUCCESS", amount={"total": 9999, "refund": 1500}
    )
    fake_wechat.answer("POST", REFUNDS, 200, wrong_call)
    assert service.submit_refunds(db) == 0
    assert scalar(db, select(Refund.status)) == "pending"
    fake_wechat.answer("POST", REFUNDS, 200, wechat_refund_answer(out_trade_no, no, "PROCESSING"))
    assert service.submit_refunds(db) == 1
    assert scalar(db, select(Refund.status)) == "processing"
    clock.advance(minutes=6)
    for wrong in (
        {"refund_id": "50300000000000000000000000001"},
        {"transaction_id": "4200009999202606189999999999"},
        {"amount": {**wechat_refund_answer("", "", "SUCCESS")["amount"], "total": 3981}},
    ):
        fake_wechat.answer(
            "GET",
            f"{REFUNDS}/{no}",
            200,
            wechat_refund_answer(out_trade_no, no, "SUCCESS", **wrong),
        )
        report = reconcile.reconcile(db)
        assert (report.refunds_settled, report.errors) == (0, 1), wrong
        assert order_state(db, order.order_no) == ("paid", 3980, 0)
    fake_wechat.answer(
        "GET", f"{REFUNDS}/{no}", 200, wechat_refund_answer(out_trade_no, no, "SUCCESS")
    )
    assert reconcile.reconcile(db).refunds_settled == 1
    assert order_state(db, order.order_no) == ("paid", 3980, 1500)

"""Withdrawals paid out by WeChat Pay's 商家转账 (HTTP stubbed): the request the SDK sends
for the owner who asked (their openid, the amount, the scene and its report), the answers
(success, failure returning the amount, processing finished by the job's query, a bill the
provider never received sent again under the same number), and an owner who never signed
in with WeChat refused before anything is sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import make_shop
from tests.orders.conftest import actor_for
from tests.payments.conftest import TEST_APPID, FakeWeChat
from xiaodian.accounts.models import WeChatIdentity
from xiaodian.actor import Actor
from xiaodian.errors import Conflict
from xiaodian.ledger import service as ledger
from xiaodian.ledger import withdrawals
from xiaodian.ledger.service import AVAILABLE, CLEARING, WITHDRAWING, Leg, NewTransfer

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
S = withdrawals.WithdrawalStatus
OPENID = "o-payee-0123456789abcdefghij"


@pytest.fixture
def payout(database: Any, make_user: Any, use_wechatpay: Any, fake_wechat: FakeWeChat) -> Any:
    owner, operator = make_user(), make_user(operator=True)
    with database.session() as db:
        shop = make_shop(db, owner)
        shop_id = shop.id
        db.add(WeChatIdentity(user_id=owner.id, app_id=TEST_APPID, openid=OPENID))
        legs = (Leg(CLEARING, 0, 50_000), Leg(AVAILABLE, shop_id, -50_000))
        ledger.post_transfers(db, [NewTransfer(key=f"seed:{shop_id}", kind="adjust", legs=legs)])
        db.commit()

    class Payout:
        owner_actor = actor_for(owner, {shop_id: "owner"})
        operator_actor = Actor(user_id=operator.id, is_operator=True)

        def request(self, amount_fen: int = 12_300) -> int:
            with database.session() as db:
                return withdrawals.request_withdrawal(
                    db, self.owner_actor, shop_id, amount_fen=amount_fen
                ).id

        def approve(self, withdrawal_id: int) -> Any:
            with database.session() as db:
                return withdrawals.approve(db, self.operator_actor, withdrawal_id)

        def balances(self) -> tuple[int, int]:
            with database.session() as db:
                raw = ledger.raw_balances(db, [(AVAILABLE, shop_id), (WITHDRAWING, shop_id)])
                return -raw[(AVAILABLE, shop_id)], -raw[(WITHDRAWING, shop_id)]

    found = Payout()
    found.shop_id = shop_id  # type: ignore[attr-defined]
    found.owner_id = owner.id  # type: ignore[attr-defined]
    return found


def _answer(fake: FakeWeChat, state: str, **more: Any) -> None:
    fake.answer(
        "POST",
        BILLS,
        200,
        {
            "out_bill_no": "x",
            "transfer_bill_no": "1330000071100999991182020050700019480001",
            "state": state,
            **more,
        },
    )


@pytest.mark.parametrize("provider_name", ["wechatpay"])
def test_an_approved_withdrawal_is_transferred_to_the_owners_wechat(
    payout: Any, fake_wechat: FakeWeChat, provider_name: str
) -> None:
    _answer(fake_wechat, "SUCCESS")
    withdrawal_id = payout.request(12_300)
    done = payout.approve(withdrawal_id)
    assert done.status == S.PAID and done.provider_ref.startswith("XDWD")
    (sent,) = [r for r in fake_wechat.requests if r["path"] == BILLS]
    body = sent["json"]
    assert body["openid"] == OPENID and body["transfer_amount"] == 12_300
    assert body["out_bill_no"] == done.provider_ref and body["appid"] == TEST_APPID
    assert body["transfer_scene_id"] == "1005"
    assert {i["info_type"] for i in body["transfer_scene_report_infos"]} == {"岗位类型", "报酬说明"}
    assert payout.balances() == (50_000 - 12_300, 0)


@pytest.mark.parametrize("provider_name", ["wechatpay"])
def test_a_failed_transfer_returns_the_amount(
    payout: Any, fake_wechat: FakeWeChat, provider_name: str
) -> None:
    _answer(fake_wechat, "FAIL", fail_reason="PAYEE_ACCOUNT_ABNORMAL")
    done = payout.approve(payout.request(12_300))
    assert done.status == S.FAILED and "PAYEE_ACCOUNT_ABNORMAL" in done.reason
    assert payout.balances() == (50_000, 0)


@pytest.mark.parametrize("provider_name", ["wechatpay"])
def test_a_processing_transfer_is_finished_by_the_job(
    payout: Any, fake_wechat: FakeWeChat, database: Any, clock: Any, provider_name: str
) -> None:
    _answer(fake_wechat, "WAIT_USER_CONFIRM")
    done = payout.approve(payout.request(12_300))
    assert done.status == S.APPROVED and payout.balances() == (50_000 - 12_300, 12_300)
    query = f"{BILLS}/out-bill-no/{done.provider_ref}"
    fake_wechat.answer(
        "GET", query, 200, {"out_bill_no": done.provider_ref, "state": "TRANSFERING"}
    )
    clock.advance(timedelta(minutes=5))
    with database.session() as db:
        assert withdrawals.payouts_due(db) == 0  # still under way
    fake_wechat.answer("GET", query, 200, {"out_bill_no": done.provider_ref, "state": "SUCCESS"})
    with database.session() as db:
        assert withdrawals.payouts_due(db) == 1
        assert withdrawals.payouts_due(db) == 0  # once
    assert payout.balances() == (50_000 - 12_300, 0)
    posts = [r for r in fake_wechat.requests if r["method"] == "POST" and r["path"] == BILLS]
    assert len(posts) == 1  # asked about, never sent twice


@pytest.mark.parametrize("provider_name", ["wechatpay"])
def test_a_bill_the_provider_never_received_is_sent_again_under_the_same_number(
    payout: Any, fake_wechat: FakeWeChat, database: Any, clock: Any, provider_name: str
) -> None:
    fake_wechat.answer("POST", BILLS, 500, {"code": "SYSTEM_ERROR", "message": "busy"})
    done = payout.approve(payout.request(12_300))
    assert done.status == S.APPROVED  # no answer: the job will ask
    clock.advance(timedelta(minutes=5))
    _answer(fake_wechat, "SUCCESS")  # the query is answered 404 (never received)
    with database.session() as db:
        assert withdrawals.payouts_due(db) == 1
    posts = [
        r["json"] for r in fake_wechat.requests if r["method"] == "POST" and r["path"] == BILLS
    ]
    assert len(posts) == 2 and posts[0]["out_bill_no"] == posts[1]["out_bill_no"]
    assert payout.balances() == (50_000 - 12_300, 0)


@pytest.mark.parametrize("provider_name", ["wechatpay"])
def test_an_owner_without_wechat_is_refused_before_anything_is_sent(
    payout: Any, fake_wechat: FakeWeChat, database: Any, provider_name: str
) -> None:
    from sqlalchemy import delete

    with database.session() as db:
        db.execute(delete(WeChatIdentity).where(WeChatIdentity.user_id == payout.owner_id))
        db.commit()
    withdrawal_id = payout.request(12_300)
    with pytest.raises(Conflict) as refused:
        payout.approve(withdrawal_id)
    assert refused.value.code == "payee_without_wechat"
    assert fake_wechat.requests == []
    with database.session() as db:
        assert db.get(withdrawals.Withdrawal, withdrawal_id).status == S.REQUESTED
    assert payout.balances() == (50_000 - 12_300, 12_300)

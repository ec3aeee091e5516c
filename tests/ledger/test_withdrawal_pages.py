"""The withdrawal pages: the owner's form and list on the money page, bad amounts shown
again with nothing moved, the operators' queue approving and rejecting."""

from __future__ import annotations

from typing import Any

from tests.factories import make_shop
from tests.ledger.conftest import balance
from tests.ledger.test_withdrawals import fund
from xiaodian.ledger.service import AVAILABLE, WITHDRAWING
from xiaodian.merchants.models import MemberRole, ShopMember


def _post(client: Any, url: str, **data: str) -> Any:
    data["csrf_token"] = client.cookies.get("xd_csrf", "")
    return client.post(url, data=data, follow_redirects=False)


def _money(database: Any, shop_id: int) -> tuple[int, int]:
    with database.session() as db:
        return balance(db, AVAILABLE, shop_id), balance(db, WITHDRAWING, shop_id)


def test_owner_requests_and_operator_decides(
    database: Any, make_user: Any, login_client: Any, settings: Any, clock: Any
) -> None:
    owner_user, staff_user, other_user = make_user(), make_user(), make_user()
    with database.session() as db:
        shop_id = make_shop(db, owner_user).id
        make_shop(db, other_user)
        db.add(ShopMember(shop_id=shop_id, user_id=staff_user.id, role=MemberRole.STAFF))
        db.commit()
    fund(database, shop_id, 10_000)
    owner = login_client(owner_user)
    url = f"/merchant/shops/{shop_id}/finance"
    page = owner.get(url)
    assert page.status_code == 200 and "申请提现" in page.text and "还没有提现记录" in page.text

    for amount, status, text in [
        ("0.99", 422, "单笔提现至少 ¥1.00"),
        ("100.01", 422, "超过了可提现余额（¥100.00）"),
        ("abc", 422, "金额"),
        ("", 422, "金额"),
    ]:
        bad = _post(owner, f"{url}/withdrawals", amount=amount)
        assert bad.status_code == status and text in bad.text, (amount, bad.text[-500:])
        assert f'value="{amount}"' in bad.text
    assert _money(database, shop_id) == (10_000, 0)

    assert _post(login_client(staff_user), f"{url}/withdrawals", amount="1").status_code == 403
    assert _post(login_client(other_user), f"{url}/withdrawals", amount="1").status_code == 404
    assert _money(database, shop_id) == (10_000, 0)

    done = _post(owner, f"{url}/withdrawals", amount="30.00")
    assert done.status_code == 303 and done.headers["location"] == url
    assert _money(database, shop_id) == (7_000, 3_000)
    again = _post(owner, f"{url}/withdrawals", amount="1")
    assert again.status_code == 409 and "今天已申请过提现" in again.text
    listed = owner.get(url).text
    assert 'data-status="requested"' in listed and "¥30.00" in listed

    operator = login_client(make_user(operator=True))
    assert owner.get("/ops/withdrawals").status_code == 403
    queue = operator.get("/ops/withdrawals")
    assert queue.status_code == 200 and "¥30.00" in queue.text
    withdrawal_id = queue.text.split('data-withdrawal="')[1].split('"')[0]
    no_reason = _post(operator, f"/ops/withdrawals/{withdrawal_id}/reject", reason=" ")
    assert no_reason.status_code == 422 and "请填写驳回提现的原因" in no_reason.text
    assert _post(owner, f"/ops/withdrawals/{withdrawal_id}/approve").status_code == 403
    approved = _post(operator, f"/ops/withdrawals/{withdrawal_id}/approve")
    assert approved.status_code == 303
    assert _money(database, shop_id) == (7_000, 0)
    twice = _post(operator, f"/ops/withdrawals/{withdrawal_id}/approve")
    assert twice.status_code == 409
    assert 'data-status="paid"' in owner.get(url).text
    assert operator.get("/ops/withdrawals/999999999/approve").status_code == 405
    assert _post(operator, "/ops/withdrawals/999999999/approve").status_code == 404

    clock.advance(days=1)
    assert _post(owner, f"{url}/withdrawals", amount="70").status_code == 303
    queue = operator.get("/ops/withdrawals").text
    second = queue.split('data-withdrawal="')[1].split('"')[0]
    rejected = _post(operator, f"/ops/withdrawals/{second}/reject", reason="账户信息有误")
    assert rejected.status_code == 303
    assert _money(database, shop_id) == (7_000, 0)
    assert "账户信息有误" in owner.get(url).text


def test_the_json_api(database: Any, make_user: Any, api_client: Any, clock: Any) -> None:
    owner_user, other_user = make_user(), make_user()
    with database.session() as db:
        shop_id = make_shop(db, owner_user).id
    fund(database, shop_id, 5_000)
    owner = api_client(owner_user)
    url = f"/api/v1/merchant/shops/{shop_id}/withdrawals"
    for body in ({"amount_fen": "100"}, {"amount_fen": True}, {"amount_fen": 0}, {}):
        assert owner.post(url, json=body).status_code == 422, body
    above = owner.post(url, json={"amount_fen": 5_001})
    assert above.status_code == 422 and above.json()["error"]["code"] == "withdrawal_above_balance"
    assert api_client(other_user).post(url, json={"amount_fen": 100}).status_code == 404
    assert (
        owner.post("/api/v1/merchant/shops/0/withdrawals", json={"amount_fen": 100}).status_code
        == 404
    )
    assert _money(database, shop_id) == (5_000, 0)

    made = owner.post(url, json={"amount_fen": 1_500})
    assert made.status_code == 201 and made.json()["status"] == "requested"
    assert owner.post(url, json={"amount_fen": 100}).status_code == 409
    assert [w["id"] for w in owner.get(url).json()] == [made.json()["id"]]

    operator = api_client(make_user(operator=True))
    assert owner.get("/api/v1/ops/withdrawals").status_code == 403
    (waiting,) = operator.get("/api/v1/ops/withdrawals").json()
    base = f"/api/v1/ops/withdrawals/{waiting['id']}"
    assert operator.post(f"{base}/reject", json={"reason": ""}).status_code == 422
    rejected = operator.post(f"{base}/reject", json={"reason": "信息不全"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert operator.post(f"{base}/approve").status_code == 409
    assert operator.post(f"{base}/payout", json={"outcome": "maybe"}).status_code == 422
    assert _money(database, shop_id) == (5_000, 0)

"""Promoters withdraw their available commission under the shops' rules: the minimum, at
most the balance (a clawed-back balance below zero waits), one request a day; approved and
paid out, or rejected and returned, through the same steps and transfers as a shop's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ledger.conftest import assert_books_balance, balance
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, InvalidInput
from xiaodian.ledger import service as ledger
from xiaodian.ledger import withdrawals
from xiaodian.ledger.service import (
    CLEARING,
    PROMOTER_AVAILABLE,
    PROMOTER_WITHDRAWING,
    Leg,
    NewTransfer,
)

S = withdrawals.WithdrawalStatus


def _earn(database: Any, promoter_id: int, amount_fen: int) -> None:
    """Give the promoter available commission (as settlement releases it)."""
    legs = (Leg(CLEARING, 0, amount_fen), Leg(PROMOTER_AVAILABLE, promoter_id, -amount_fen))
    with database.session() as db:
        ledger.post_transfers(
            db, [NewTransfer(key=f"earn:{promoter_id}", kind="adjust", legs=legs)]
        )
        db.commit()


def _balances(database: Any, promoter_id: int) -> tuple[int, int]:
    with database.session() as db:
        return (
            balance(db, PROMOTER_AVAILABLE, promoter_id),
            balance(db, PROMOTER_WITHDRAWING, promoter_id),
        )


def test_a_promoter_withdraws_like_a_shop(
    database: Any, make_user: Any, settings: Any, clock: Any
) -> None:
    promoter = make_user(creator=True)
    me = Actor(user_id=promoter.id, is_creator=True)
    op = Actor(user_id=make_user(operator=True).id, is_operator=True)
    _earn(database, promoter.id, 5_000)
    with database.session() as db:
        with pytest.raises(InvalidInput) as above:
            withdrawals.request_promoter_withdrawal(db, me, amount_fen=5_001)
        assert above.value.code == "withdrawal_above_balance"
        with pytest.raises(InvalidInput):
            withdrawals.request_promoter_withdrawal(db, me, amount_fen=1)  # below the minimum
    with database.session() as db:
        w = withdrawals.request_promoter_withdrawal(db, me, amount_fen=3_000)
        assert (w.promoter_id, w.shop_id, w.status) == (promoter.id, None, S.REQUESTED)
    assert _balances(database, promoter.id) == (2_000, 3_000)
    with database.session() as db, pytest.raises(Conflict) as daily:
        withdrawals.request_promoter_withdrawal(db, me, amount_fen=1_000)
    assert daily.value.code == "withdrawal_daily_limit"
    with database.session() as db:
        assert [r.amount_fen for r in withdrawals.queue(db, op)] == [3_000]
        paid = withdrawals.approve(db, op, w.id)
        assert paid.status == S.PAID
    assert _balances(database, promoter.id) == (2_000, 0)
    with database.session() as db:
        assert [r.status for r in withdrawals.my_withdrawals(db, me)] == ["paid"]
        assert_books_balance(db)
    clock.advance(days=1)
    with database.session() as db:
        again = withdrawals.request_promoter_withdrawal(db, me, amount_fen=2_000)
    with database.session() as db:
        withdrawals.reject(db, op, again.id, reason="账户信息不符")
    assert _balances(database, promoter.id) == (2_000, 0)  # returned


def test_the_earnings_page_asks_for_a_withdrawal(
    database: Any, make_user: Any, settings: Any, app: Any
) -> None:
    from fastapi.testclient import TestClient

    from xiaodian.accounts import service as accounts

    promoter = make_user(creator=True)
    _earn(database, promoter.id, 5_000)
    page = TestClient(app)
    with database.session() as db:
        page.cookies.set("xd_session", accounts.issue_token(db, user_id=promoter.id, kind="cookie"))
    assert "提现" in page.get("/me/earnings").text
    csrf = page.cookies.get("xd_csrf") or ""
    too_much = page.post("/me/earnings/withdrawals", data={"csrf_token": csrf, "amount": "60"})
    assert too_much.status_code == 422
    done = page.post(
        "/me/earnings/withdrawals",
        data={"csrf_token": csrf, "amount": "30"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _balances(database, promoter.id) == (2_000, 3_000)

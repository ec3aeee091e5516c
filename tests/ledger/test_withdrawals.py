"""Withdrawals: the rules of a request (minimum, balance, one a day, whose shop), the
transfers each step posts (balanced, once), rejection and a failed payout returning the
money, and concurrent requests that never overdraw (threads against PostgreSQL)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import make_shop
from tests.ledger.conftest import assert_books_balance, balance
from tests.orders.conftest import actor_for
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from xiaodian.ledger import service as ledger
from xiaodian.ledger import withdrawals
from xiaodian.ledger.models import LedgerTransfer
from xiaodian.ledger.service import AVAILABLE, CLEARING, WITHDRAWING, Leg, NewTransfer

S = withdrawals.WithdrawalStatus


def fund(database: Any, shop_id: int, amount_fen: int, key: str = "seed") -> None:
    """Give the shop an available balance (as settlement would, from the clearing account)."""
    legs = (Leg(CLEARING, 0, amount_fen), Leg(AVAILABLE, shop_id, -amount_fen))
    with database.session() as db:
        ledger.post_transfers(db, [NewTransfer(key=f"{key}:{shop_id}", kind="adjust", legs=legs)])
        db.commit()


@pytest.fixture
def scene(database: Any, make_user: Any, settings: Any, clock: Any) -> dict[str, Any]:
    owner, staff, finance = make_user(), make_user(), make_user()
    with database.session() as db:
        shop = make_shop(db, owner)
        shop_id = shop.id
    op = make_user(operator=True)
    fund(database, shop_id, 10_000)
    return {
        "shop_id": shop_id,
        "owner": actor_for(owner, {shop_id: "owner"}),
        "staff": actor_for(staff, {shop_id: "staff"}),
        "finance": actor_for(finance, {shop_id: "finance"}),
        "operator": Actor(user_id=op.id, is_operator=True),
        "make_user": make_user,
    }


def _balances(database: Any, shop_id: int) -> tuple[int, int, int]:
    with database.session() as db:
        return (
            balance(db, AVAILABLE, shop_id),
            balance(db, WITHDRAWING, shop_id),
            balance(db, CLEARING),
        )


def _request(database: Any, actor: Actor, shop_id: int, amount: int) -> Any:
    with database.session() as db:
        return withdrawals.request_withdrawal(db, actor, shop_id, amount_fen=amount)


def _keys(database: Any, withdrawal_id: int) -> list[str]:
    with database.session() as db:
        prefix = f"withdrawal:{withdrawal_id}:"
        rows = db.scalars(
            select(LedgerTransfer.key)
            .where(LedgerTransfer.key.startswith(prefix))
            .order_by(LedgerTransfer.id)
        )
        return [key.removeprefix(prefix) for key in rows]


def test_request_approve_pay_moves_the_money(database: Any, scene: dict[str, Any]) -> None:
    shop_id = scene["shop_id"]
    w = _request(database, scene["owner"], shop_id, 3_000)
    assert w.status == S.REQUESTED
    assert _balances(database, shop_id) == (7_000, 3_000, 10_000)
    with database.session() as db:
        paid = withdrawals.approve(db, scene["operator"], w.id)
        assert paid.status == S.PAID and paid.provider_ref
        assert paid.decided_by == scene["operator"].user_id
    assert _balances(database, shop_id) == (7_000, 0, 7_000)
    assert _keys(database, w.id) == ["requested", "paid"]
    with database.session() as db:
        assert_books_balance(db)
        with pytest.raises(IllegalTransition):
            withdrawals.approve(db, scene["operator"], w.id)
    assert _keys(database, w.id) == ["requested", "paid"]  # nothing posted twice


def test_the_rules_of_a_request(database: Any, scene: dict[str, Any], clock: Any) -> None:
    shop_id, owner = scene["shop_id"], scene["owner"]
    with pytest.raises(InvalidInput) as small:
        _request(database, owner, shop_id, 99)
    assert small.value.code == "withdrawal_too_small"
    with pytest.raises(InvalidInput) as above:
        _request(database, owner, shop_id, 10_001)
    assert above.value.code == "withdrawal_above_balance"
    with pytest.raises(PermissionDenied):
        _request(database, scene["staff"], shop_id, 100)
    with pytest.raises(PermissionDenied):  # finance staff see the money, only owners ask
        _request(database, scene["finance"], shop_id, 100)
    stranger = scene["make_user"]()
    with database.session() as db:
        other = make_shop(db, stranger)
        other_id = other.id
    with pytest.raises(NotFound):
        _request(database, actor_for(stranger, {other_id: "owner"}), shop_id, 100)
    assert _balances(database, shop_id)[:2] == (10_000, 0)  # nothing moved

    first = _request(database, owner, shop_id, 100)
    with pytest.raises(Conflict) as again:
        _request(database, owner, shop_id, 100)
    assert again.value.code == "withdrawal_daily_limit"
    assert _balances(database, shop_id)[:2] == (9_900, 100)
    clock.advance(days=1)
    second = _request(database, owner, shop_id, 9_900)  # the whole rest, the next day
    assert second.id != first.id
    assert _balances(database, shop_id)[:2] == (0, 10_000)


def test_reject_and_failed_payout_return_the_money(
    database: Any, scene: dict[str, Any], settings: Any, clock: Any
) -> None:
    shop_id, op = scene["shop_id"], scene["operator"]
    w = _request(database, scene["owner"], shop_id, 2_500)
    with database.session() as db, pytest.raises(InvalidInput):
        withdrawals.reject(db, op, w.id, reason="  ")
    with database.session() as db, pytest.raises(PermissionDenied):
        withdrawals.reject(db, scene["owner"], w.id, reason="no")
    with database.session() as db:
        rejected = withdrawals.reject(db, op, w.id, reason="银行账户信息有误")
        assert rejected.status == S.REJECTED and rejected.reason == "银行账户信息有误"
    assert _balances(database, shop_id)[:2] == (10_000, 0)
    assert _keys(database, w.id) == ["requested", "rejected"]

    # a rejected request does not use up the day; the payout fails this time
    settings_module.install(replace_mode(settings, "fail"))
    w2 = _request(database, scene["owner"], shop_id, 4_000)
    with database.session() as db:
        failed = withdrawals.approve(db, op, w2.id)
        assert failed.status == S.FAILED
    assert _balances(database, shop_id)[:2] == (10_000, 0)
    assert _keys(database, w2.id) == ["requested", "failed"]

    # processing: an operator resolves it later, once
    settings_module.install(replace_mode(settings, "processing"))
    clock.advance(days=1)
    w3 = _request(database, scene["owner"], shop_id, 1_000)
    with database.session() as db:
        assert withdrawals.approve(db, op, w3.id).status == S.APPROVED
    assert _balances(database, shop_id)[:2] == (9_000, 1_000)
    with database.session() as db, pytest.raises(IllegalTransition):
        withdrawals.reject(db, op, w3.id, reason="too late")
    with database.session() as db:
        assert withdrawals.resolve_payout(db, op, w3.id, outcome="success").status == S.PAID
    with database.session() as db, pytest.raises(IllegalTransition):
        withdrawals.resolve_payout(db, op, w3.id, outcome="fail")
    assert _balances(database, shop_id)[:2] == (9_000, 0)
    with database.session() as db:
        assert_books_balance(db)
        assert [r.id for r in withdrawals.queue(db, op)] == []
        assert [r.id for r in withdrawals.shop_withdrawals(db, scene["finance"], shop_id)] == [
            w3.id,
            w2.id,
            w.id,
        ]
        with pytest.raises(PermissionDenied):
            withdrawals.shop_withdrawals(db, scene["staff"], shop_id)
        with pytest.raises(NotFound):
            withdrawals.approve(db, op, 999_999)


def replace_mode(settings: Any, mode: str) -> Any:
    return settings.model_copy(update={"ledger_payout_mode": mode})


def _race(database: Any, owner: Actor, shop_id: int, amount: int, n: int) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            outcome: Any = _request(database, owner, shop_id, amount).id
        except DomainError as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.skipif(
    not os.environ.get("XIAODIAN_TEST_POSTGRES_URL"), reason="threads against PostgreSQL"
)
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_requests_never_overdraw(
    database: Any, scene: dict[str, Any], settings: Any
) -> None:
    shop_id, owner = scene["shop_id"], scene["owner"]
    # many a day allowed: only the balance stops them (10,000 fen, 3,000 each: three fit)
    settings_module.install(settings.model_copy(update={"ledger_withdrawals_per_day": 100}))
    results = _race(database, owner, shop_id, 3_000, 8)
    won = [r for r in results if isinstance(r, int)]
    assert len(results) == 8 and len(won) == 3
    assert sorted(r for r in results if isinstance(r, str)) == ["withdrawal_above_balance"] * 5
    assert _balances(database, shop_id)[:2] == (1_000, 9_000)

    # the daily rule under the same race: one a day, whatever the balance
    settings_module.install(settings.model_copy(update={"ledger_withdrawals_per_day": 1}))
    fund(database, scene["shop_id"], 100_000, key="more")
    other_owner = scene["make_user"]()
    with database.session() as db:
        other_id = make_shop(db, other_owner).id
    fund(database, other_id, 100_000)
    results = _race(database, actor_for(other_owner, {other_id: "owner"}), other_id, 100, 6)
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert _balances(database, other_id)[:2] == (99_900, 100)
    with database.session() as db:
        assert_books_balance(db)

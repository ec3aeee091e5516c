"""Agencies (机构): an account that manages creators takes its share of their commission,
split at payment in whole fen that add up (rounded down for the agency), reduced by refunds
and released at settlement like any commission; at most five parties paid per order; the
memberships' rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from tests.affiliates.test_commission import _promoted, _settle
from tests.factories import actor_for
from tests.ledger.conftest import Trade, assert_books_balance, balance
from xiaodian.affiliates import agencies
from xiaodian.affiliates.models import Commission
from xiaodian.errors import Conflict, InvalidInput, NotFound
from xiaodian.ledger import service as ledger


def _agency(trade: Trade, share: int) -> tuple[Any, Any]:
    """(the agency's owner, a member creator)."""
    boss = trade.make_user(display_name="星光机构")
    creator = trade.make_user(creator=True, login="13900000301")
    with trade.session() as db:
        agencies.open_agency(db, actor_for(boss), name="星光机构", share_pct=share)
    with trade.session() as db:
        member = agencies.invite(db, actor_for(boss), login="13900000301")
    with trade.session() as db:
        agencies.accept(db, actor_for(creator, creator=True), member.id)
    return boss, creator


def _commissions(trade: Trade, order_no: str) -> dict[int, tuple[int, int, str]]:
    with trade.session() as db:
        rows = db.scalars(select(Commission).where(Commission.order_no == order_no))
        return {r.promoter_id: (r.full_fen, r.amount_fen, str(r.status)) for r in rows}


def test_the_agency_takes_its_share_and_it_follows_refunds_and_settlement(trade: Trade) -> None:
    boss, creator = _agency(trade, 30)
    s = _promoted(trade, promoter=creator, price=10010, rate=10)  # 1,001 fen of commission
    assert _commissions(trade, s["no"]) == {
        creator.id: (701, 701, "pending"),
        boss.id: (300, 300, "pending"),  # 1,001 x 30 // 100
    }
    with trade.session() as db:
        assert balance(db, ledger.PROMOTER_PENDING, boss.id) == 300
        assert balance(db, ledger.PENDING, s["shop"].id) == 10010 - 1001
    trade.refund(s["no"], 5005)  # half
    assert _commissions(trade, s["no"]) == {
        creator.id: (701, 350, "pending"),
        boss.id: (300, 150, "pending"),
    }
    _settle(trade, s)
    with trade.session() as db:
        assert balance(db, ledger.PROMOTER_AVAILABLE, creator.id) == 350
        assert balance(db, ledger.PROMOTER_AVAILABLE, boss.id) == 150
        assert_books_balance(db)


def test_a_creator_who_left_keeps_it_all_for_later_orders(trade: Trade) -> None:
    _boss, creator = _agency(trade, 20)
    with trade.session() as db:
        page = agencies.my_agency(db, actor_for(creator, creator=True))
        assert page.current is not None and page.current[1] == "星光机构"
        agencies.leave(db, actor_for(creator, creator=True), page.current[0].id)
    s = _promoted(trade, promoter=creator, price=10000, rate=10)
    assert _commissions(trade, s["no"]) == {creator.id: (1000, 1000, "pending")}


@given(
    amounts=st.dictionaries(st.integers(1, 40), st.integers(0, 100_000), max_size=8),
    members=st.dictionaries(
        st.integers(1, 40), st.tuples(st.integers(100, 110), st.integers(0, 50)), max_size=8
    ),
)
def test_splits_add_up_and_pay_at_most_five(
    amounts: dict[int, int], members: dict[int, tuple[int, int]]
) -> None:
    out = agencies.split(amounts, members)
    assert len(out) <= agencies.MAX_PARTIES and all(v > 0 for v in out.values())
    every = {}
    for payee, amount in amounts.items():
        part = amount * members[payee][1] // 100 if payee in members else 0
        every[payee] = every.get(payee, 0) + amount - part
        if part:
            every[members[payee][0]] = every.get(members[payee][0], 0) + part
    assert sum(every.values()) == sum(amounts.values())  # the split itself loses no fen
    assert sum(out.values()) <= sum(amounts.values())
    if len([v for v in every.values() if v > 0]) <= agencies.MAX_PARTIES:
        assert out == {p: v for p, v in every.items() if v > 0}


def test_the_rules_of_membership(trade: Trade) -> None:
    boss = trade.make_user()
    plain = trade.make_user(login="13900000302")
    creator = trade.make_user(creator=True, login="13900000303")
    with trade.session() as db:
        for bad in (-1, 51, True, "10"):
            with pytest.raises(InvalidInput):
                agencies.open_agency(db, actor_for(boss), name="机构", share_pct=bad)  # type: ignore[arg-type]
        agencies.open_agency(db, actor_for(boss), name="机构", share_pct=10)
    with trade.session() as db, pytest.raises(Conflict):
        agencies.open_agency(db, actor_for(boss), name="又一个", share_pct=10)
    with trade.session() as db, pytest.raises(InvalidInput):
        agencies.invite(db, actor_for(boss), login="13900000302")  # not a creator
    with trade.session() as db:
        member = agencies.invite(db, actor_for(boss), login="13900000303")
    with trade.session() as db, pytest.raises(Conflict):
        agencies.invite(db, actor_for(boss), login="13900000303")
    with trade.session() as db, pytest.raises(NotFound):
        agencies.accept(db, actor_for(plain), member.id)  # someone else's invitation
    other_boss = trade.make_user()
    with trade.session() as db:
        agencies.open_agency(db, actor_for(other_boss), name="另一家", share_pct=5)
    with trade.session() as db:
        second = agencies.invite(db, actor_for(other_boss), login="13900000303")
    with trade.session() as db:
        agencies.accept(db, actor_for(creator, creator=True), member.id)
    with trade.session() as db, pytest.raises(Conflict) as one_at_a_time:
        agencies.accept(db, actor_for(creator, creator=True), second.id)
    assert one_at_a_time.value.code == "in_an_agency"
    with trade.session() as db, pytest.raises(NotFound):
        agencies.accept(db, actor_for(creator, creator=True), 2**31)


def test_the_agency_page(database: Any, make_user: Any, app: Any) -> None:
    from fastapi.testclient import TestClient

    from xiaodian.accounts import service as accounts

    boss = make_user()
    page = TestClient(app)
    with database.session() as db:
        page.cookies.set("xd_session", accounts.issue_token(db, user_id=boss.id, kind="cookie"))
    assert "创建机构" in page.get("/me/agency").text
    csrf = page.cookies.get("xd_csrf") or ""
    bad = page.post("/me/agency", data={"csrf_token": csrf, "name": "星光", "share": "80"})
    assert bad.status_code == 422 and "0 到 50" in bad.text
    made = page.post(
        "/me/agency",
        data={"csrf_token": csrf, "name": "星光", "share": "25"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert "分成 25%" in page.get("/me/agency").text

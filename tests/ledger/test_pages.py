"""The merchant's money page and CSV (the owner and finance staff only), the operators'
trial balance, bad filters answered 422 with nothing changed."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import make_shop
from tests.ledger.conftest import Trade
from xiaodian import clock as clock_module
from xiaodian.accounts.service import User
from xiaodian.actor import Actor
from xiaodian.errors import DomainError
from xiaodian.ledger import settlement, statements
from xiaodian.orders.models import Order


def _scene(trade: Trade, database: Any, clock: Any) -> tuple[Any, Any, str]:
    shop, owner_actor, sku = trade.shop(price=10000)
    buyer = trade.buyer()
    (settled,) = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, [settled])
    trade.ship(owner_actor, shop.id, settled)
    trade.confirm(buyer, settled)
    clock.advance(days=8)
    with database.session() as db:
        assert settlement.settle_due(db) == 1
    (pending,) = trade.buy(buyer, [(sku, 2)])
    trade.pay(buyer, [pending])
    return shop, owner_actor, pending


def test_the_owner_sees_balances_pending_dates_and_entries(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any, db: Any
) -> None:
    shop, owner_actor, pending_no = _scene(trade, database, clock)
    owner = db.get(User, owner_actor.user_id)
    client = login_client(owner)
    page = client.get(f"/merchant/shops/{shop.id}/finance")
    assert page.status_code == 200, page.text
    text = page.text
    assert "¥200.00" in text  # pending: the second order
    assert "¥98.40" in text  # available: 100.00 less 1% platform fee and 0.6% payment fee
    assert pending_no in text and "预计" in text  # an estimate until the order completes
    only_settled = client.get(f"/merchant/shops/{shop.id}/finance", params={"kind": "settle"})
    assert only_settled.status_code == 200 and "¥98.40" in only_settled.text
    bad = client.get(
        f"/merchant/shops/{shop.id}/finance", params={"from": "2030-01-02", "to": "2030-01-01"}
    )
    assert bad.status_code == 422 and "结束日期早于开始日期" in bad.text

    response = client.get(f"/merchant/shops/{shop.id}/finance/entries.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "时间"
    kinds = [(r[1], r[2], r[3]) for r in rows[1:]]
    assert kinds == [
        ("paid", "merchant:pending", "100.00"),
        ("settle", "merchant:pending", "-100.00"),
        ("settle", "merchant:available", "98.40"),
        ("paid", "merchant:pending", "200.00"),
    ]
    assert (
        client.get(
            f"/merchant/shops/{shop.id}/finance/entries.csv", params={"kind": "nonsense"}
        ).status_code
        == 422
    )


def test_staff_without_finance_and_strangers_see_nothing(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any, db: Any
) -> None:
    shop, _owner, _no = _scene(trade, database, clock)
    staff = make_user()
    other_owner = make_user()
    from xiaodian.merchants.models import MemberRole, ShopMember

    db.add(ShopMember(shop_id=shop.id, user_id=staff.id, role=MemberRole.STAFF))
    db.commit()
    make_shop(db, other_owner)
    as_staff = login_client(staff)
    assert as_staff.get(f"/merchant/shops/{shop.id}/finance").status_code == 403
    assert as_staff.get(f"/merchant/shops/{shop.id}/finance/entries.csv").status_code == 403
    stranger = login_client(other_owner)
    assert stranger.get(f"/merchant/shops/{shop.id}/finance").status_code == 404
    assert stranger.get(f"/merchant/shops/{shop.id}/finance/entries.csv").status_code == 404
    assert stranger.get("/ops/ledger").status_code == 403


def test_operators_see_a_trial_balance_that_sums_to_zero(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any
) -> None:
    _scene(trade, database, clock)
    operator = make_user(operator=True)
    page = login_client(operator).get("/ops/ledger")
    assert page.status_code == 200
    assert "全部分录合计为零" in page.text
    assert 'data-kind="platform:fee_income"' in page.text and "¥1.00" in page.text


def test_operators_see_each_days_money_from_the_postings(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any
) -> None:
    """Day one: ¥100.00 paid, pending. Day nine: it settles (¥1.00 platform fee, ¥0.60
    payment fee) and a second order of ¥200.00 is paid; ¥30.00 of the first is refunded
    after settlement (from the merchant's available income: the fees stay)."""
    paid_day = clock_module.today()
    _scene(trade, database, clock)
    settle_day = clock_module.today()
    with database.session() as db:  # the scene's first order is the settled one
        first_no = db.scalars(select(Order.order_no).order_by(Order.id)).first()
    trade.refund(first_no, 3000)
    assert trade.order(first_no).refunded_fen == 3000
    operator = make_user(operator=True)
    with database.session() as db:
        days = statements.daily_figures(db, Actor(user_id=operator.id, is_operator=True))
    by_day = {d.day: d for d in days}
    assert len(days) == statements.DAYS_SHOWN and days[-1].day == settle_day
    first, last = by_day[paid_day], by_day[settle_day]
    assert (first.paid_fen, first.settled_fen, first.pending_fen) == (10000, 0, 10000)
    assert (last.paid_fen, last.settled_fen, last.refunds_fen) == (20000, 10000, 3000)
    assert (last.fee_income_fen, last.payment_fees_fen) == (100, 60)
    assert last.pending_fen == 20000  # the second order only
    quiet = by_day[paid_day + (settle_day - paid_day) / 2]
    assert (quiet.paid_fen, quiet.pending_fen) == (0, 10000)  # nothing moved, still pending
    page = login_client(operator).get("/ops/ledger")
    assert page.status_code == 200 and "最近 14 天" in page.text
    assert f'data-day="{settle_day.isoformat()}"' in page.text and "¥200.00" in page.text
    with database.session() as db:
        stranger = Actor(user_id=make_user().id)
        with pytest.raises(DomainError):
            statements.daily_figures(db, stranger)


def test_the_monthly_statement_opens_moves_and_closes_each_account(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any, db: Any
) -> None:
    """Last month: ¥100.00 paid (pending). This month: it settles (¥98.40 available) and
    ¥200.00 more is paid. Each month's closing is the next one's opening, and this month's
    closing is the balance now."""
    clock.set(clock.now().replace(day=26, hour=4))  # eight days on: the next month
    last_month = clock_module.today().replace(day=1)
    shop, owner_actor, _pending = _scene(trade, database, clock)
    this_month = clock_module.today().replace(day=1)
    assert this_month != last_month
    with database.session() as session:
        before = statements.monthly_statement(session, owner_actor, shop.id, last_month)
        now = statements.monthly_statement(session, owner_actor, shop.id, this_month)
        balance = statements.shop_balance(session, owner_actor, shop.id)
    lines = {line.kind: line for line in before.lines}
    pending = lines["merchant:pending"]
    assert (pending.opening_fen, pending.moves, pending.closing_fen) == (0, {"paid": 10000}, 10000)
    assert lines["merchant:available"].closing_fen == 0
    lines = {line.kind: line for line in now.lines}
    pending, available = lines["merchant:pending"], lines["merchant:available"]
    assert pending.opening_fen == 10000
    assert pending.moves == {"settle": -10000, "paid": 20000} and pending.closing_fen == 20000
    assert (available.opening_fen, available.moves, available.closing_fen) == (
        0,
        {"settle": 9840},
        9840,
    )
    assert (pending.closing_fen, available.closing_fen) == (
        balance.pending_fen,
        balance.available_fen,
    )
    owner = db.get(User, owner_actor.user_id)
    client = login_client(owner)
    page = client.get(f"/merchant/shops/{shop.id}/finance/statement")
    assert page.status_code == 200 and "月度账单" in page.text and "¥98.40" in page.text
    csv_file = client.get(
        f"/merchant/shops/{shop.id}/finance/statement.csv",
        params={"month": last_month.strftime("%Y-%m")},
    )
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["账户", "期初余额"] and rows[1][1:] == ["0.00", "100.00", "100.00"]
    assert (
        client.get(
            f"/merchant/shops/{shop.id}/finance/statement", params={"month": "2026-13"}
        ).status_code
        == 422
    )
    stranger = login_client(make_user())
    assert stranger.get(f"/merchant/shops/{shop.id}/finance/statement").status_code == 404


def test_the_owner_gives_and_takes_back_the_finance_role(
    trade: Trade, database: Any, clock: Any, make_user: Any, login_client: Any, db: Any
) -> None:
    shop, owner_actor, _no = _scene(trade, database, clock)
    staff = make_user()
    owner = login_client(db.get(User, owner_actor.user_id))
    page = owner.get(f"/merchant/shops/{shop.id}/staff")
    csrf = owner.cookies.get("xd_csrf", "")
    added = owner.post(
        f"/merchant/shops/{shop.id}/staff",
        data={"login": staff.login_name, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert page.status_code == 200 and added.status_code == 303
    as_staff = login_client(staff)
    money = f"/merchant/shops/{shop.id}/finance"
    assert as_staff.get(money).status_code == 403

    def set_role(role: str) -> int:
        return owner.post(
            f"/merchant/shops/{shop.id}/staff/{staff.id}/role",
            data={"role": role, "csrf_token": csrf},
            follow_redirects=False,
        ).status_code

    assert set_role("finance") == 303
    assert as_staff.get(money).status_code == 200  # the token cache dropped the old roles
    assert set_role("owner") == 422 and set_role("nonsense") == 422
    assert set_role("staff") == 303
    assert as_staff.get(money).status_code == 403
    staff_can_not = as_staff.post(
        f"/merchant/shops/{shop.id}/staff/{staff.id}/role",
        data={"role": "finance", "csrf_token": as_staff.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert staff_can_not.status_code == 403
    assert as_staff.get(money).status_code == 403

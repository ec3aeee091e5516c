"""Commission through the ledger: pending at payment (the merchant's income reduced by it),
released at settlement, reduced in proportion by a refund inside the window (zero after a
full refund), clawed back after settlement; the books balance throughout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.ledger.conftest import Trade, assert_books_balance, balance
from xiaodian.actor import Actor
from xiaodian.affiliates import commissions, links, plans
from xiaodian.affiliates.models import Commission
from xiaodian.ledger import service as ledger
from xiaodian.ledger import settlement


def _promoted(
    trade: Trade, *, price: int = 10000, rate: int = 10, promoter: Any = None
) -> dict[str, Any]:
    """A product in a 普通 plan, a buyer who followed the promoter's link and paid."""
    shop, owner, sku_id = trade.shop(price=price)
    promoter = promoter or trade.make_user()
    buyer = trade.buyer()
    with trade.session() as db:
        product_id = ledger_product(db, sku_id)
        plans.create_plan(
            db,
            owner,
            shop.id,
            product_id=product_id,
            terms=plans.PlanTerms("open", rate, trade.clock.now() - timedelta(days=1)),
        )
    with trade.session() as db:
        link = links.get_or_create_link(db, Actor(user_id=promoter.id), product_id=product_id)
    with trade.session() as db:
        links.follow(db, buyer[0], code=link.code, touch="", user_agent="Mozilla/5.0")
    order_no = trade.buy(buyer, [(sku_id, 1)])[0]
    trade.pay(buyer, [order_no])
    return {"shop": shop, "owner": owner, "promoter": promoter, "buyer": buyer, "no": order_no}


def ledger_product(db: Any, sku_id: int) -> int:
    from xiaodian.catalog import service as catalog_service

    return catalog_service.get_sku(db, sku_id).product_id


def _commission(db: Any, order_no: str) -> Commission:
    row = db.scalar(select(Commission).where(Commission.order_no == order_no))
    db.expunge(row)
    db.rollback()
    return row


def _settle(trade: Trade, s: dict[str, Any]) -> None:
    trade.ship(s["owner"], s["shop"].id, s["no"])
    trade.confirm(s["buyer"], s["no"])
    trade.clock.advance(timedelta(days=8))
    with trade.session() as db:
        settlement.settle_due(db)


def test_pending_at_payment_then_available_at_settlement(trade: Trade, db: Any) -> None:
    s = _promoted(trade)
    c = _commission(db, s["no"])
    assert (c.full_fen, c.amount_fen, c.status) == (1000, 1000, "pending")
    assert c.expected_available_at > trade.clock.now()
    promoter, shop = s["promoter"].id, s["shop"].id
    assert balance(db, ledger.PROMOTER_PENDING, promoter) == 1000
    assert balance(db, ledger.PENDING, shop) == 9000  # the merchant's income less commission
    _settle(trade, s)
    assert balance(db, ledger.PROMOTER_PENDING, promoter) == 0
    assert balance(db, ledger.PROMOTER_AVAILABLE, promoter) == 1000
    assert balance(db, ledger.PENDING, shop) == 0
    fees = balance(db, ledger.FEE_INCOME) + balance(db, ledger.PAYMENT_FEES)
    assert balance(db, ledger.AVAILABLE, shop) == 10000 - 1000 - fees
    assert _commission(db, s["no"]).status == "released"
    assert_books_balance(db)
    with trade.session() as session:
        earned = commissions.my_earnings(session, Actor(user_id=promoter))
    assert (earned.available_fen, earned.pending_fen) == (1000, 0)


def test_a_refund_inside_the_window_reduces_it_in_proportion_a_full_one_to_zero(
    trade: Trade, db: Any
) -> None:
    s = _promoted(trade)
    trade.refund(s["no"], 2500)
    assert _commission(db, s["no"]).amount_fen == 750
    assert balance(db, ledger.PROMOTER_PENDING, s["promoter"].id) == 750
    trade.refund(s["no"], 7500)
    c = _commission(db, s["no"])
    assert (c.amount_fen, c.status) == (0, "void")
    assert balance(db, ledger.PROMOTER_PENDING, s["promoter"].id) == 0
    assert balance(db, ledger.PENDING, s["shop"].id) == 0
    assert_books_balance(db)


def test_a_refund_after_settlement_claws_back(trade: Trade, db: Any) -> None:
    s = _promoted(trade)
    _settle(trade, s)
    before = balance(db, ledger.AVAILABLE, s["shop"].id)
    trade.refund(s["no"], 5000)
    c = _commission(db, s["no"])
    assert (c.amount_fen, c.clawed_fen) == (500, 500)
    assert balance(db, ledger.PROMOTER_AVAILABLE, s["promoter"].id) == 500
    # the merchant paid the refund and got the commission's share back
    assert balance(db, ledger.AVAILABLE, s["shop"].id) == before - 5000 + 500
    assert_books_balance(db)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.dictionaries(st.integers(1, 50), st.integers(0, 10**7), min_size=1, max_size=5),
    cap=st.integers(0, 10**7),
)
def test_shares_add_up_and_never_exceed_the_cap(raw: dict[int, int], cap: int) -> None:
    shares = commissions.allot(raw, cap)
    assert set(shares) == set(raw)
    assert all(v >= 0 for v in shares.values())
    assert sum(shares.values()) == min(sum(raw.values()), cap)
    assert all(shares[k] <= raw[k] for k in raw)


@pytest.mark.parametrize("rate", [0, 1, 33, 90])
def test_commission_never_exceeds_paid_less_the_platform_fee(
    trade: Trade, db: Any, rate: int
) -> None:
    s = _promoted(trade, price=9999, rate=rate)
    found = db.scalar(select(Commission).where(Commission.order_no == s["no"]))
    db.rollback()
    amount = found.amount_fen if found else 0
    assert amount == 9999 * rate // 100
    _settle(trade, s)
    assert amount <= 9999 - balance(db, ledger.FEE_INCOME)
    assert_books_balance(db)


def test_the_earnings_page_and_csv_show_pending_with_its_date(
    trade: Trade, db: Any, login_client: Any
) -> None:
    s = _promoted(trade)
    browser = login_client(s["promoter"])
    page = browser.get("/me/earnings")
    assert page.status_code == 200
    assert 'data-balance="pending">¥10.00' in page.text
    assert s["no"] in page.text
    csv = browser.get("/me/earnings.csv")
    assert csv.status_code == 200 and f"{s['no']},".encode() in csv.content
    assert b",pending,10.00,10.00,0.00," in csv.content

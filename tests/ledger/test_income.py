"""An order's money through the ledger: pending at payment with its date, voided in part by
a refund before settlement, settled after the after-sales window less the fees recorded at
payment, a refund after settlement taken from available then the deposit then owed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests.ledger.conftest import Trade, assert_books_balance, balance, order_totals
from xiaodian.ledger import service as ledger
from xiaodian.ledger import settlement
from xiaodian.ledger.models import HoldStatus, LedgerFeeRate, LedgerHold, LedgerTransfer
from xiaodian.ledger.service import AVAILABLE, CLEARING, FEE_INCOME, OWES, PAYMENT_FEES, PENDING


def _hold(db: Any, order_id: int) -> LedgerHold:
    hold = db.scalar(select(LedgerHold).where(LedgerHold.order_id == order_id))
    db.expunge_all()
    db.rollback()
    assert hold is not None
    return hold


def _settle(db: Any) -> int:
    return settlement.settle_due(db)


def test_paid_income_is_pending_dated_then_settles_less_fees(
    trade: Trade, db: Any, clock: Any, no_posting_changes: list[str]
) -> None:
    shop, owner, sku = trade.shop(price=12345)
    from tests.factories import leaf_category

    category = leaf_category(db)
    db.add(LedgerFeeRate(category_id=category.id, rate_bp=500))  # 5%
    db.commit()
    buyer = trade.buyer()
    (no,) = trade.buy(buyer, [(sku, 2)])
    trade.pay(buyer, [no])
    order = trade.order(no)
    assert order.paid_fen == 24690

    assert balance(db, PENDING, shop.id) == 24690
    assert balance(db, CLEARING) == 24690
    hold = _hold(db, order.id)
    assert hold.status == HoldStatus.PENDING and hold.fee_weight == 24690 * 500
    assert hold.payment_fee_bp == 60
    # an estimate from payment: auto-completion (10 days) then the window (7 days)
    assert hold.expected_available_at == order.paid_at + timedelta(days=17)

    # a later change of rate does not change this order's fee
    db.execute(LedgerFeeRate.__table__.update().values(rate_bp=100))
    db.commit()

    trade.ship(owner, shop.id, no)
    trade.confirm(buyer, no)
    completed = trade.order(no).completed_at
    assert _hold(db, order.id).expected_available_at == completed + timedelta(days=7)
    assert _settle(db) == 0  # not due yet
    clock.set(completed + timedelta(days=7))
    assert _settle(db) == 1
    assert _settle(db) == 0  # once

    fee = (24690 * 5 + 50) // 100  # 1234.5 -> 1235 (half up)
    payment_fee = (24690 * 60 + 5000) // 10000  # 148.14 -> 148
    assert (fee, payment_fee) == (1235, 148)
    assert balance(db, PENDING, shop.id) == 0
    assert balance(db, AVAILABLE, shop.id) == 24690 - fee - payment_fee
    assert balance(db, FEE_INCOME) == fee
    assert balance(db, PAYMENT_FEES) == payment_fee
    assert _hold(db, order.id).status == HoldStatus.POSTED
    assert order_totals(db, order.id)["merchant"] + fee + payment_fee == 24690
    assert_books_balance(db)


def test_refunds_before_and_after_settlement(
    trade: Trade, db: Any, clock: Any, no_posting_changes: list[str]
) -> None:
    shop, owner, sku = trade.shop(price=10000)
    buyer = trade.buyer()
    (no,) = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, [no])
    order = trade.order(no)
    trade.ship(owner, shop.id, no)
    trade.confirm(buyer, no)

    trade.refund(no, 3000)  # before settlement: voids that part of the pending income
    assert balance(db, PENDING, shop.id) == 7000
    assert _hold(db, order.id).voided_fen == 3000
    assert balance(db, CLEARING) == 7000

    clock.advance(days=8)
    assert _settle(db) == 1
    fees = ledger.settlement_fees(
        settled_fen=7000, paid_fen=10000, fee_weight=10000 * 100, payment_fee_bp=60
    )
    assert fees == ledger.Fees(70, 42)
    available = 7000 - fees.total_fen
    assert balance(db, AVAILABLE, shop.id) == available

    trade.refund(no, 7000)  # after: available first, the rest owed (no deposit)
    assert balance(db, AVAILABLE, shop.id) == 0
    assert balance(db, OWES, shop.id) == 7000 - available
    assert balance(db, CLEARING) == 0
    totals = order_totals(db, order.id)
    assert totals["merchant"] + fees.total_fen + 10000 == 10000  # merchant + platform + refunded
    assert_books_balance(db)


def test_a_full_refund_before_shipping_voids_the_pending_income_once(
    trade: Trade, db: Any, no_posting_changes: list[str]
) -> None:
    shop, _owner, sku = trade.shop(price=5000)
    buyer = trade.buyer()
    (no,) = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, [no])
    order = trade.order(no)
    trade.refund(no, 5000)
    assert trade.order(no).status == "closed"
    hold = _hold(db, order.id)
    assert (hold.status, hold.voided_fen) == (HoldStatus.VOIDED, 5000)
    assert balance(db, PENDING, shop.id) == 0
    keys = set(db.scalars(select(LedgerTransfer.key).where(LedgerTransfer.order_id == order.id)))
    db.rollback()
    assert len(keys) == 2 and f"order:{order.id}:paid" in keys
    assert_books_balance(db)


def test_one_payment_of_several_shops_posts_one_transfer_per_order(
    trade: Trade, db: Any, no_posting_changes: list[str]
) -> None:
    shops = [trade.shop(price=1000 + i) for i in range(3)]
    buyer = trade.buyer()
    nos = trade.buy(buyer, [(sku, 1) for _shop, _owner, sku in shops])
    trade.pay(buyer, nos)
    for i, (shop, _owner, _sku) in enumerate(shops):
        assert balance(db, PENDING, shop.id) == 1000 + i
    count = db.scalar(select(func.count()).select_from(LedgerTransfer))
    db.rollback()
    assert count == 3
    assert_books_balance(db)

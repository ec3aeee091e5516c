"""Transfers: balanced or refused, posted once per business key, postings immutable (the
PostgreSQL trigger); settlement batched and resumable; an open case delays settlement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.ledger.conftest import Trade, assert_books_balance, balance
from xiaodian.ledger import service as ledger
from xiaodian.ledger import settlement
from xiaodian.ledger.models import HoldStatus, LedgerHold, LedgerPosting, LedgerTransfer
from xiaodian.ledger.service import AVAILABLE, CLEARING, PENDING, Leg, NewTransfer
from xiaodian.orders import service as orders_service


def _transfer(key: str, amount: int = 100, credit: int | None = None) -> NewTransfer:
    return NewTransfer(
        key=key,
        kind="adjust",
        legs=(Leg(CLEARING, 0, amount), Leg(AVAILABLE, 7, -(amount if credit is None else credit))),
    )


def _counts(db: Any) -> tuple[int, int]:
    counts = (
        db.scalar(select(func.count()).select_from(LedgerTransfer)),
        db.scalar(select(func.count()).select_from(LedgerPosting)),
    )
    db.rollback()
    return counts


def test_a_known_business_key_posts_nothing(database: Any, settings: Any, db: Any) -> None:
    with database.session() as session:
        first = ledger.post_transfers(session, [_transfer("test:1")])
        session.commit()
    assert list(first.new) == ["test:1"]
    with database.session() as session:
        again = ledger.post_transfers(session, [_transfer("test:1", 999, 999), _transfer("test:2")])
        session.commit()
    assert again.existing == ["test:1"] and list(again.new) == ["test:2"]
    assert _counts(db) == (2, 4)
    assert balance(db, AVAILABLE, 7) == 200  # the replay's amount was never posted


def test_an_unbalanced_transfer_writes_nothing(database: Any, settings: Any, db: Any) -> None:
    with database.session() as session, pytest.raises(ledger.Unbalanced):
        ledger.post_transfers(session, [_transfer("ok:1"), _transfer("bad:1", 100, 99)])
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_refuses_to_change_or_delete_a_posting(
    database: Any, settings: Any, db: Any
) -> None:
    with database.session() as session:
        ledger.post_transfers(session, [_transfer("test:1")])
        session.commit()
    for statement in (
        "UPDATE ledger_postings SET amount_fen = amount_fen * 2",
        "DELETE FROM ledger_postings",
    ):
        with database.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError) as caught:
            conn.execute(sa.text(statement))
        assert "immutable" in str(caught.value)
    assert _counts(db) == (1, 2)


def _settled_scene(trade: Trade, n: int) -> tuple[Any, list[str]]:
    shop, owner, sku = trade.shop(price=1000)
    buyer = trade.buyer()
    nos = []
    for _ in range(n):
        (no,) = trade.buy(buyer, [(sku, 1)])
        trade.pay(buyer, [no])
        trade.ship(owner, shop.id, no)
        trade.confirm(buyer, no)
        nos.append(no)
    return shop, nos


def test_settlement_is_batched_and_resumable_after_a_crash(
    trade: Trade, database: Any, db: Any, clock: Any, no_posting_changes: list[str]
) -> None:
    shop, _nos = _settled_scene(trade, 7)
    clock.advance(days=8)
    # a run killed inside its second batch: the first batch committed, the second is lost
    with database.session() as session:
        assert settlement.settle_batch(session, limit=3) == 3
        session.commit()
        assert settlement.settle_batch(session, limit=3) == 3
        session.rollback()  # kill -9 before the commit
    assert balance(db, PENDING, shop.id) == 4 * 1000
    with database.session() as session:
        assert settlement.settle_due(session, limit=3) == 4  # the rest, in two batches
    with database.session() as session:
        assert settlement.settle_due(session, limit=3) == 0  # nothing twice
    assert balance(db, PENDING, shop.id) == 0
    settled = db.scalar(
        select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "settle")
    )
    db.rollback()
    assert settled == 7
    fees = ledger.settlement_fees(
        settled_fen=1000, paid_fen=1000, fee_weight=1000 * 100, payment_fee_bp=60
    )
    assert balance(db, AVAILABLE, shop.id) == 7 * (1000 - fees.total_fen)
    assert_books_balance(db)


def test_an_open_case_delays_settlement_until_it_closes(
    trade: Trade, database: Any, db: Any, clock: Any
) -> None:
    shop, (no,) = _settled_scene(trade, 1)
    order = trade.order(no)
    clock.advance(days=3)
    with database.session() as session:
        orders_service.set_aftersale_open(session, order_id=order.id, open=True)
        session.commit()
    clock.advance(days=10)  # past the window
    with database.session() as session:
        assert settlement.settle_due(session) == 0
    with database.session() as session:
        orders_service.set_aftersale_open(session, order_id=order.id, open=False)
        session.commit()
    hold = db.scalar(select(LedgerHold).where(LedgerHold.order_id == order.id))
    assert hold is not None and hold.expected_available_at == clock.now()
    db.rollback()
    with database.session() as session:
        assert settlement.settle_due(session) == 1
    assert balance(db, PENDING, shop.id) == 0


def test_a_case_closed_within_the_window_keeps_the_date(
    trade: Trade, database: Any, db: Any, clock: Any
) -> None:
    _shop, (no,) = _settled_scene(trade, 1)
    order = trade.order(no)
    due = order.completed_at + timedelta(days=7)
    for open_ in (True, False):
        with database.session() as session:
            orders_service.set_aftersale_open(session, order_id=order.id, open=open_)
            session.commit()
        clock.advance(days=1)
    hold = db.scalar(select(LedgerHold).where(LedgerHold.order_id == order.id))
    assert hold is not None
    assert (hold.status, hold.expected_available_at) == (HoldStatus.PENDING, due)
    db.rollback()

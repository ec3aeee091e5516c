"""Races found in review: one buyer's concurrent checkouts against a purchase limit, the
same Idempotency-Key sent twice at once, and a refund notification delivered twice at once.
Real threads, each with its own session, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from typing import Any

from sqlalchemy import func, select

from tests.factories import make_product, make_shop
from tests.orders.conftest import actor_for, add_address, stock
from xiaodian import clock as clock_module
from xiaodian.db import Database, Pool
from xiaodian.errors import Conflict
from xiaodian.orders import service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import (
    AppliedRefund,
    CheckoutRequest,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)


def _run(n: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on below
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_checkouts_of_one_buyer_respect_the_purchase_limit(
    database: Database, db: Any, make_user: Any
) -> None:
    shop = make_shop(db, make_user())
    product = make_product(db, shop, skus=[("A", 100, 50), ("B", 100, 50)], purchase_limit=3)
    sku_ids = [s.id for s in product.skus]
    buyer = make_user()
    address_id = add_address(db, buyer)
    db.rollback()

    def buy(i: int) -> Any:
        with database.session() as session:
            lines = [(sku_ids[i % 2], 1)]
            return checkout(session, actor_for(buyer), lines=lines, address_id=address_id)

    results = _run(12, buy)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)]
    assert not unexpected, unexpected
    refused = [r for r in results if isinstance(r, Conflict)]
    assert {e.code for e in refused} == {"purchase_limit"}
    assert len(refused) == 9, results
    ordered = db.scalar(select(func.count()).select_from(Order).where(Order.buyer_id == buyer.id))
    assert ordered == 3
    on_hand = stock(db, sku_ids[0])[0] + stock(db, sku_ids[1])[0]
    assert on_hand == 97


def test_same_idempotency_key_at_once_makes_one_set_of_orders(
    database: Database, db: Any, make_user: Any
) -> None:
    shops = [make_shop(db, make_user()) for _ in range(2)]
    skus = [make_product(db, s, skus=[("标准", 990, 20)]).skus[0].id for s in shops]
    buyer = make_user()
    address_id = add_address(db, buyer)
    db.rollback()

    def buy(i: int) -> Any:
        with database.session() as session:
            quantity = 1 if i < 8 else 2  # the last two send a different body
            result = checkout(
                session,
                actor_for(buyer),
                lines=[(skus[0], quantity), (skus[1], 1)],
                address_id=address_id,
                idempotency_key="double-click-key-1",
            )
            return sorted(o.order_no for o in result.orders)

    results = _run(10, buy)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)]
    assert not unexpected, unexpected
    assert db.scalar(select(func.count()).select_from(Order)) == 2
    assert db.scalar(select(func.count()).select_from(CheckoutRequest)) == 1
    numbers = sorted(db.scalars(select(Order.order_no)))
    won_with = db.scalar(select(OrderLine.quantity).where(OrderLine.sku_id == skus[0]))
    same = range(8) if won_with == 1 else range(8, 10)  # who sent the winner's body
    for i, result in enumerate(results):
        if i in same:  # the winner, and its repeats: the same orders
            assert result == numbers, results
        else:  # the other body with the same key: a clear 409, never more orders
            assert isinstance(result, Conflict), results
            assert result.code == "idempotency_key_reused"
    assert stock(db, skus[1]) == (19, 1, 0, 20)


def test_refund_notification_delivered_twice_at_once_counts_once(
    database: Database, db: Any, make_user: Any
) -> None:
    shop = make_shop(db, make_user())
    sku_id = make_product(db, shop, skus=[("标准", 1500, 10)]).skus[0].id
    buyer = make_user()
    address_id = add_address(db, buyer)
    order = checkout(db, actor_for(buyer), lines=[(sku_id, 2)], address_id=address_id).orders[0]
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="PAY1")
    db.commit()
    order_id = order.id
    db.rollback()

    def refund(_i: int) -> Any:
        with database.session() as session:
            done = service.apply_refund(
                session, order_id=order_id, amount_fen=3000, refund_ref="REFUND-1"
            )
            session.commit()
            return done.refunded_fen

    results = _run(6, refund)
    assert results == [3000] * 6, results  # each delivery is a success, none a Conflict
    db.expire_all()
    final = db.get(Order, order_id)
    assert final is not None
    assert final.refunded_fen == 3000 and final.status == OrderStatus.CLOSED
    assert db.scalar(select(func.count()).select_from(AppliedRefund)) == 1
    refunds = select(func.count()).where(OrderEvent.order_id == order_id)
    assert db.scalar(refunds.where(OrderEvent.action == "refund")) == 1
    assert db.scalar(refunds.where(OrderEvent.action == "close")) == 1
    assert stock(db, sku_id) == (10, 0, 0, 10)  # restocked exactly once


def test_overlapping_multi_sku_orders_never_deadlock(
    database: Database, db: Any, make_user: Any
) -> None:
    """Checkouts and cancels of orders with many SKUs in random order, at once. On
    PostgreSQL a multi-row UPDATE locks rows in the order its plan visits them: without a
    global lock order, two of these deadlock and one buyer gets a 500."""
    shop = make_shop(db, make_user())
    specs = [(f"款{i}", 100, 1000) for i in range(12)]
    skus = [s.id for s in make_product(db, shop, skus=specs).skus]
    buyers = [make_user() for _ in range(24)]
    address_ids = [add_address(db, b) for b in buyers]
    db.rollback()
    # A connection for every buyer: this is about lock order, not about a busy pool (whose
    # 5 s wait a loaded machine can pass, answering 503: tests/web/test_busy.py).
    crowd = Database(database.url, pool=Pool(size=len(buyers), max_overflow=0, timeout=120))

    def work(i: int) -> str:
        rnd = random.Random(i)
        actor = actor_for(buyers[i])
        for _ in range(5):
            pick = rnd.sample(skus, rnd.randint(2, len(skus)))
            with crowd.session() as session:
                order_no = (
                    checkout(
                        session,
                        actor,
                        lines=[(sku_id, 1) for sku_id in pick],
                        address_id=address_ids[i],
                        from_cart=False,
                    )
                    .orders[0]
                    .order_no
                )
            with crowd.session() as session:
                service.cancel_order(session, actor, order_no)
        return "ok"

    try:
        results = _run(len(buyers), work)
    finally:
        crowd.dispose()
    assert results == ["ok"] * len(buyers), [r for r in results if r != "ok"][:3]
    for sku_id in skus:
        assert stock(db, sku_id) == (1000, 0, 0, 1000)


def test_order_number_uses_the_shanghai_business_date(db: Any, make_user: Any, clock: Any) -> None:
    """16:30 UTC on 18 June is 00:30 on 19 June in Shanghai: the number says 20260619, and
    the deadline (stored naive on SQLite) comes back as aware UTC, 15 minutes later."""
    from datetime import UTC, datetime, timedelta

    clock.set(datetime(2026, 6, 18, 16, 30, tzinfo=UTC))
    shop = make_shop(db, make_user())
    sku_id = make_product(db, shop, skus=[("标准", 100, 5)]).skus[0].id
    buyer = make_user()
    order = checkout(
        db, actor_for(buyer), lines=[(sku_id, 1)], address_id=add_address(db, buyer)
    ).orders[0]
    assert order.order_no.startswith("20260619") and len(order.order_no) == 18
    db.expire_all()
    again = db.get(Order, order.id)
    assert again is not None
    assert again.pay_deadline == datetime(2026, 6, 18, 16, 45, tzinfo=UTC)
    assert again.pay_deadline.utcoffset() == timedelta(0)
    clock.advance(minutes=14, seconds=59)
    assert service.cancel_expired_orders(db) == 0
    clock.advance(seconds=1)
    assert service.cancel_expired_orders(db) == 1

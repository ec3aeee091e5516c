"""Real threads racing on one database: stock is never oversold and released only once."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from tests.factories import make_product, make_shop
from tests.orders.conftest import actor_for, add_address, stock
from xiaodian import clock as clock_module
from xiaodian.catalog.models import StockMovement
from xiaodian.db import Database
from xiaodian.errors import DomainError
from xiaodian.orders import service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderStatus


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


def test_fifty_buyers_race_for_ten_units(database: Database, db: Any, make_user: Any) -> None:
    shop = make_shop(db, make_user())
    sku_id = make_product(db, shop, skus=[("限量", 9900, 10)]).skus[0].id
    buyers = [make_user() for _ in range(50)]
    address_ids = [add_address(db, b) for b in buyers]
    db.rollback()

    def buy(i: int) -> Any:
        with database.session() as session:
            return (
                checkout(
                    session, actor_for(buyers[i]), lines=[(sku_id, 1)], address_id=address_ids[i]
                )
                .orders[0]
                .order_no
            )

    results = _run(50, buy)
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 10, results
    assert len(lost) == 40 and {e.code for e in lost} == {"out_of_stock"}, results
    assert stock(db, sku_id) == (0, 10, 0, 10)
    assert db.query(Order).count() == 10
    reserved = db.scalars(select(StockMovement.delta).where(StockMovement.kind == "reserve"))
    assert sum(reserved) == -10


def test_twenty_threads_cancel_and_time_out_one_order(
    database: Database, db: Any, make_user: Any, clock: Any
) -> None:
    shop = make_shop(db, make_user())
    sku_id = make_product(db, shop, skus=[("标准", 1000, 10)]).skus[0].id
    buyer = make_user()
    address_id = add_address(db, buyer)
    order = checkout(db, actor_for(buyer), lines=[(sku_id, 4)], address_id=address_id).orders[0]
    order_no, order_id = order.order_no, order.id
    db.rollback()
    clock.advance(minutes=30)

    def race(i: int) -> Any:
        with database.session() as session:
            if i % 3 == 0:
                return service.cancel_expired_orders(session)
            if i % 3 == 1:
                now = clock_module.now()
                result = service.mark_paid(
                    session, order_ids=[order_id], paid_at=now, payment_ref=f"P{i}"
                )
                session.commit()
                return result
            return service.cancel_order(session, actor_for(buyer), order_no)

    results = _run(20, race)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    db.expire_all()
    final = db.get(Order, order_id)
    assert final is not None
    events = service.order_events(db, order_id)
    assert len(events) == 2  # created + exactly one of pay / cancel / timeout
    if final.status == OrderStatus.CANCELLED:
        assert stock(db, sku_id) == (10, 0, 0, 10)
        assert sum(1 for r in results if hasattr(r, "paid") and r.paid) == 0
    else:
        assert final.status == OrderStatus.PAID
        assert stock(db, sku_id) == (6, 0, 4, 10)
        assert sum(1 for r in results if hasattr(r, "paid") and r.paid) == 1
    releases = db.scalars(select(StockMovement).where(StockMovement.kind == "release")).all()
    assert len(releases) == (1 if final.status == OrderStatus.CANCELLED else 0)

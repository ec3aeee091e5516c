"""The PostgreSQL writers' one-statement batch (``orders.batch`` with the flash sale's
clauses, ``content.live.onestatement``): the same answers and the same rows as the
per-table path, one round trip, and backing off to the locked path whenever the units, the
sale or an order number are not as expected."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Table, func, select, text, update

from tests.live.conftest import Scene, actor_for, add_address, sale_row, stock
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.content.live import flash, flash_purchase
from xiaodian.content.live.models import FlashSaleBuyer, FlashSaleOrder
from xiaodian.errors import Conflict, InvalidInput
from xiaodian.orders import checkout, lifecycle
from xiaodian.orders.models import Order, OrderEvent, OrderLine


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's (SQLite: one statement per table)")


def _info(database: Any, sale_id: int) -> flash.SaleInfo:
    with database.session(write=False) as session:
        return flash.load_info(session, sale_id)[0]


def _row(db: Any, table: Table, *where: Any) -> dict[str, Any]:
    found = db.execute(select(table).where(*where)).mappings().one()
    return dict(found)


def test_one_statement_writes_the_rows_the_general_path_writes(
    db: Any, database: Any, scene: Scene, make_user: Any, clock: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=5, limit=2, price_fen=1234)
    buyer = make_user()
    add_address(db, buyer)  # the default, older
    add_address(db, buyer, name="李四", city="上海市", is_default=False)  # newer
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:  # one statement
        first = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(buyer), 1)], optimistic=True
        )
        session.commit()
    with database.session() as session:  # the per-table path (create_orders_for_buyers)
        second = flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)])
        session.commit()
    assert isinstance(first[0], flash.Purchased) and isinstance(second[0], flash.Purchased)
    numbers = [first[0].order_no, second[0].order_no]
    orders = [_row(db, Order.__table__, Order.order_no == no) for no in numbers]
    ids = [order["id"] for order in orders]
    differ = {"id", "order_no", "order_id"}  # the only columns allowed to differ

    def same(rows: list[dict[str, Any]]) -> None:
        a, b = ({k: v for k, v in row.items() if k not in differ} for row in rows)
        assert a == b

    same(orders)
    assert orders[0]["address"]["city"] == "杭州市" and orders[0]["total_fen"] == 1234
    raw = [
        db.scalar(text("SELECT address::text FROM orders WHERE order_no = :n"), {"n": no})
        for no in numbers
    ]
    assert raw[0] == raw[1]  # the same stored text, key order included
    same([_row(db, OrderLine.__table__, OrderLine.order_id == i) for i in ids])
    same([_row(db, OrderEvent.__table__, OrderEvent.order_id == i) for i in ids])
    same([_row(db, FlashSaleOrder.__table__, FlashSaleOrder.order_id == i) for i in ids])
    assert [first[0].remaining, second[0].remaining] == [4, 3]
    assert sale_row(db, sale_id).sold == 2
    assert stock(db, scene.sku_id) == (95, 5, 0, 100)


def test_one_statement_answers_every_buyer_of_a_mixed_batch(
    db: Any, database: Any, scene: Scene, make_user: Any, count_queries: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=10, limit=2)
    users = [make_user() for _ in range(5)]
    for u in users[:4]:
        add_address(db, u)  # the last one has no address
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:  # u1 already holds 2 (its limit)
        flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(users[1]), 2)])
        session.commit()
    # u0 takes 2; u1 is at its limit; u2 wants 3 > limit; u3 takes 1; u4 has no address.
    wanted = [2, 1, 3, 1, 1]
    with database.session() as session, count_queries() as counted:
        out = flash_purchase.purchase_batch_in_tx(
            session,
            info,
            [(actor_for(u), q) for u, q in zip(users, wanted, strict=True)],
            optimistic=True,
        )
        session.commit()
    # the whole batch is one statement; the affiliates' listener of "created" then reads the
    # lines, the buyers' locks (none: so no read of the plans) and the shops' rules and
    # stores the touches (4, in the same transaction: pinned so that its cost stays seen)
    batch = [s for s in counted.statements if s.lstrip().startswith("WITH req AS")]
    assert len(batch) == 1 and counted.count == 1 + 4, [s[:80] for s in counted.statements]
    assert [type(o).__name__ for o in out] == [
        "Purchased",
        "Conflict",
        "Conflict",
        "Purchased",
        "InvalidInput",
    ]
    assert isinstance(out[1], Conflict) and out[1].code == "limit_reached"
    assert isinstance(out[2], Conflict) and out[2].code == "limit_reached"
    assert isinstance(out[4], InvalidInput) and out[4].code == "address_required"
    assert [o.remaining for o in out if isinstance(o, flash.Purchased)] == [6, 5]
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (5, 5)
    bought = dict(
        db.execute(
            select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                FlashSaleBuyer.sale_id == sale_id
            )
        ).all()
    )
    assert bought == {users[0].id: 2, users[1].id: 2, users[3].id: 1}
    assert db.scalar(select(func.count(Order.id))) == 3
    assert db.scalar(select(func.sum(FlashSaleOrder.quantity))) == 5


@pytest.mark.parametrize("how", ["draft", "stopped", "ended"])
def test_one_statement_backs_off_when_the_sale_is_not_running(
    db: Any, database: Any, scene: Scene, make_user: Any, clock: Any, how: str
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, start=how != "draft", duration=60)
    if how == "stopped":  # its units went back to the SKU; "remaining" still reads 3
        flash.stop_sale(db, scene.host_actor, scene.room_id, sale_id)
    elif how == "ended":
        clock.advance(seconds=61)
    buyer = make_user()
    add_address(db, buyer)
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:
        with pytest.raises(flash.SaleMoved):
            flash_purchase.purchase_batch_in_tx(
                session, info, [(actor_for(buyer), 1)], optimistic=True
            )
        session.rollback()
        out = flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)])
        session.rollback()
    assert out[0].code == "sale_not_running"  # type: ignore[union-attr]
    assert db.scalar(select(func.count(Order.id))) == 0
    assert db.scalar(select(func.count(FlashSaleBuyer.id))) == 0


def test_one_statement_backs_off_when_the_product_is_off_the_shelf(
    db: Any, database: Any, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3)
    buyer = make_user()
    add_address(db, buyer)
    db.execute(
        update(Product).where(Product.id == scene.product.id).values(status=ProductStatus.OFF_SHELF)
    )
    db.commit()
    info = _info(database, sale_id)
    with database.session() as session:
        with pytest.raises(flash.SaleMoved):
            flash_purchase.purchase_batch_in_tx(
                session, info, [(actor_for(buyer), 1)], optimistic=True
            )
        session.rollback()
        with pytest.raises(Conflict) as refused:  # the per-table path's answer
            flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)])
        session.rollback()
    assert refused.value.code == "unavailable"
    assert sale_row(db, sale_id).sold == 0
    assert db.scalar(select(func.count(Order.id))) == 0


def test_one_statement_leaves_the_sale_row_alone_when_nobody_is_counted(
    db: Any, database: Any, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, limit=1)
    buyer, homeless = make_user(), make_user()
    add_address(db, buyer)
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:
        flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)], optimistic=True)
        session.commit()
    before = db.scalar(text("SELECT xmin::text FROM flash_sales WHERE id = :i"), {"i": sale_id})
    db.rollback()
    with database.session() as session:
        out = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(buyer), 1), (actor_for(homeless), 1)], optimistic=True
        )
        session.commit()
    assert [getattr(o, "code", None) for o in out] == ["limit_reached", "address_required"]
    after = db.scalar(text("SELECT xmin::text FROM flash_sales WHERE id = :i"), {"i": sale_id})
    assert after == before  # no new row version: the hot row was not written or locked
    assert sale_row(db, sale_id).sold == 1


def test_one_statement_backs_off_when_an_order_number_is_taken(
    db: Any, database: Any, scene: Scene, make_user: Any, monkeypatch: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=5)
    users = [make_user() for _ in range(2)]
    for u in users:
        add_address(db, u)
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:
        first = flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(users[0]), 1)])
        session.commit()
    assert isinstance(first[0], flash.Purchased)
    taken = first[0].order_no
    monkeypatch.setattr(checkout, "order_numbers", lambda count: [taken] * count)
    with database.session() as session:
        with pytest.raises(flash.SaleMoved):
            flash_purchase.purchase_batch_in_tx(
                session, info, [(actor_for(users[1]), 1)], optimistic=True
            )
        session.rollback()
    assert sale_row(db, sale_id).sold == 1
    assert db.scalar(select(func.count(Order.id))) == 1
    assert db.scalar(select(func.count(FlashSaleBuyer.id))) == 1


def test_one_statement_announces_created_once_for_the_new_orders(
    db: Any, database: Any, scene: Scene, make_user: Any, monkeypatch: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=5, limit=1)
    users = [make_user() for _ in range(3)]
    for u in users[:2]:
        add_address(db, u)  # the last one has no address: no order, not announced
    db.rollback()
    info = _info(database, sale_id)
    heard: list[tuple[tuple[int, ...], int]] = []

    def listen(session: Any, change: lifecycle.Change) -> None:  # inside the transaction
        heard.append(
            (tuple(sorted(change.order_ids)), session.scalar(select(func.count(Order.id))))
        )

    monkeypatch.setitem(lifecycle._listeners, "created", [listen])
    with database.session() as session:
        out = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(u), 1) for u in users], optimistic=True
        )
        session.commit()
    ids = db.scalars(select(Order.id).order_by(Order.id)).all()
    assert [type(o).__name__ for o in out] == ["Purchased", "Purchased", "InvalidInput"]
    assert heard == [(tuple(sorted(ids)), 2)]

"""Second review's races: shipping against an after-sales case opened at the same moment,
the after-sales flag under concurrent writers, and ``mark_paid`` with an unknown id."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.orders.conftest import Scene, stock
from xiaodian import clock as clock_module
from xiaodian.db import Database
from xiaodian.errors import Conflict, NotFound
from xiaodian.orders import fulfilment, service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderEvent, OrderStatus


def _paid_order(db: Session, scene: Scene) -> Order:
    order = checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id
    ).orders[0]
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="P1")
    db.commit()
    return order


def _events(db: Session, order_id: int, action: str) -> int:
    db.expire_all()
    n = db.scalar(
        select(func.count())
        .select_from(OrderEvent)
        .where(OrderEvent.order_id == order_id, OrderEvent.action == action)
    )
    db.rollback()
    return int(n or 0)


def _order(db: Session, order_id: int) -> tuple[OrderStatus, bool]:
    db.expire_all()
    row = db.execute(select(Order.status, Order.aftersale_open).where(Order.id == order_id)).one()
    db.rollback()
    return row[0], row[1]


def test_case_opened_between_load_and_ship_stops_the_shipment(
    database: Database, db: Session, scene: Scene, backend: str, monkeypatch: Any
) -> None:
    order = _paid_order(db, scene)
    order_id, order_no = order.id, order.order_no
    db.rollback()
    real_check = fulfilment.check_shipment
    holder: dict[str, Session] = {}

    def case_opens_meanwhile(carrier: str, tracking_no: str) -> Any:
        # The order is loaded (flag false in memory); now a case opens and commits.
        if backend == "postgresql":  # really another transaction
            with database.session() as other:
                service.set_aftersale_open(other, order_id=order_id, open=True)
                other.commit()
        else:  # SQLite serializes writers: change the row behind the loaded object's back
            holder["s"].execute(
                update(Order)
                .where(Order.id == order_id)
                .values(aftersale_open=True)
                .execution_options(synchronize_session=False)
            )
        return real_check(carrier, tracking_no)

    monkeypatch.setattr(fulfilment, "check_shipment", case_opens_meanwhile)
    with database.session() as session:
        holder["s"] = session
        with pytest.raises(Conflict) as err:
            fulfilment.ship_order(
                session,
                scene.owner_actor,
                scene.shop.id,
                order_no,
                carrier="ZTO",
                tracking_no="75123456789012",
            )
        session.rollback()
    assert err.value.code == "aftersale_open" and err.value.status_code == 409
    if backend == "postgresql":
        assert _order(db, order_id) == (OrderStatus.PAID, True)
    assert _order(db, order_id)[0] == OrderStatus.PAID
    assert _events(db, order_id, "ship") == 0


def test_ship_api_says_409_while_a_case_is_open(db: Session, scene: Scene, api_client: Any) -> None:
    order = _paid_order(db, scene)
    service.set_aftersale_open(db, order_id=order.id, open=True)
    db.commit()
    r = api_client(scene.owner).post(
        f"/api/v1/merchant/shops/{scene.shop.id}/orders/{order.order_no}/ship",
        json={"carrier": "ZTO", "tracking_no": "75123456789012"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "aftersale_open"
    assert _order(db, order.id) == (OrderStatus.PAID, True)


def test_concurrent_opens_flip_the_flag_once(database: Database, db: Session, scene: Scene) -> None:
    order_id = _paid_order(db, scene).id
    db.rollback()
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def open_case() -> None:
        barrier.wait()
        try:
            with database.session() as session:
                service.set_aftersale_open(session, order_id=order_id, open=True)
                session.commit()
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=open_case) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert _order(db, order_id) == (OrderStatus.PAID, True)
    assert _events(db, order_id, "aftersale_opened") == 1


def test_a_case_opening_waits_for_the_order_being_counted(
    database: Database, db: Session, scene: Scene
) -> None:
    """After-sales closes the last case: it locks the order, counts open cases (none it
    can see), clears the flag. A case opened meanwhile must not be lost: its
    ``set_aftersale_open(True)`` waits for that transaction, then sets the flag again."""
    order_id = _paid_order(db, scene).id
    service.set_aftersale_open(db, order_id=order_id, open=True)  # case 1 is open
    db.commit()
    done = threading.Event()
    errors: list[BaseException] = []

    def second_case_opens() -> None:
        try:
            with database.session() as session:
                service.set_aftersale_open(session, order_id=order_id, open=True)
                session.commit()
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            done.set()

    with database.session() as closing:
        closing.get(Order, order_id)  # the transaction has begun (SQLite: the write lock)
        service.lock_order(closing, order_id=order_id)
        opener = threading.Thread(target=second_case_opens)
        opener.start()
        assert not done.wait(1.0), "the opener did not wait for the row"
        service.set_aftersale_open(closing, order_id=order_id, open=False)  # "no case left"
        closing.commit()
    opener.join(60)
    assert not errors, errors
    assert _order(db, order_id) == (OrderStatus.PAID, True)
    assert _events(db, order_id, "aftersale_closed") == 1
    assert _events(db, order_id, "aftersale_opened") == 2


def test_set_aftersale_open_unknown_order_is_not_found(db: Session, scene: Scene) -> None:
    with pytest.raises(NotFound):
        service.set_aftersale_open(db, order_id=2**31 - 1, open=True)
    db.rollback()


def test_mark_paid_checks_every_id_before_writing(db: Session, scene: Scene) -> None:
    order = checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, 2)], address_id=scene.address_id
    ).orders[0]
    with pytest.raises(NotFound):
        service.mark_paid(
            db, order_ids=[order.id, 2**31 - 1], paid_at=clock_module.now(), payment_ref="P9"
        )
    db.commit()  # a careless caller commits after the error: nothing may have been paid
    assert _order(db, order.id)[0] == OrderStatus.PENDING_PAYMENT
    assert _events(db, order.id, "pay") == 0
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)  # still reserved, not sold

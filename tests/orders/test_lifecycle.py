"""The order state machine: every legal transition, illegal ones 409, events, and the
timeout and auto-complete jobs under the frozen clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.orders.conftest import Scene, stock
from xiaodian import clock as clock_module
from xiaodian.errors import IllegalTransition
from xiaodian.orders import fulfilment, service, states
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderStatus


def place(db: Session, scene: Scene, qty: int = 2) -> Order:
    return checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, qty)], address_id=scene.address_id
    ).orders[0]


def pay(db: Session, order: Order, ref: str = "PAY1") -> None:
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref=ref)
    db.commit()


def ship(db: Session, scene: Scene, order: Order) -> None:
    fulfilment.ship_order(
        db,
        scene.owner_actor,
        scene.shop.id,
        order.order_no,
        carrier="ZTO",
        tracking_no="75123456789012",
    )


def test_transition_table_is_the_whole_lifecycle() -> None:
    S = OrderStatus
    pairs = {(t.source, t.target) for t in states.TRANSITIONS.values()}
    assert pairs == {
        (S.PENDING_PAYMENT, S.PAID),
        (S.PENDING_PAYMENT, S.CANCELLED),
        (S.PAID, S.SHIPPED),
        (S.PAID, S.CLOSED),
        (S.SHIPPED, S.COMPLETED),
    }
    assert set(states.REFUSALS) == set(S)


def test_happy_path_with_events(db: Session, scene: Scene) -> None:
    order = place(db, scene)
    pay(db, order)
    ship(db, scene, order)
    assert order.status == OrderStatus.SHIPPED and order.carrier == "ZTO"
    service.confirm_receipt(db, scene.buyer_actor, order.order_no)
    assert order.status == OrderStatus.COMPLETED
    events = service.order_events(db, order.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "pending_payment"),
        ("pending_payment", "paid"),
        ("paid", "shipped"),
        ("shipped", "completed"),
    ]
    assert [e.who for e in events] == [
        f"user:{scene.buyer.id}",
        "system",
        f"user:{scene.owner.id}",
        f"user:{scene.buyer.id}",
    ]
    assert stock(db, scene.sku_id) == (98, 0, 2, 100)


def test_illegal_transitions_are_409(db: Session, scene: Scene, api_client: Any) -> None:
    c = api_client(scene.buyer)
    order = place(db, scene)
    no = order.order_no
    r = c.post(f"/api/v1/orders/{no}/confirm")
    assert r.status_code == 409 and r.json()["error"]["code"] == "order_pending_payment"
    pay(db, order)
    r = c.post(f"/api/v1/orders/{no}/cancel", headers={"Accept-Language": "en"})
    assert r.status_code == 409
    assert r.json()["error"]["message"] == "This order has already been paid."
    ship(db, scene, order)
    with pytest.raises(IllegalTransition):
        ship(db, scene, order)
    db.rollback()  # (expires ``order``: use ``no`` from here on)
    assert c.post(f"/api/v1/orders/{no}/cancel").status_code == 409
    assert c.post(f"/api/v1/orders/{no}/confirm").status_code == 200
    assert c.post(f"/api/v1/orders/{no}/confirm").status_code == 409
    zh = c.post(f"/api/v1/orders/{no}/cancel", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 409 and "完成" in zh.json()["error"]["message"]


def test_cancel_releases_once(db: Session, scene: Scene) -> None:
    order = place(db, scene, 3)
    assert stock(db, scene.sku_id) == (97, 3, 0, 100)
    service.cancel_order(db, scene.buyer_actor, order.order_no)
    with pytest.raises(IllegalTransition):
        service.cancel_order(db, scene.buyer_actor, order.order_no)
    db.rollback()
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)
    with pytest.raises(IllegalTransition):
        pay_result = service.mark_paid(
            db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="X"
        )
        assert pay_result.unpayable
        raise IllegalTransition("ok")


def test_timeout_job_runs_twice(db: Session, scene: Scene, clock: Any) -> None:
    early = place(db, scene, 1)
    clock.advance(minutes=10)
    late = place(db, scene, 2)
    assert service.cancel_expired_orders(db) == 0
    clock.advance(minutes=6)  # early is 16 minutes old, late 6
    assert service.cancel_expired_orders(db) == 1
    assert service.cancel_expired_orders(db) == 0
    db.expire_all()
    assert early.status == OrderStatus.CANCELLED and late.status == OrderStatus.PENDING_PAYMENT
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)
    events = service.order_events(db, early.id)
    assert events[-1].action == "timeout" and events[-1].actor_id is None
    clock.advance(minutes=10)
    assert service.cancel_expired_orders(db) == 1
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)


def test_auto_complete_after_ten_days_not_while_aftersale_open(
    db: Session, scene: Scene, clock: Any
) -> None:
    a, b = place(db, scene, 1), place(db, scene, 1)
    pay(db, a, "PA")
    pay(db, b, "PB")
    ship(db, scene, a)
    ship(db, scene, b)
    service.set_aftersale_open(db, order_id=b.id, open=True)
    db.commit()
    clock.advance(timedelta(days=9, hours=23))
    assert service.auto_complete_orders(db) == 0
    clock.advance(timedelta(hours=2))
    assert service.auto_complete_orders(db) == 1
    assert service.auto_complete_orders(db) == 0
    db.expire_all()
    assert a.status == OrderStatus.COMPLETED and b.status == OrderStatus.SHIPPED
    service.set_aftersale_open(db, order_id=b.id, open=False)
    db.commit()
    assert service.auto_complete_orders(db) == 1


def test_aftersale_blocks_shipping_and_tab(db: Session, scene: Scene) -> None:
    order = place(db, scene)
    pay(db, order)
    service.set_aftersale_open(db, order_id=order.id, open=True)
    db.commit()
    with pytest.raises(Exception) as err:
        ship(db, scene, order)
    assert getattr(err.value, "code", "") == "aftersale_open"
    db.rollback()
    assert service.list_my_orders(db, scene.buyer_actor, tab="aftersale").total == 1
    assert service.list_my_orders(db, scene.buyer_actor, tab="to_ship").total == 1
    assert service.list_my_orders(db, scene.buyer_actor, tab="unpaid").total == 0

"""The contract with payments: payable_orders, mark_paid, refundable_fen, apply_refund."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.orders.conftest import Scene, actor_for, stock
from xiaodian import clock
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from xiaodian.orders import service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderEvent, OrderStatus


def place(db: Session, scene: Scene, qty: int = 2, sku_id: int | None = None) -> Order:
    result = checkout(
        db,
        scene.buyer_actor,
        lines=[(sku_id or scene.sku_id, qty)],
        address_id=scene.address_id,
    )
    return result.orders[0]


def test_payable_orders(db: Session, scene: Scene, make_user: Any, clock: Any) -> None:
    stranger = actor_for(make_user())
    order = place(db, scene)
    assert [p.id for p in service.payable_orders(db, scene.buyer_actor, [order.order_no])] == [
        order.id
    ]
    assert order.title.endswith("等2件")
    with pytest.raises(NotFound):
        service.payable_orders(db, stranger, [order.order_no])
    with pytest.raises(NotFound):
        service.payable_orders(db, scene.buyer_actor, ["20200101000000"])
    with pytest.raises(InvalidInput):
        service.payable_orders(db, scene.buyer_actor, [])
    clock.advance(minutes=16)
    with pytest.raises(IllegalTransition):
        service.payable_orders(db, scene.buyer_actor, [order.order_no])


def test_mark_paid_is_idempotent(db: Session, scene: Scene) -> None:
    order = place(db, scene)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)
    result = service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P1")
    db.commit()
    assert result.paid == [order.id]
    db.refresh(order)
    assert order.status == OrderStatus.PAID
    assert order.paid_fen == order.total_fen == 3980
    assert stock(db, scene.sku_id) == (98, 0, 2, 100)
    again = service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P1")
    db.commit()
    assert again.paid == [] and again.already == [order.id]
    other = service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P2")
    assert other.unpayable == [order.id]
    assert stock(db, scene.sku_id) == (98, 0, 2, 100)
    db.expire_all()
    assert scene.product.sales_count == 2


def test_mark_paid_cancelled_is_unpayable(db: Session, scene: Scene) -> None:
    order = place(db, scene)
    service.cancel_order(db, scene.buyer_actor, order.order_no)
    result = service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P1")
    db.commit()
    assert result.unpayable == [order.id]
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)
    with pytest.raises(NotFound):
        service.mark_paid(db, order_ids=[999999], paid_at=clock.now(), payment_ref="P1")


def test_apply_refund_idempotent_capped_and_closes(db: Session, scene: Scene) -> None:
    order = place(db, scene)
    service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P1")
    db.commit()
    assert service.refundable_fen(db, order_id=order.id) == 3980
    service.apply_refund(db, order_id=order.id, amount_fen=1000, refund_ref="R1")
    service.apply_refund(db, order_id=order.id, amount_fen=1000, refund_ref="R1")
    db.commit()
    assert service.refundable_fen(db, order_id=order.id) == 2980
    with pytest.raises(Conflict):
        service.apply_refund(db, order_id=order.id, amount_fen=2981, refund_ref="R2")
    db.rollback()
    with pytest.raises(InvalidInput):
        service.apply_refund(db, order_id=order.id, amount_fen=0, refund_ref="R3")
    final = service.apply_refund(db, order_id=order.id, amount_fen=2980, refund_ref="R2")
    db.commit()
    assert final.status == OrderStatus.CLOSED
    assert final.refunded_fen == final.paid_fen == 3980
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)
    db.expire_all()
    actions = [e.action for e in service.order_events(db, order.id)]
    assert actions == ["created", "pay", "refund", "refund", "close"]
    assert db.query(OrderEvent).count() == 5


def test_apply_refund_after_shipping_keeps_status(db: Session, scene: Scene) -> None:
    from xiaodian.orders import fulfilment

    order = place(db, scene)
    service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="P1")
    db.commit()
    fulfilment.ship_order(
        db,
        scene.owner_actor,
        scene.shop.id,
        order.order_no,
        carrier="SF",
        tracking_no="SF1234567890123",
    )
    done = service.apply_refund(db, order_id=order.id, amount_fen=3980, refund_ref="R1")
    db.commit()
    assert done.status == OrderStatus.SHIPPED
    assert stock(db, scene.sku_id) == (98, 0, 2, 100)

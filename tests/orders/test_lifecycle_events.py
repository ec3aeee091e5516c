"""The order lifecycle announces each change once, in the transaction of the change, to the
listeners other domains register (``orders.lifecycle``); a listener that fails rolls the
change back, with everything the change wrote."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from tests.orders.conftest import Scene, stock
from xiaodian import clock as clock_module
from xiaodian.orders import fulfilment, lifecycle, service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderEvent, OrderStatus


@dataclass
class Heard:
    """What a listener heard: (event, order ids, action, amount, ref, the order's status as
    the listener's own session saw it: the change's transaction, before its commit)."""

    changes: list[tuple[str, tuple[int, ...], str, int | None, str | None, str]] = field(
        default_factory=list
    )

    def of(self, event: str) -> list[tuple[int, ...]]:
        return [c[1] for c in self.changes if c[0] == event]


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> Iterator[Heard]:
    record = Heard()

    def listen(db: Session, change: lifecycle.Change) -> None:
        status = db.scalar(select(Order.status).where(Order.id == change.order_ids[0]))
        record.changes.append(
            (
                change.event,
                change.order_ids,
                change.action,
                change.amount_fen,
                change.ref,
                str(status),
            )
        )

    for event in lifecycle.EVENTS:
        monkeypatch.setitem(lifecycle._listeners, event, [*lifecycle.listeners(event), listen])
    yield record


def _place(db: Session, scene: Scene, qty: int = 2) -> Order:
    return checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, qty)], address_id=scene.address_id
    ).orders[0]


def test_each_change_is_announced_once_inside_its_transaction(
    db: Session, scene: Scene, heard: Heard, clock: Any
) -> None:
    order = _place(db, scene)
    assert heard.of("created") == [(order.id,)]
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="P1")
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="P1")
    db.commit()
    assert heard.of("paid") == [(order.id,)]  # the second call moved nothing: not announced
    service.set_aftersale_open(db, order_id=order.id, open=True)
    service.set_aftersale_open(db, order_id=order.id, open=True)
    service.set_aftersale_open(db, order_id=order.id, open=False)
    db.commit()
    assert heard.of("aftersale_opened") == [(order.id,)]
    assert heard.of("aftersale_closed") == [(order.id,)]
    service.apply_refund(db, order_id=order.id, amount_fen=500, refund_ref="R1")
    service.apply_refund(db, order_id=order.id, amount_fen=500, refund_ref="R1")
    db.commit()
    refunds = [c for c in heard.changes if c[0] == "refunded"]
    assert [(c[3], c[4]) for c in refunds] == [(500, "R1")]
    fulfilment.ship_order(
        db,
        scene.owner_actor,
        scene.shop.id,
        order.order_no,
        carrier="ZTO",
        tracking_no="75123456789012",
    )
    service.confirm_receipt(db, scene.buyer_actor, order.order_no)
    assert heard.of("shipped") == [(order.id,)] and heard.of("completed") == [(order.id,)]
    # the listener ran in the change's transaction: it saw the new status before the commit
    seen = {c[0]: c[5] for c in heard.changes}
    assert seen["paid"] == "paid" and seen["shipped"] == "shipped"
    assert seen["completed"] == "completed" and seen["created"] == "pending_payment"

    cancelled = _place(db, scene)
    service.cancel_order(db, scene.buyer_actor, cancelled.order_no)
    timed_out = _place(db, scene)
    clock.advance(minutes=16)
    assert service.cancel_expired_orders(db) == 1
    assert service.cancel_expired_orders(db) == 0
    actions = [(c[1], c[2]) for c in heard.changes if c[0] == "cancelled"]
    assert actions == [((cancelled.id,), "cancel"), ((timed_out.id,), "timeout")]

    closed = _place(db, scene)
    service.mark_paid(db, order_ids=[closed.id], paid_at=clock_module.now(), payment_ref="P2")
    service.apply_refund(db, order_id=closed.id, amount_fen=closed.total_fen, refund_ref="R2")
    db.commit()
    assert heard.of("closed") == [(closed.id,)]
    # every change once, in the order it happened
    assert [c[0] for c in heard.changes if closed.id in c[1]] == [
        "created",
        "paid",
        "refunded",
        "closed",
    ]


def test_a_batch_is_announced_once_with_every_order_that_moved(
    db: Session, scene: Scene, heard: Heard, clock: Any
) -> None:
    orders = [_place(db, scene, qty=1) for _ in range(3)]
    service.cancel_order(db, scene.buyer_actor, orders[0].order_no)  # no longer pending
    clock.advance(minutes=16)
    service.cancel_expired_orders(db)
    timeouts = [c[1] for c in heard.changes if c[2] == "timeout"]
    assert timeouts == [(orders[1].id, orders[2].id)]


def test_the_lines_a_change_carries_are_the_lines_a_read_finds(
    db: Session, scene: Scene, clock: Any, monkeypatch: pytest.MonkeyPatch, make_user: Any
) -> None:
    """A checkout's ``created`` and a payment's ``paid`` carry their orders' lines, so the
    listeners read none: exactly what ``paid_lines`` reads in the change's transaction, for
    several orders of several shops with several lines, in the same order."""
    other = make_product(db, make_shop(db, make_user()), skus=[("大", 1200, 50), ("小", 800, 50)])
    carried: list[tuple[str, Any, list[service.PaidLine]]] = []

    def listen(db: Session, change: lifecycle.Change) -> None:
        carried.append(
            (change.event, change.lines, service.paid_lines(db, order_ids=change.order_ids))
        )

    for event in ("created", "paid", "cancelled"):
        monkeypatch.setitem(lifecycle._listeners, event, [*lifecycle.listeners(event), listen])
    lines = [(scene.sku_id, 2), (other.skus[1].id, 1), (other.skus[0].id, 3)]
    orders = checkout(db, scene.buyer_actor, lines=lines, address_id=scene.address_id).orders
    assert len(orders) == 2
    ids = [o.id for o in orders]
    service.mark_paid(db, order_ids=ids, paid_at=clock_module.now(), payment_ref="P9")
    db.commit()
    assert [event for event, _lines, _read in carried] == ["created", "paid"]
    for event, lines_carried, read in carried:
        assert lines_carried is not None, event
        assert list(lines_carried) == read, event
        assert len(read) == 3 and {line.order_id for line in read} == set(ids)
    paid = carried[1][1]
    assert paid is not None and all(line.paid_fen > 0 and line.paid_at for line in paid)
    # a change that carries no lines: they are read
    bare = lifecycle.Change("paid", tuple(ids), clock_module.now())
    assert service.lines_of(db, bare) == carried[1][2]
    # a cancel puts the stock back and carries its lines too
    cancelled = _place(db, scene, qty=1)
    service.cancel_order(db, scene.buyer_actor, cancelled.order_no)
    event, lines_carried, read = carried[-1]
    assert event == "cancelled" and lines_carried is not None and list(lines_carried) == read


def test_a_failing_listener_rolls_the_change_back(
    db: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = _place(db, scene)
    db.rollback()
    before = stock(db, scene.sku_id)

    def fail(db: Session, change: lifecycle.Change) -> None:
        raise RuntimeError("the ledger is down")

    monkeypatch.setitem(
        lifecycle._listeners, "cancelled", [*lifecycle.listeners("cancelled"), fail]
    )
    with pytest.raises(RuntimeError):
        service.cancel_order(db, scene.buyer_actor, order.order_no)
    db.rollback()
    assert (
        db.scalar(select(Order.status).where(Order.id == order.id)) == OrderStatus.PENDING_PAYMENT
    )
    assert stock(db, scene.sku_id) == before  # the release of stock went with it
    events = db.scalar(
        select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "cancel")
    )
    assert events == 0

    monkeypatch.setitem(lifecycle._listeners, "created", [*lifecycle.listeners("created"), fail])
    with pytest.raises(RuntimeError):
        _place(db, scene)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Order)) == 1  # only the first order
    assert stock(db, scene.sku_id) == before


def test_unknown_events_cannot_be_listened_to() -> None:
    with pytest.raises(ValueError):
        lifecycle.on("delivered")


def test_the_domains_listen(scene: Scene) -> None:
    """After-sales hears refunds' outcomes from payments; content and the live rooms prove
    claimed channels; registered when ``domains.load`` imports them."""
    from xiaodian.payments import lifecycle as payments_lifecycle

    assert payments_lifecycle._listeners["settled"] and payments_lifecycle._listeners["failed"]
    assert set(lifecycle._channel_checks) >= {"video", "live"}

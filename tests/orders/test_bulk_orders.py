"""Orders written for many buyers at once (a flash sale's batch) through ``xiaodian.bulk``:
every order gets its own buyer, address, lines and event, whatever order the database
returns the new rows in; and the helpers themselves on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.orders.conftest import Scene
from xiaodian import bulk
from xiaodian.orders.checkout import Channel, PricedLine, create_orders_for_buyers
from xiaodian.orders.models import Order, OrderEvent, OrderLine, OrderStatus


def test_orders_for_many_buyers_each_get_their_own_rows(
    db: Session, scene: Scene, make_user: Any
) -> None:
    buyers = [make_user(display_name=f"买家{i}") for i in range(7)]
    carts = [
        (
            buyer.id,
            [PricedLine(scene.sku_id, i % 3 + 1, 990 + i)],
            {
                "name": f"收件人{i}",
                "phone": "13800138000",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "detail": f'文三路 {i} 号 "引号" \\ 反斜杠',
            },
        )
        for i, buyer in enumerate(buyers)
    ]
    created = create_orders_for_buyers(db, carts, channel=Channel(type="live", ref_id=None))
    db.commit()
    assert [len(orders) for orders in created] == [1] * 7
    for i, ((buyer_id, lines, address), [made]) in enumerate(zip(carts, created, strict=True)):
        order = db.get(Order, made.id)
        assert order is not None
        assert order.order_no == made.order_no and order.buyer_id == buyer_id == made.buyer_id
        assert order.address == address  # the JSON snapshot, quotes and backslashes intact
        assert order.status == OrderStatus.PENDING_PAYMENT and order.channel == "live"
        assert order.total_fen == made.total_fen == (990 + i) * (i % 3 + 1)
        assert order.created_at.tzinfo is not None
        line = db.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).one()
        assert (line.sku_id, line.quantity, line.unit_price_fen) == (
            scene.sku_id,
            lines[0].quantity,
            990 + i,
        )
        event = db.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)).one()
        assert event.action == "created" and event.actor_id == buyer_id
        assert event.at == order.created_at


def test_insert_rows_and_in_values(db: Session, scene: Scene) -> None:
    table = OrderEvent.__table__
    order = create_orders_for_buyers(
        db,
        [(scene.buyer.id, [PricedLine(scene.sku_id, 1, 100)], {"name": "张三"})],
        channel=Channel(),
    )[0][0]
    at = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    rows = [
        {
            "order_id": order.id,
            "actor_id": None,
            "actor_kind": "system",
            "action": f"note-{i}",
            "from_status": OrderStatus.PENDING_PAYMENT,
            "to_status": None,
            "note": None if i % 2 else "备注",
            "at": at,
        }
        for i in range(3)
    ]
    back = bulk.insert_rows(db, table, rows, returning=("id", "action"))  # type: ignore[arg-type]
    assert sorted(action for _id, action in back) == ["note-0", "note-1", "note-2"]
    db.commit()
    ids = [row_id for row_id, _a in back]
    found = db.scalars(
        select(OrderEvent).where(bulk.in_values(db, OrderEvent.id, ids)).order_by(OrderEvent.id)
    ).all()
    assert [(e.action, e.note, e.from_status, e.at) for e in found] == [
        ("note-0", "备注", "pending_payment", at),
        ("note-1", None, "pending_payment", at),
        ("note-2", "备注", "pending_payment", at),
    ]
    assert bulk.insert_rows(db, table, []) == []  # type: ignore[arg-type]
    assert db.scalar(select(func.count()).where(bulk.in_values(db, OrderEvent.id, []))) == 0

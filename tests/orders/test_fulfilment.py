"""Merchant side: shipping one, CSV batch with good and bad rows, CSV export, and strangers."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_shop
from tests.orders.conftest import Scene, actor_for
from xiaodian import clock as clock_module
from xiaodian.errors import InvalidInput, NotFound, TooLarge
from xiaodian.orders import fulfilment, service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order, OrderStatus


def paid_orders(db: Session, scene: Scene, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        note = "=cmd|' /C calc'!A0" if i == 0 else ""
        lines = [(scene.sku_id, 1)]
        order = checkout(
            db, scene.buyer_actor, lines=lines, address_id=scene.address_id, note=note
        ).orders[0]
        service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref=f"P{i}")
        db.commit()
        numbers.append(order.order_no)
    return numbers


def test_tracking_numbers() -> None:
    assert fulfilment.check_shipment("顺丰", "sf 1234567890123")[1] == "SF1234567890123"
    assert fulfilment.check_shipment("EMS", "EA123456789CN")[0].code == "EMS"
    with pytest.raises(InvalidInput):
        fulfilment.check_shipment("SF", "1234")
    with pytest.raises(InvalidInput):
        fulfilment.check_shipment("DHL", "1234567890123")


def test_batch_ship_mixed_rows(db: Session, scene: Scene, api_client: Any, make_user: Any) -> None:
    other_owner = make_user()
    other_shop = make_shop(db, other_owner)
    shop_id, other_shop_id = scene.shop.id, other_shop.id
    owner_actor = scene.owner_actor
    a, b, c = paid_orders(db, scene, 3)
    unpaid = checkout(db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id)
    unpaid_no = unpaid.orders[0].order_no
    text = (
        "order_no,carrier,tracking_no\n"
        f"{a},顺丰,SF1234567890123\n"
        f"{b},中通,abc\n"  # bad tracking number
        "\n"
        f"99999999999999,圆通,YT1234567890123\n"  # unknown order
        f"{c},YD,4312345678901\n"
        f"{unpaid_no},JD,JDVA12345678901\n"  # not paid
        f"{a},顺丰,SF1234567890123\n"  # already shipped
        "onlyonecell\n"
    )
    client = api_client(scene.owner)
    r = client.post(
        f"/api/v1/merchant/shops/{shop_id}/orders/ship-batch",
        files={"file": ("ship.csv", "\ufeff".encode() + text.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shipped"] == [a, c]
    assert [(e["line"], e["code"]) for e in body["errors"]] == [
        (3, "bad_tracking_no"),
        (5, "order_not_found"),
        (7, "order_pending_payment"),
        (8, "order_shipped"),
        (9, "bad_row"),
    ]
    db.expire_all()
    assert db.query(Order).filter(Order.status == OrderStatus.SHIPPED).count() == 2
    db.rollback()
    # a stranger's shop id, bad type, too large
    stranger = api_client(other_owner)
    r = stranger.post(
        f"/api/v1/merchant/shops/{shop_id}/orders/ship-batch",
        files={"file": ("s.csv", b"x", "text/csv")},
    )
    assert r.status_code == 404
    r = stranger.post(  # who asks is checked before the file, by the one check of the size
        f"/api/v1/merchant/shops/{shop_id}/orders/ship-batch",
        files={"file": ("s.csv", b"x" * (1024 * 1024 + 1), "text/csv")},
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/merchant/shops/{shop_id}/orders/ship-batch",
        files={"file": ("s.png", b"\x89PNG\x00", "image/png")},
    )
    assert r.status_code == 422
    with pytest.raises(TooLarge):
        fulfilment.ship_batch(db, owner_actor, shop_id, b"a" * (1024 * 1024 + 1))
    with pytest.raises(InvalidInput):
        fulfilment.ship_batch(db, owner_actor, shop_id, "订单号".encode("gbk"))
    with pytest.raises(NotFound):
        fulfilment.ship_batch(db, actor_for(other_owner, {other_shop_id: "owner"}), shop_id, b"")


def test_export_csv(db: Session, scene: Scene, api_client: Any, make_user: Any, clock: Any) -> None:
    staff = make_user()
    shop_id = scene.shop.id
    numbers = paid_orders(db, scene, 2)
    staff_actor = actor_for(staff, {scene.shop.id: "staff"})
    fulfilment.ship_order(
        db, staff_actor, scene.shop.id, numbers[1], carrier="SF", tracking_no="SF1234567890123"
    )
    data = fulfilment.export_csv(db, staff_actor, scene.shop.id)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "订单号" and len(rows) == 3
    by_no = {r[0]: r for r in rows[1:]}
    assert by_no[numbers[1]][2] == "已发货" and by_no[numbers[1]][13] == "顺丰速运"
    assert by_no[numbers[0]][7] == "19.90"
    assert by_no[numbers[0]][12].startswith("'=")  # formula defused
    shipped_only = fulfilment.export_csv(db, staff_actor, scene.shop.id, status="shipped")
    assert shipped_only.decode("utf-8-sig").count("\n") == 2
    future = fulfilment.export_csv(
        db, staff_actor, scene.shop.id, date_from=clock_module.today().replace(year=2099)
    )
    assert future.decode("utf-8-sig").count("\n") == 1
    db.rollback()  # release SQLite's write lock before the HTTP requests
    r = api_client(scene.owner).get(
        f"/api/v1/merchant/shops/{shop_id}/orders/export.csv?from=2099-01-02&to=2099-01-01"
    )
    assert r.status_code == 422
    r = api_client(scene.owner).get(f"/api/v1/merchant/shops/{shop_id}/orders?status=paid")
    assert r.status_code == 200 and r.json()["total"] == 1
    assert (
        api_client(scene.buyer).get(f"/api/v1/merchant/shops/{shop_id}/orders").status_code == 404
    )

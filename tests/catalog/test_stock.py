"""Manual stock adjustments: the invariant on_hand + reserved + sold == received, the log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.catalog.conftest import Scene
from tests.factories import make_product
from xiaodian.catalog import products, service, stock
from xiaodian.catalog.models import Sku, StockMovement
from xiaodian.catalog.products import SkuEdit
from xiaodian.errors import Conflict, InvalidInput, NotFound


def _invariant(sku: Sku) -> bool:
    return sku.stock_on_hand + sku.stock_reserved + sku.stock_sold == sku.stock_received


def test_adjustments_keep_the_invariant_and_are_logged(db: Any, scene: Scene) -> None:
    product = make_product(db, scene.shop, skus=[("标准", 1990, 10)])
    sku = product.skus[0]
    sku.stock_on_hand, sku.stock_reserved, sku.stock_sold = 6, 3, 1  # orders in flight
    db.commit()
    staff = scene.actor(scene.staff)
    stock.adjust_stock(db, staff, sku.id, 20, "供应商到货")
    assert (sku.stock_on_hand, sku.stock_received) == (26, 30) and _invariant(sku)
    stock.adjust_stock(db, staff, sku.id, -26, "盘点报损")
    assert (sku.stock_on_hand, sku.stock_received, sku.stock_reserved) == (0, 4, 3)
    assert _invariant(sku)
    with pytest.raises(Conflict) as err:
        stock.adjust_stock(db, staff, sku.id, -1, "再报损")  # reserved units are not on hand
    assert err.value.code == "stock_below_zero"
    db.expire_all()
    sku = db.get(Sku, sku.id)
    assert (sku.stock_on_hand, sku.stock_received) == (0, 4)
    log = db.scalars(select(StockMovement).order_by(StockMovement.id)).all()
    assert [(m.kind, m.delta, m.reason, m.actor_id) for m in log] == [
        ("manual", 20, "供应商到货", scene.staff.id),
        ("manual", -26, "盘点报损", scene.staff.id),
    ]
    db.rollback()
    entries = stock.stock_log(db, staff, scene.shop.id, product.id)
    assert [m.delta for m, _s in entries] == [-26, 20]  # newest first


@pytest.mark.parametrize(("delta", "reason"), [(5, ""), (5, "   "), (0, "x"), (5, "长" * 201)])
def test_adjustment_needs_a_reason_and_a_change(
    db: Any, scene: Scene, delta: int, reason: str
) -> None:
    product = make_product(db, scene.shop)
    with pytest.raises(InvalidInput):
        stock.adjust_stock(db, scene.actor(scene.owner), product.skus[0].id, delta, reason)
    db.rollback()
    assert db.scalars(select(StockMovement)).all() == []


def test_strangers_cannot_adjust(db: Any, scene: Scene) -> None:
    product = make_product(db, scene.shop)
    other = make_product(db, scene.other_shop)
    for user in (scene.other_owner, scene.other_staff, scene.buyer, scene.operator):
        with pytest.raises(NotFound):
            stock.adjust_stock(db, scene.actor(user), product.skus[0].id, 5, "x")
    with pytest.raises(NotFound):  # the SKU must belong to the product in the URL
        stock.adjust_stock(
            db, scene.actor(scene.owner), other.skus[0].id, 5, "x", shop_id=scene.shop.id
        )
    with pytest.raises(NotFound):
        stock.adjust_stock(db, scene.actor(scene.owner), 999_999, 5, "x")


def test_stock_set_in_the_sku_table_is_logged(db: Any, scene: Scene) -> None:
    product = make_product(db, scene.shop, skus=[("标准", 1990, 10)])
    staff = scene.actor(scene.staff)
    products.update_skus(db, staff, scene.shop.id, product.id, [SkuEdit("标准", 1990, stock=4)])
    sku = service.get_product(db, product.id).skus[0]
    assert (sku.stock_on_hand, sku.stock_received) == (4, 4) and _invariant(sku)
    log = db.scalars(select(StockMovement)).all()
    assert [(m.delta, m.reason) for m in log] == [(-6, "Set in the SKU table")]

"""Stock reservation: conditional updates keep on_hand + reserved + sold == received."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from xiaodian.catalog import inventory
from xiaodian.catalog.inventory import Move
from xiaodian.catalog.models import Product, Sku, StockMovement
from xiaodian.errors import Conflict


def counters(db: Session, sku_id: int) -> tuple[int, int, int]:
    db.expire_all()
    sku = db.get(Sku, sku_id)
    assert sku is not None
    assert sku.stock_on_hand + sku.stock_reserved + sku.stock_sold == sku.stock_received
    return sku.stock_on_hand, sku.stock_reserved, sku.stock_sold


def test_reserve_sell_release_restock(db: Session, make_user: Any) -> None:
    product = make_product(db, make_shop(db, make_user()), skus=[("A", 100, 5), ("B", 100, 2)])
    a, b = product.skus[0].id, product.skus[1].id
    assert inventory.reserve(db, sku_id=a, quantity=3, ref="N1")
    assert not inventory.reserve(db, sku_id=a, quantity=3, ref="N2")
    assert counters(db, a) == (2, 3, 0)
    inventory.sell(db, sku_id=a, quantity=2, ref="N1")
    inventory.release(db, sku_id=a, quantity=1, ref="N1")
    assert counters(db, a) == (3, 0, 2)
    assert db.get(Product, product.id).sales_count == 2  # type: ignore[union-attr]
    inventory.restock(db, sku_id=a, quantity=2, ref="N1")
    assert counters(db, a) == (5, 0, 0)
    # all or nothing across SKUs
    assert inventory.reserve_many(db, [Move(a, 1, "N3"), Move(b, 3, "N3")]) == [b]
    assert counters(db, a) == (5, 0, 0) and counters(db, b) == (2, 0, 0)
    with pytest.raises(Conflict):
        inventory.release(db, sku_id=b, quantity=1, ref="N4")  # nothing reserved
    kinds = list(db.scalars(select(StockMovement.kind).order_by(StockMovement.id)))
    assert kinds == ["reserve", "sell", "release", "restock"]
    with pytest.raises(ValueError):
        inventory.reserve(db, sku_id=a, quantity=0, ref="N5")
    db.commit()

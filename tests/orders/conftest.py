"""Fixtures for the orders tests: a shop with products, a buyer with an address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import actor_for as actor_for  # re-exported: the orders tests use it
from tests.factories import make_address, make_product, make_shop
from xiaodian.actor import Actor
from xiaodian.catalog.models import Sku


def add_address(db: Session, user: Any) -> int:
    return make_address(db, user.id, detail="文三路 100 号 2 单元 301", is_default=False)


def stock(db: Session, sku_id: int) -> tuple[int, int, int, int]:
    """(on_hand, reserved, sold, received), read fresh."""
    db.expire_all()
    sku = db.scalar(select(Sku).where(Sku.id == sku_id))
    assert sku is not None
    values = sku.stock_on_hand, sku.stock_reserved, sku.stock_sold, sku.stock_received
    assert sum(values[:3]) == values[3], "on_hand + reserved + sold == received"
    db.rollback()  # end the read: on SQLite it holds the write lock
    return values


@dataclass
class Scene:
    owner: Any
    buyer: Any
    shop: Any
    product: Any
    sku_id: int
    address_id: int

    @property
    def buyer_actor(self) -> Actor:
        return actor_for(self.buyer)

    @property
    def owner_actor(self) -> Actor:
        return actor_for(self.owner, {self.shop.id: "owner"})


@pytest.fixture
def scene(db: Session, make_user: Any) -> Scene:
    owner = make_user(display_name="店主")
    buyer = make_user(display_name="买家")
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("红色", 1990, 100), ("蓝色", 2990, 5)])
    return Scene(
        owner=owner,
        buyer=buyer,
        shop=shop,
        product=product,
        sku_id=product.skus[0].id,
        address_id=add_address(db, buyer),
    )

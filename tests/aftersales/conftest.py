"""Fixtures for the after-sales tests: a shop, its staff, buyers, an operator, and orders
driven through the real orders and payments services (sandbox provider)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_address, make_product, make_shop
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.catalog.models import Sku
from xiaodian.db import Database
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments import service as payments_service


def stock(db: Session, sku_id: int) -> tuple[int, int, int, int]:
    """(on_hand, reserved, sold, received), read fresh."""
    db.expire_all()
    sku = db.scalar(select(Sku).where(Sku.id == sku_id))
    assert sku is not None
    return sku.stock_on_hand, sku.stock_reserved, sku.stock_sold, sku.stock_received


@dataclass
class World:
    db: Session
    database: Database
    owner: Any
    staff: Any
    buyer: Any
    other_buyer: Any
    other_owner: Any
    operator: Any
    shop: Any
    other_shop: Any
    product: Any
    sku_id: int
    sku2_id: int
    shop_id: int
    other_shop_id: int

    def actor(self, user: Any) -> Actor:
        actor = accounts_service.actor_for_user(self.db, user)
        self.db.commit()  # end the read: an open SQLite transaction would block the app
        return actor

    @property
    def buyer_actor(self) -> Actor:
        return self.actor(self.buyer)

    @property
    def staff_actor(self) -> Actor:
        return self.actor(self.staff)

    @property
    def operator_actor(self) -> Actor:
        return self.actor(self.operator)

    def place(self, lines: list[tuple[int, int]] | None = None, buyer: Any = None) -> Order:
        """A pending order of the buyer (default: two of the first SKU)."""
        buyer = buyer or self.buyer
        actor = self.actor(buyer)
        address_id = make_address(self.db, buyer.id, is_default=False)
        result = checkout(self.db, actor, lines=lines or [(self.sku_id, 2)], address_id=address_id)
        return result.orders[0]

    def pay(self, order: Order) -> Order:
        """Pay through the sandbox cashier; the notification is posted in-process."""
        actor = self.actor(accounts_service.get(self.db, order.buyer_id))
        start = payments_service.start_payment(
            self.db, actor, order_nos=[order.order_no], method="sandbox"
        )
        payments_service.sandbox_pay(self.db, actor, start.out_trade_no)

        def post(_url: str, headers: dict[str, str], body: bytes) -> int:
            with self.database.session() as session:
                result = payments_service.handle_notification(session, headers=headers, body=body)
                return result.status_code

        previous = delivery.use_poster(post)
        try:
            delivery.deliver_due(self.db, out_trade_no=start.out_trade_no)
        finally:
            delivery.use_poster(previous)
        order = self.refresh(order)
        assert order.status == "paid", order.status
        return order

    def paid(self, lines: list[tuple[int, int]] | None = None) -> Order:
        return self.pay(self.place(lines))

    def ship(self, order: Order) -> Order:
        fulfilment.ship_order(
            self.db,
            self.actor(self.owner),
            self.shop.id,
            order.order_no,
            carrier="SF",
            tracking_no="SF1234567890123",
        )
        return self.refresh(order)

    def shipped(self, lines: list[tuple[int, int]] | None = None) -> Order:
        return self.ship(self.paid(lines))

    def received(self, lines: list[tuple[int, int]] | None = None) -> Order:
        order = self.shipped(lines)
        orders_service.confirm_receipt(self.db, self.buyer_actor, order.order_no)
        return self.refresh(order)

    def idle(self) -> None:
        """End our session's transaction: on SQLite it would keep the app from writing."""
        self.db.commit()

    def refresh(self, order: Order) -> Order:
        """The order as stored now (the transaction is ended, so the app can write)."""
        fresh = self.db.scalar(
            select(Order).where(Order.id == order.id).execution_options(populate_existing=True)
        )
        assert fresh is not None
        self.db.commit()
        return fresh

    def settle_refunds(self) -> int:
        """Run the payments job that sends pending refunds (the sandbox succeeds at once)."""
        return payments_service.submit_refunds(self.db)


@pytest.fixture
def world(db: Session, database: Database, make_user: Any) -> World:
    owner = make_user(display_name="店主")
    staff = make_user(display_name="店员")
    buyer = make_user(display_name="买家")
    other_buyer = make_user(display_name="别的买家")
    other_owner = make_user(display_name="别的店主")
    operator = make_user(display_name="运营", operator=True)
    shop = make_shop(db, owner, staff=staff)
    other_shop = make_shop(db, other_owner)
    product = make_product(db, shop, skus=[("红色", 1990, 100), ("蓝色", 2990, 5)], return_days=7)
    return World(
        db=db,
        database=database,
        owner=owner,
        staff=staff,
        buyer=buyer,
        other_buyer=other_buyer,
        other_owner=other_owner,
        operator=operator,
        shop=shop,
        other_shop=other_shop,
        product=product,
        sku_id=product.skus[0].id,
        sku2_id=product.skus[1].id,
        shop_id=shop.id,
        other_shop_id=other_shop.id,
    )

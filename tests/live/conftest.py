"""Fixtures for the live room tests: a merchant host with a product on a scheduled room."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import actor_for as actor_for  # re-exported: the live tests use it
from tests.factories import make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog.models import Sku
from xiaodian.content.live import flash
from xiaodian.content.live import service as live
from xiaodian.content.live.models import FlashSale


def add_address(db: Session, user: Any, **overrides: Any) -> int:
    return make_address(db, user.id, **overrides)


def stock(db: Session, sku_id: int) -> tuple[int, int, int, int]:
    """(on_hand, reserved, sold, received), read fresh; checks the SKU invariant."""
    db.expire_all()
    sku = db.scalar(select(Sku).where(Sku.id == sku_id))
    assert sku is not None
    values = sku.stock_on_hand, sku.stock_reserved, sku.stock_sold, sku.stock_received
    assert sum(values[:3]) == values[3], "on_hand + reserved + sold == received"
    db.rollback()
    return values


def sale_row(db: Session, sale_id: int) -> FlashSale:
    db.expire_all()
    sale = db.get(FlashSale, sale_id)
    assert sale is not None
    assert sale.quantity == sale.sold + sale.remaining
    db.rollback()
    return sale


@dataclass
class Scene:
    host: Any
    host_actor: Actor
    shop: Any
    product: Any
    sku_id: int
    room_id: int

    def live(self, db: Session) -> None:
        live.transition(db, self.host_actor, self.room_id, "go_live")

    def sale(
        self,
        db: Session,
        *,
        quantity: int = 10,
        limit: int = 1,
        price_fen: int = 990,
        start: bool = True,
        duration: int = 600,
    ) -> int:
        sale = flash.open_sale(
            db,
            self.host_actor,
            self.room_id,
            flash.SaleInput(
                product_id=self.product.id,
                sku_id=self.sku_id,
                price_fen=price_fen,
                quantity=quantity,
                per_buyer_limit=limit,
                duration_seconds=duration,
            ),
        )
        if start:
            flash.start_sale(db, self.host_actor, self.room_id, sale.id)
        return sale.id


@pytest.fixture
def scene(db: Session, make_user: Any) -> Scene:
    host = make_user(display_name="主播")
    shop = make_shop(db, host)
    product = make_product(db, shop, skus=[("标准", 1990, 100)])
    sku_id = product.skus[0].id
    host_actor = actor_for(host, {shop.id: "owner"})
    room = live.create_room(
        db,
        host_actor,
        live.RoomInput(
            title="618 直播",
            scheduled_at=clock.now() + timedelta(hours=1),
            shop_id=shop.id,
            stream_url="https://live.example.com/hls/a.m3u8",
            product_ids=[product.id],
        ),
    )
    return Scene(host, host_actor, shop, product, sku_id, room.id)


@pytest.fixture
def make_user(make_user: Any, db: Session) -> Any:
    """The shared make_user, after ending the test session's transaction (on SQLite an
    open write transaction of ``db`` would hold the lock)."""

    def _make(*args: Any, **kwargs: Any) -> Any:
        db.rollback()
        return make_user(*args, **kwargs)

    return _make


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    """Per-process rate limits and caches must not leak from one test to the next."""
    live.comment_limiter._last.clear()
    from xiaodian.accounts import authcache

    authcache.clear()


@pytest.fixture(autouse=True)
def _fresh_hub() -> Any:
    from xiaodian import realtime

    realtime.hub.configured = False
    yield
    realtime.hub.configured = False


@pytest.fixture
def redis_settings(settings: Any, redis_target: Any) -> Any:
    """The test's settings with its Redis (``redis_target``: its own key prefix) installed
    for the services; the plain settings again after the test."""
    from xiaodian import settings as settings_module

    with_redis = settings.model_copy(
        update={"redis_url": redis_target.url, "redis_prefix": redis_target.prefix}
    )
    settings_module.install(with_redis)
    yield with_redis
    settings_module.install(settings)

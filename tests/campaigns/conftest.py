"""The campaigns' scene: a shop with its owner and a product, operators, buyers, and a
template builder that goes through the real service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.factories import actor_for, make_product, make_shop
from tests.ledger.conftest import ledger_sandbox_keys, sandbox, trade  # noqa: F401 (fixtures)
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns import claims, templates
from xiaodian.db import Database


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    claims.forget_spent()  # ids restart with every test's database
    yield
    claims.forget_spent()


@dataclass
class Scene:
    database: Database
    owner: Any
    shop_id: int
    merchant: Actor
    product_id: int
    sku_id: int
    operator: Actor

    def template(self, *, platform: bool = False, **fields: Any) -> Any:
        now = clock.now()
        data: dict[str, Any] = {
            "name": "满100减20",
            "kind": "threshold",
            "level": "platform" if platform else "shop",
            "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=7),
            "quantity": 100,
            "off_fen": 2000,
            "min_spend_fen": 10000,
        }
        data.update(fields)
        with self.database.session() as db:
            if platform:
                return templates.create_platform_template(
                    db, self.operator, templates.TemplateInput(**data)
                )
            return templates.create_shop_template(
                db, self.merchant, self.shop_id, templates.TemplateInput(**data)
            )


@pytest.fixture
def scene(database: Database, settings: Any, make_user: Any) -> Scene:
    owner = make_user(display_name="店主")
    with database.session() as db:
        shop = make_shop(db, owner)
        product = make_product(db, shop, skus=[("标准", 15000, 100)])
        shop_id, product_id, sku_id = shop.id, product.id, product.skus[0].id
    op = make_user(operator=True)
    return Scene(
        database=database,
        owner=owner,
        shop_id=shop_id,
        merchant=actor_for(owner, {shop_id: "owner"}),
        product_id=product_id,
        sku_id=sku_id,
        operator=Actor(user_id=op.id, is_operator=True),
    )


@pytest.fixture
def redis_settings(settings: Any, redis_target: Any) -> Iterator[Any]:
    """The test's settings with its Redis installed (the coupon gate on)."""
    from xiaodian import settings as settings_module

    with_redis = settings.model_copy(
        update={"redis_url": redis_target.url, "redis_prefix": redis_target.prefix}
    )
    settings_module.install(with_redis)
    yield with_redis
    settings_module.install(settings)

"""Price governance (价格治理): every price a SKU has had is recorded whoever writes it;
its lowest of the last 30 days is known (the injectable clock moves the window); a struck
"was" price is shown only if the SKU was offered at it in the last 30 days; a limited-time
discount or a live flash price above that lowest is flagged for operators, who resolve
flags with a note."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for
from xiaodian.campaigns import discounts
from xiaodian.catalog import prices, products
from xiaodian.catalog.models import PriceFlag, SkuPrice
from xiaodian.catalog.storefront import service as storefront
from xiaodian.errors import InvalidInput, PermissionDenied


def _reprice(scene: Scene, price: int, list_price: int | None = None) -> None:
    with scene.database.session() as db:
        product = products.update_skus(
            db,
            scene.merchant,
            scene.shop_id,
            scene.product_id,
            [products.SkuEdit(spec_key="标准", price_fen=price, list_price_fen=list_price)],
        )
        db.commit()
        assert product.skus[0].price_fen == price


def _history(scene: Scene) -> list[int]:
    with scene.database.session(write=False) as db:
        return list(
            db.scalars(
                select(SkuPrice.price_fen)
                .where(SkuPrice.sku_id == scene.sku_id)
                .order_by(SkuPrice.id)
            )
        )


def _window(scene: Scene) -> prices.PriceWindow:
    with scene.database.session(write=False) as db:
        return prices.windows(db, [scene.sku_id])[scene.sku_id]


def test_every_price_is_recorded_and_the_window_moves(scene: Scene, clock: Any) -> None:
    assert _history(scene) == [15000]  # made by the factory: recorded all the same
    clock.advance(timedelta(days=1))
    _reprice(scene, 12000)
    _reprice(scene, 12000)  # the same price again: nothing new
    clock.advance(timedelta(days=1))
    _reprice(scene, 18000)
    assert _history(scene) == [15000, 12000, 18000]
    window = _window(scene)
    assert (window.lowest_fen, window.offered) == (12000, frozenset({15000, 12000, 18000}))
    clock.advance(timedelta(days=30, hours=1))  # 12000 held until a month ago, then 18000
    window = _window(scene)
    assert (window.lowest_fen, window.offered) == (18000, frozenset({18000}))


def test_a_was_price_is_struck_only_if_the_sku_was_offered_at_it(scene: Scene, clock: Any) -> None:
    _reprice(scene, 15000, list_price=30000)  # a list price it never sold at
    with scene.database.session(write=False) as db:
        assert storefront.get_product(db, scene.product_id).list_price_fen is None
    _reprice(scene, 30000, list_price=30000)
    clock.advance(timedelta(days=3))
    _reprice(scene, 26800, list_price=30000)  # it did sell at ¥300 three days ago
    with scene.database.session(write=False) as db:
        assert storefront.get_product(db, scene.product_id).list_price_fen == 30000
    clock.advance(timedelta(days=31))
    with scene.database.session(write=False) as db:  # more than 30 days ago: not any more
        assert storefront.get_product(db, scene.product_id).list_price_fen is None


def _flags(scene: Scene) -> list[PriceFlag]:
    with scene.database.session(write=False) as db:
        rows = list(db.scalars(select(PriceFlag).order_by(PriceFlag.id)))
        for row in rows:
            db.expunge(row)
        return rows


def test_a_discount_above_the_30_day_lowest_is_flagged(scene: Scene, clock: Any) -> None:
    clock.advance(timedelta(days=1))
    _reprice(scene, 10000)  # a week of ¥100 ...
    clock.advance(timedelta(days=7))
    _reprice(scene, 20000)  # ... then "¥200, now 40 % off!"
    now = clock.now()
    data = discounts.DiscountInput(
        "大促", now, now + timedelta(hours=2), [discounts.ItemInput(scene.sku_id, rate_percent=60)]
    )
    with scene.database.session() as db:
        made = discounts.create_discount(db, scene.merchant, scene.shop_id, data)
    (flag,) = _flags(scene)
    assert (flag.source, flag.ref_id, flag.price_fen, flag.lowest_fen) == (
        "discount",
        made.id,
        12000,
        10000,
    )
    with scene.database.session() as db:  # below the lowest: an honest discount
        discounts.cancel_discount(db, scene.merchant, made.id)
    data = discounts.DiscountInput(
        "真促", now, now + timedelta(hours=2), [discounts.ItemInput(scene.sku_id, rate_percent=45)]
    )
    with scene.database.session() as db:
        discounts.create_discount(db, scene.merchant, scene.shop_id, data)
    assert len(_flags(scene)) == 1


def test_operators_resolve_flags_with_a_note(
    scene: Scene, clock: Any, make_user: Any, login_client: Any
) -> None:
    clock.advance(timedelta(days=1))
    _reprice(scene, 10000)
    clock.advance(timedelta(days=1))
    _reprice(scene, 20000)
    now = clock.now()
    data = discounts.DiscountInput(
        "大促", now, now + timedelta(hours=2), [discounts.ItemInput(scene.sku_id, rate_percent=80)]
    )
    with scene.database.session() as db:
        discounts.create_discount(db, scene.merchant, scene.shop_id, data)
    (flag,) = _flags(scene)
    operator = login_client(make_user(operator=True))
    page = operator.get("/ops/prices")
    assert page.status_code == 200 and "大促" in page.text and "¥160.00" in page.text
    assert login_client(scene.owner).get("/ops/prices").status_code == 403
    with scene.database.session() as db, pytest.raises(InvalidInput):
        prices.resolve_flag(db, scene.operator, flag.id, note=" ")
    with scene.database.session() as db, pytest.raises(PermissionDenied):
        prices.resolve_flag(db, actor_for(scene.owner), flag.id, note="ok")
    with scene.database.session() as db:
        prices.resolve_flag(db, scene.operator, flag.id, note="已联系商家改价")
    assert _flags(scene)[0].note == "已联系商家改价"
    assert "大促" not in operator.get("/ops/prices").text

"""Limited-time discounts (限时折扣): the price every place that sells asks (the product
page, the cart, checkout), between two times only (the injectable clock moves past the
end: the price is back); the rules (WeChat's 2折 floor, the shop's own SKUs, a window in
the future, one discount per SKU at a time, a race of two writers on PostgreSQL); coupons
apply on top; ending a discount early; bad input of every kind writes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.campaigns import discounts
from xiaodian.campaigns.models import Discount, DiscountItem
from xiaodian.catalog import sellability
from xiaodian.catalog.storefront import service as storefront
from xiaodian.errors import Conflict, InvalidInput, NotFound
from xiaodian.merchants.models import Shop
from xiaodian.orders import checkout as checkout_module

Item = discounts.ItemInput


def _create(
    scene: Scene, *items: Item, hours: float = 2, start: float = -1, name: str = "限时"
) -> Any:
    now = clock.now()
    data = discounts.DiscountInput(
        name=name,
        starts_at=now + timedelta(hours=start),
        ends_at=now + timedelta(hours=hours),
        items=list(items) or [Item(scene.sku_id, rate_percent=80)],
    )
    with scene.database.session() as db:
        return discounts.create_discount(db, scene.merchant, scene.shop_id, data)


def _price(scene: Scene, sku_id: int | None = None) -> int:
    with scene.database.session(write=False) as db:
        found = sellability.offer(db, sku_id or scene.sku_id)
        assert found is not None
        return found.price_fen


def _count(scene: Scene) -> tuple[int, int]:
    with scene.database.session(write=False) as db:
        return (
            db.scalar(select(func.count()).select_from(Discount)) or 0,
            db.scalar(select(func.count()).select_from(DiscountItem)) or 0,
        )


def test_the_discounted_price_holds_between_its_times_only(scene: Scene, clock: Any) -> None:
    assert _price(scene) == 15000
    _create(scene, Item(scene.sku_id, rate_percent=80), start=1, hours=3)
    assert _price(scene) == 15000  # not started
    clock.advance(timedelta(hours=1))
    assert _price(scene) == 12000  # 8折
    with scene.database.session(write=False) as db:
        page = storefront.get_product(db, scene.product_id)
    assert page.min_price_fen == 12000 and page.list_price_fen == 15000  # its own price struck
    assert page.deal is not None and page.deal.until == clock.now() + timedelta(hours=2)
    with scene.database.session(write=False) as db:  # the lists show it too
        (card,) = storefront.list_products(db, shop_id=scene.shop_id).items
    assert (card.price_fen, card.list_price_fen) == (12000, 15000) and card.deal is not None
    clock.advance(timedelta(hours=2))
    assert _price(scene) == 15000  # ended: the price is back at once
    with scene.database.session(write=False) as db:
        (card,) = storefront.list_products(db, shop_id=scene.shop_id).items
    assert card.price_fen == 15000 and card.deal is None
    with scene.database.session(write=False) as db:
        assert storefront.get_product(db, scene.product_id).deal is None


def test_checkout_charges_the_discount_and_coupons_apply_on_top(
    scene: Scene, make_user: Any
) -> None:
    _create(scene, Item(scene.sku_id, price_fen=11000))
    coupon_template = scene.template()  # 满100减20, on the discounted price
    buyer = make_user()
    from xiaodian.campaigns import claims

    with scene.database.session() as db:
        coupon, _t = claims.claim(db, actor_for(buyer), coupon_template.id)
        coupon_id = coupon.id
    with scene.database.session() as db:
        address_id = make_address(db, buyer.id)
        result = checkout_module.checkout(
            db,
            actor_for(buyer),
            lines=[(scene.sku_id, 2)],
            address_id=address_id,
            coupons=[coupon_id],
            from_cart=False,
        )
        order = result.orders[0]
        assert order.lines[0].unit_price_fen == 11000
        assert order.total_fen == 22000 - 2000


def test_the_rules_refuse_and_write_nothing(scene: Scene, make_user: Any, clock: Any) -> None:
    other_owner = make_user()
    with scene.database.session() as db:
        other = make_shop(db, other_owner)
        theirs = make_product(db, other, skus=[("标准", 5000, 10)]).skus[0].id
    now = clock.now()
    bad = [
        ([Item(scene.sku_id, rate_percent=19)], "bad_offer"),  # below 2折
        ([Item(scene.sku_id, rate_percent=100)], "bad_offer"),
        ([Item(scene.sku_id, price_fen=15000)], "bad_offer"),  # not below the price
        ([Item(scene.sku_id, price_fen=2999)], "bad_offer"),  # below 20 %
        ([Item(scene.sku_id, price_fen=-1)], "bad_offer"),
        ([Item(scene.sku_id)], "bad_offer"),  # neither
        ([Item(scene.sku_id, rate_percent=80, price_fen=100)], "bad_offer"),  # both
        ([Item(theirs, rate_percent=80)], "bad_items"),  # another shop's
        ([Item(2**31, rate_percent=80)], "bad_items"),  # unknown
        ([Item(scene.sku_id, rate_percent=80)] * 2, "bad_items"),
        ([], "bad_items"),
    ]
    for items, code in bad:
        data = discounts.DiscountInput("限时", now, now + timedelta(hours=1), items)
        with scene.database.session() as db, pytest.raises(InvalidInput) as refused:
            discounts.create_discount(db, scene.merchant, scene.shop_id, data)
        assert refused.value.code == code, items
    one = [Item(scene.sku_id, rate_percent=80)]
    for starts, ends in (
        (now, now),  # empty
        (now - timedelta(hours=2), now - timedelta(hours=1)),  # over already
        (now, now + timedelta(days=91)),  # too long
    ):
        with scene.database.session() as db, pytest.raises(InvalidInput):
            discounts.create_discount(
                db,
                scene.merchant,
                scene.shop_id,
                discounts.DiscountInput("限时", starts, ends, one),
            )
    with scene.database.session() as db, pytest.raises(InvalidInput):
        discounts.create_discount(
            db,
            scene.merchant,
            scene.shop_id,
            discounts.DiscountInput(" ", now, now + timedelta(hours=1), one),
        )
    stranger = actor_for(make_user())
    with scene.database.session() as db, pytest.raises(NotFound):
        discounts.create_discount(
            db,
            stranger,
            scene.shop_id,
            discounts.DiscountInput("限时", now, now + timedelta(hours=1), one),
        )
    assert _count(scene) == (0, 0)


def test_one_discount_per_sku_at_a_time(scene: Scene, clock: Any) -> None:
    first = _create(scene, hours=5)
    with pytest.raises(Conflict) as overlap:
        _create(scene, start=4, hours=6)
    assert overlap.value.code == "discount_overlap"
    later = _create(scene, start=5, hours=6)  # right after: fine
    assert _count(scene) == (2, 2)
    # ended early: its SKU is free again, and a stranger cannot end it
    with scene.database.session() as db, pytest.raises(NotFound):
        discounts.cancel_discount(db, actor_for_nobody(), first.id)
    with scene.database.session() as db:
        discounts.cancel_discount(db, scene.merchant, first.id)
    assert _price(scene) == 15000
    _create(scene, Item(scene.sku_id, rate_percent=50), hours=3)
    assert _price(scene) == 7500
    # the scheduled one cancelled never starts
    with scene.database.session() as db:
        discounts.cancel_discount(db, scene.merchant, later.id)
    clock.advance(timedelta(hours=5, minutes=1))
    assert _price(scene) == 15000


def actor_for_nobody() -> Any:
    from xiaodian.actor import Actor

    return Actor(user_id=10**6)


def test_two_writers_racing_for_one_sku_get_one_discount(scene: Scene, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race is PostgreSQL's")
    now = clock.now()
    data = discounts.DiscountInput(
        "限时", now, now + timedelta(hours=1), [Item(scene.sku_id, rate_percent=80)]
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def write() -> None:
        barrier.wait()
        with scene.database.session() as db:
            try:
                discounts.create_discount(db, scene.merchant, scene.shop_id, data)
                outcomes.append("made")
            except Conflict:
                outcomes.append("refused")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made", "refused", "refused", "refused"]
    assert _count(scene) == (1, 1)


def test_the_price_rule_costs_one_query_for_any_number_of_skus(scene: Scene) -> None:
    from sqlalchemy import event

    with scene.database.session() as db:
        shop = db.get(Shop, scene.shop_id)
        product = make_product(db, shop, skus=[(f"款{i}", 1000 + i, 10) for i in range(10)])
        ids = [s.id for s in product.skus]
    _create(scene, *[Item(i, rate_percent=90) for i in ids])
    counts = []
    for wanted in (ids[:1], ids):
        seen: list[str] = []

        def spy(*args: Any, seen: list[str] = seen) -> None:
            seen.append(args[2])

        with scene.database.session(write=False) as db:
            skus = sellability.load_skus(db, wanted)
            event.listen(scene.database.engine, "before_cursor_execute", spy)
            try:
                offers = sellability.current().offers(db, skus, None)
            finally:
                event.remove(scene.database.engine, "before_cursor_execute", spy)
        assert all(o.price_fen < o.sku.price_fen for o in offers.values())
        counts.append(len(seen))
    assert counts[0] == counts[1] == 1

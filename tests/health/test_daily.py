"""The daily score from real orders, cases and reviews, stored per shop, and the thresholds
the lower domains enforce through their hooks (live rooms, the marketplace listings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.health.conftest import World
from xiaodian.aftersales import cases
from xiaodian.catalog.storefront import service as storefront_service
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict
from xiaodian.health import service
from xiaodian.health.models import ShopHealth
from xiaodian.reviews import writing


def _review(w: World, order: Any, stars: int) -> None:
    lines = [writing.LineReview(line.id, stars, "") for line in order.lines]
    writing.create_review(
        w.db, w.buyer_actor, order.order_no, lines=lines, service_stars=stars, logistics_stars=stars
    )


def _set_score(w: World, shop_id: int, value: int) -> None:
    row = w.db.get(ShopHealth, shop_id)
    assert row is not None
    row.score = value
    w.db.commit()


def test_the_daily_score_counts_what_lowered_it(world: World, clock: Any) -> None:
    late = world.paid()
    clock.advance(timedelta(hours=50))
    world.ship(late)  # shipped 50 h after payment
    orders_service_received = world.received()  # shipped at once, received at once
    _review(world, orders_service_received, 1)  # one star: 25 × 0 = 0
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=orders_service_received.order_no,
        line_id=orders_service_received.lines[0].id,
        kind="refund_only",
        reason="quality",
    )
    assert service.compute_all(world.db) == 2  # both shops
    health = service.current(world.db, shop_id=world.shop_id)
    assert health is not None
    points = {m["name"]: m["points"] for m in health.measures}
    assert points["review_stars"] == 0
    assert points["shipped_48h"] == pytest.approx(10)  # one of two shipped late
    assert points["quality_returns"] == 0  # one fault case in two paid orders: 50 %
    refs = {(x["measure"], x["ref"]) for x in health.lowered_by}
    assert ("shipped_48h", late.order_no) in refs
    assert ("review_stars", orders_service_received.order_no) in refs
    assert ("quality_returns", str(case.id)) in refs
    # 0 + 0 + 10 + 10 (received the day it shipped) + 15 + 10 + 5 = 50 (the case is fresh:
    # not yet due for an answer)
    assert health.score == 50
    assert health.restrictions == ["live"]
    other = service.current(world.db, shop_id=world.other_shop_id)
    assert other is not None and other.score == 100
    # the next day's run replaces the row; after 90 days the events no longer count
    clock.advance(timedelta(days=91))
    service.compute_all(world.db)
    again = service.current(world.db, shop_id=world.shop_id)
    assert again is not None and again.score == 100 and again.lowered_by == []


def test_below_sixty_no_new_live_room(world: World, clock: Any) -> None:
    service.compute_all(world.db)
    _set_score(world, world.shop_id, 59)
    data = live_service.RoomInput(
        title="今晚上新", scheduled_at=clock.now() + timedelta(days=1), shop_id=world.shop_id
    )
    with pytest.raises(Conflict) as info:
        live_service.create_room(world.db, world.staff_actor, data)
    assert info.value.code == "health_no_live"
    world.db.rollback()
    _set_score(world, world.shop_id, 60)
    room = live_service.create_room(world.db, world.staff_actor, data)
    assert room.id


def test_below_forty_products_leave_the_marketplace(world: World) -> None:
    def listed() -> set[int]:
        world.db.rollback()
        return {c.id for c in storefront_service.list_products(world.db).items}

    assert world.product.id in listed()  # no score yet: no restriction
    service.compute_all(world.db)
    _set_score(world, world.shop_id, 39)
    assert world.product.id not in listed()
    shop_page = storefront_service.list_products(world.db, shop_id=world.shop_id)
    assert world.product.id in {c.id for c in shop_page.items}  # its own shop page keeps it
    _set_score(world, world.shop_id, 40)
    assert world.product.id in listed()


def test_the_pages_show_the_score(world: World, login_client: Any, clock: Any) -> None:
    late = world.paid()
    clock.advance(timedelta(hours=50))
    world.ship(late)
    service.compute_all(world.db)
    _set_score(world, world.shop_id, 35)
    world.idle()
    merchant = login_client(world.owner)
    page = merchant.get(f"/merchant/shops/{world.shop_id}/health")
    assert page.status_code == 200
    assert "35" in page.text and late.order_no in page.text
    assert merchant.get(f"/merchant/shops/{world.other_shop_id}/health").status_code == 404
    ops = login_client(world.operator)
    listing = ops.get("/ops/health")
    assert listing.status_code == 200 and world.shop.name in listing.text
    assert ops.get("/ops").status_code == 200
    assert merchant.get("/ops/health").status_code in (403, 404)

"""The marketplace (选品广场): products in plans in force, with the rate the visitor would get
(open for everyone; a targeted plan's invite rate and an exclusive plan only for the
promoter they name) and the estimated earning per unit; filters and sorts; products off
sale or plans not in force left out; the page and the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import actor_for, make_product, make_shop
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.affiliates import marketplace, plans
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.errors import InvalidInput


@pytest.fixture
def market(database: Any, make_user: Any) -> dict[str, Any]:
    owner = make_user()
    promoter, other = make_user(creator=True), make_user()
    with database.session() as db:
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
        cup = make_product(db, shop, title="青瓷杯", skus=[("单只", 5800, 5)])
        pot = make_product(db, shop, title="紫砂壶", skus=[("一把", 99900, 5)])
        ids = {"tea": tea.id, "cup": cup.id, "pot": pot.id}
    merchant = actor_for(owner, {shop.id: "owner"})
    start = clock.now() - timedelta(days=1)
    with database.session() as db:
        plans.create_plan(
            db, merchant, shop.id, product_id=ids["tea"], terms=plans.PlanTerms("open", 10, start)
        )
    with database.session() as db:
        plans.create_plan(
            db, merchant, shop.id, product_id=ids["cup"], terms=plans.PlanTerms("open", 20, start)
        )
    with database.session() as db:
        targeted = plans.create_plan(
            db,
            merchant,
            shop.id,
            product_id=ids["cup"],
            terms=plans.PlanTerms("targeted", 30, start),
        )
    with database.session() as db:
        plans.invite_promoter(
            db, merchant, shop.id, targeted.id, promoter_id=promoter.id, rate_pct=35
        )
    with database.session() as db:
        plans.create_plan(
            db,
            merchant,
            shop.id,
            product_id=ids["pot"],
            terms=plans.PlanTerms("exclusive", 15, start, promoter_id=promoter.id),
        )
    return {
        "ids": ids,
        "promoter": Actor(user_id=promoter.id, is_creator=True),
        "other": actor_for(other),
    }


def _offers(database: Any, actor: Actor, **kw: Any) -> list[tuple[str, int, int]]:
    with database.session() as db:
        found = marketplace.offers(db, actor, **kw)
    return [(o.title, o.rate_pct, o.earning_fen) for o in found.items]


def test_each_visitor_sees_their_own_rates(database: Any, market: dict[str, Any]) -> None:
    assert _offers(database, Actor()) == [("明前龙井", 10, 2680), ("青瓷杯", 20, 1160)]
    assert _offers(database, market["other"]) == [("明前龙井", 10, 2680), ("青瓷杯", 20, 1160)]
    mine = _offers(database, market["promoter"])  # invited (35 %) and the exclusive pot
    assert mine == [("紫砂壶", 15, 14985), ("明前龙井", 10, 2680), ("青瓷杯", 35, 2030)]


def test_filters_sorts_and_what_is_left_out(database: Any, market: dict[str, Any]) -> None:
    promoter = market["promoter"]
    assert [t for t, _r, _e in _offers(database, promoter, sort="rate")] == [
        "青瓷杯",
        "紫砂壶",
        "明前龙井",
    ]
    assert [t for t, _r, _e in _offers(database, promoter, sort="price")] == [
        "青瓷杯",
        "明前龙井",
        "紫砂壶",
    ]
    assert [t for t, _r, _e in _offers(database, promoter, min_rate=15)] == ["紫砂壶", "青瓷杯"]
    assert [t for t, _r, _e in _offers(database, promoter, max_price_fen=30000)] == [
        "明前龙井",
        "青瓷杯",
    ]
    with database.session() as db:
        db.get(Product, market["ids"]["tea"]).status = ProductStatus.OFF_SHELF
        db.commit()
    assert [t for t, _r, _e in _offers(database, Actor())] == ["青瓷杯"]
    with database.session() as db, pytest.raises(InvalidInput):
        marketplace.offers(db, Actor(), sort="cheapest")


def _score(database: Any, shop_id: int, value: int) -> None:
    from xiaodian.health.models import ShopHealth

    now = clock.now()
    with database.session() as db:
        db.merge(
            ShopHealth(
                shop_id=shop_id,
                score=value,
                business_day=now.date(),
                window_start=now - timedelta(days=90),
                window_end=now,
            )
        )
        db.commit()


def test_the_shop_score_shows_filters_and_hides_shops_below_40(
    database: Any, market: dict[str, Any], make_user: Any, client: Any
) -> None:
    owner = make_user()
    with database.session() as db:
        shop = make_shop(db, owner, name="新开小铺")
        fan = make_product(db, shop, title="团扇", skus=[("一把", 3900, 5)])
        tea_shop = db.get(Product, market["ids"]["tea"]).shop_id
        shop_id, fan_id = shop.id, fan.id
    with database.session() as db:
        plans.create_plan(
            db,
            actor_for(owner, {shop_id: "owner"}),
            shop_id,
            product_id=fan_id,
            terms=plans.PlanTerms("open", 10, clock.now() - timedelta(days=1)),
        )
    visitor = Actor()
    with database.session() as db:  # no score yet: listed, shown without one
        found = {o.title: o.shop_score for o in marketplace.offers(db, visitor).items}
    assert found == {"明前龙井": None, "青瓷杯": None, "团扇": None}
    _score(database, tea_shop, 92)
    _score(database, shop_id, 55)
    with database.session() as db:
        found = {o.title: o.shop_score for o in marketplace.offers(db, visitor).items}
        assert found == {"明前龙井": 92, "青瓷杯": 92, "团扇": 55}
        high = marketplace.offers(db, visitor, min_score=90).items
        assert sorted(o.title for o in high) == ["明前龙井", "青瓷杯"]
        with pytest.raises(InvalidInput):
            marketplace.offers(db, visitor, min_score=101)
    _score(database, shop_id, 39)  # below 40: out of the marketplace
    assert [t for t, _r, _e in _offers(database, visitor)] == ["明前龙井", "青瓷杯"]
    page = client.get("/market?min_score=90")
    assert page.status_code == 200 and "体验分 92" in page.text and "团扇" not in page.text
    api = client.get("/api/v1/market", params={"min_score": 90}).json()
    assert {o["shop_score"] for o in api["items"]} == {92}
    assert client.get("/api/v1/market", params={"min_score": 101}).status_code == 422


def test_the_page_and_the_api(database: Any, market: dict[str, Any], client: Any) -> None:
    page = client.get("/market")
    assert page.status_code == 200 and "明前龙井" in page.text and "¥26.80" in page.text
    assert "紫砂壶" not in page.text  # exclusive to another promoter
    assert client.get("/market?min_rate=abc").status_code == 422
    body = client.get("/api/v1/market?sort=rate").json()
    assert [i["title"] for i in body["items"]] == ["青瓷杯", "明前龙井"] and body["total"] == 2
    assert client.get("/api/v1/market?sort=cheapest").status_code == 422
    assert client.get("/api/v1/market?page=0").status_code == 422

"""A creator's showcase (橱窗): a creator picks products on sale (again changes nothing),
each with their tracked link; the public page lists what is still on sale; a buyer who
comes from the showcase goes through the creator's tracked link (so the lock window and the
commission of the product's plan follow); only creators have one; bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import actor_for, make_product, make_shop
from xiaodian import clock
from xiaodian.affiliates import plans, showcase
from xiaodian.affiliates.models import ShowcaseItem
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.errors import NotFound, PermissionDenied


@pytest.fixture
def picks(database: Any, make_user: Any) -> dict[str, Any]:
    owner = make_user()
    creator = make_user(creator=True, display_name="茶小白")
    with database.session() as db:
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
        cup = make_product(db, shop, title="青瓷杯", skus=[("单只", 5800, 5)])
        return {
            "owner": actor_for(owner, {shop.id: "owner"}),
            "shop_id": shop.id,
            "creator": actor_for(creator, creator=True),
            "creator_id": creator.id,
            "tea": tea.id,
            "cup": cup.id,
        }


def _items(database: Any) -> int:
    with database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(ShowcaseItem)) or 0


def test_a_creator_picks_products_and_the_page_lists_them(
    database: Any, picks: dict[str, Any], make_user: Any
) -> None:
    creator = picks["creator"]
    with database.session() as db:
        showcase.add(db, creator, product_id=picks["tea"])
        showcase.add(db, creator, product_id=picks["cup"])
        showcase.add(db, creator, product_id=picks["tea"])  # again: nothing new
    assert _items(database) == 2
    with database.session() as db:
        found = showcase.showcase(db, picks["creator_id"])
    assert [c.title for c in found.items] == ["明前龙井", "青瓷杯"]
    assert found.creator_name == "茶小白" and all(len(c.code) == 8 for c in found.items)
    with database.session() as db:  # off the shelf: not shown
        db.get(Product, picks["cup"]).status = ProductStatus.OFF_SHELF
        db.commit()
    with database.session() as db:
        assert [c.title for c in showcase.showcase(db, picks["creator_id"]).items] == ["明前龙井"]
    with database.session() as db:
        assert showcase.remove(db, creator, product_id=picks["tea"])
        assert not showcase.remove(db, creator, product_id=picks["tea"])
    assert _items(database) == 1


def test_only_creators_and_products_on_sale(
    database: Any, picks: dict[str, Any], make_user: Any
) -> None:
    plain = actor_for(make_user())
    with database.session() as db, pytest.raises(PermissionDenied):
        showcase.add(db, plain, product_id=picks["tea"])
    creator = picks["creator"]
    for product_id in (2**31, 0, 10**12):
        with database.session() as db, pytest.raises(NotFound):
            showcase.add(db, creator, product_id=product_id)
    with database.session() as db:
        db.get(Product, picks["cup"]).status = ProductStatus.DRAFT
        db.commit()
    with database.session() as db, pytest.raises(NotFound):
        showcase.add(db, creator, product_id=picks["cup"])
    with database.session() as db, pytest.raises(NotFound):
        showcase.showcase(db, make_user().id)  # not a creator: no showcase
    assert _items(database) == 0


def test_the_public_page_sends_buyers_through_the_creators_tracked_link(
    database: Any, picks: dict[str, Any], make_user: Any, login_client: Any, client: Any
) -> None:
    creator = picks["creator"]
    with database.session() as db:
        plans.create_plan(
            db,
            picks["owner"],
            picks["shop_id"],
            product_id=picks["tea"],
            terms=plans.PlanTerms("open", 10, clock.now() - timedelta(days=1)),
        )
    with database.session() as db:
        showcase.add(db, creator, product_id=picks["tea"])
    page = client.get(f"/showcase/{picks['creator_id']}")
    assert page.status_code == 200 and "茶小白" in page.text and "明前龙井" in page.text
    with database.session() as db:
        code = showcase.showcase(db, picks["creator_id"]).items[0].code
    assert f'href="/s/{code}"' in page.text
    landed = client.get(f"/s/{code}", headers={"User-Agent": "Mozilla/5.0"}, follow_redirects=False)
    assert (
        landed.status_code in (302, 303, 307) and f"/p/{picks['tea']}" in landed.headers["location"]
    )
    assert client.get("/showcase/999999").status_code == 404

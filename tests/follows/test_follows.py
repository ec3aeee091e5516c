"""Followers (私域): a buyer follows a shop or a creator in one tap (from the shop page, the
product page, the live room) and unfollows in one tap, at once; shops see their followers
and how the number changed day by day (the injectable clock); the buyer's "following" page
gathers the followed shops' rooms, coupons and videos; followers-only coupons; bad input
changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import actor_for, make_product, make_shop
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns import claims, templates
from xiaodian.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from xiaodian.follows import service
from xiaodian.follows.models import Follow


@pytest.fixture
def shop(database: Any, make_user: Any) -> Any:
    owner = make_user(display_name="店主")
    with database.session() as db:
        made = make_shop(db, owner, name="山野茶铺")
        product = make_product(db, made, title="龙井", skus=[("罐装", 26800, 5)])
        return {"id": made.id, "owner": owner, "product_id": product.id}


def _rows(database: Any) -> int:
    with database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(Follow)) or 0


def test_follow_and_unfollow_at_once_and_the_number_by_day(
    database: Any, shop: dict[str, Any], make_user: Any, clock: Any
) -> None:
    fans = [make_user() for _ in range(3)]
    with database.session() as db:
        assert service.follow(db, actor_for(fans[0]), kind="shop", target_id=shop["id"])
        assert not service.follow(db, actor_for(fans[0]), kind="shop", target_id=shop["id"])
    clock.advance(timedelta(days=2))
    with database.session() as db:
        for fan in fans[1:]:
            service.follow(db, actor_for(fan), kind="shop", target_id=shop["id"])
    clock.advance(timedelta(days=2))
    with database.session() as db:
        assert service.unfollow(db, actor_for(fans[1]), kind="shop", target_id=shop["id"])
        assert not service.unfollow(db, actor_for(fans[1]), kind="shop", target_id=shop["id"])
        assert service.following(db, fans[1].id, "shop", [shop["id"]]) == set()
        assert service.following(db, fans[2].id, "shop", [shop["id"]]) == {shop["id"]}
    with database.session() as db:
        found = service.shop_followers(
            db, actor_for(shop["owner"], {shop["id"]: "owner"}), shop["id"]
        )
    assert found.count == 2
    assert [n for _day, n in found.days[-5:]] == [1, 1, 3, 3, 2]
    assert found.change == 2
    with database.session() as db:  # following again after unfollowing: a new row
        assert service.follow(db, actor_for(fans[1]), kind="shop", target_id=shop["id"])
        assert service.follower_count(db, kind="shop", target_id=shop["id"]) == 3


def test_nothing_to_follow_is_refused_and_nothing_written(
    database: Any, shop: dict[str, Any], make_user: Any
) -> None:
    fan, plain = make_user(), make_user()
    creator = make_user(creator=True)
    bad = [
        ("shop", 2**31, NotFound),
        ("shop", 0, NotFound),
        ("creator", plain.id, NotFound),  # not a creator
        ("creator", 2**63, NotFound),
        ("group", shop["id"], InvalidInput),
    ]
    for kind, target, error in bad:
        with database.session() as db, pytest.raises(error):
            service.follow(db, actor_for(fan), kind=kind, target_id=target)
    with database.session() as db, pytest.raises(InvalidInput):
        service.follow(db, actor_for(creator), kind="creator", target_id=creator.id)
    with database.session() as db, pytest.raises(NotAuthenticated):
        service.follow(db, Actor(), kind="shop", target_id=shop["id"])  # signed out
    assert _rows(database) == 0
    with database.session() as db:
        assert service.follow(db, actor_for(fan), kind="creator", target_id=creator.id)


def test_the_pages_follow_in_one_tap_and_the_following_page(
    database: Any, shop: dict[str, Any], make_user: Any, login_client: Any
) -> None:
    fan = make_user()
    browser = login_client(fan)
    page = browser.get(f"/shops/{shop['id']}")
    assert 'data-following="0"' in page.text and "0 位粉丝" in page.text
    csrf = browser.cookies.get("xd_csrf", "")
    form = {
        "csrf_token": csrf,
        "kind": "shop",
        "target_id": str(shop["id"]),
        "next": f"/p/{shop['product_id']}",
    }
    done = browser.post("/follows", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/p/{shop['product_id']}"
    assert 'data-following="1"' in browser.get(f"/p/{shop['product_id']}").text
    assert "1 位粉丝" in browser.get(f"/shops/{shop['id']}").text
    # elsewhere than this site: back home instead
    evil = {**form, "next": "//evil.example.com/"}
    assert browser.post("/follows", data=evil, follow_redirects=False).headers["location"] == "/"
    now = clock.now()
    with database.session() as db:
        templates.create_shop_template(
            db,
            actor_for(shop["owner"], {shop["id"]: "owner"}),
            shop["id"],
            templates.TemplateInput(
                name="粉丝专享券",
                kind="no_threshold",
                level="shop",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
                quantity=10,
                off_fen=500,
                audience="followers",
            ),
        )
    following = browser.get("/me/following")
    assert following.status_code == 200
    assert "山野茶铺" in following.text and "粉丝专享券" in following.text
    gone = browser.post(
        "/follows/remove", data={**form, "next": "/me/following"}, follow_redirects=False
    )
    assert gone.status_code == 303
    assert "粉丝专享券" not in browser.get("/me/following").text
    owner = login_client(shop["owner"])
    overview = owner.get(f"/merchant/shops/{shop['id']}")
    assert 'data-figure="followers"' in overview.text


def test_a_followers_coupon_is_claimed_by_followers_only(
    database: Any, shop: dict[str, Any], make_user: Any
) -> None:
    merchant = actor_for(shop["owner"], {shop["id"]: "owner"})
    now = clock.now()
    with database.session() as db:
        template = templates.create_shop_template(
            db,
            merchant,
            shop["id"],
            templates.TemplateInput(
                name="粉丝专享券",
                kind="no_threshold",
                level="shop",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
                quantity=10,
                off_fen=500,
                audience="followers",
            ),
        )
    fan = make_user()
    with database.session() as db, pytest.raises(Conflict) as refused:
        claims.claim(db, actor_for(fan), template.id)
    assert refused.value.code == "not_a_follower"
    with database.session() as db:
        service.follow(db, actor_for(fan), kind="shop", target_id=shop["id"])
    with database.session() as db:
        claims.claim(db, actor_for(fan), template.id)
    op = make_user(operator=True)
    with database.session() as db, pytest.raises(InvalidInput):
        templates.create_platform_template(
            db,
            Actor(user_id=op.id, is_operator=True),
            templates.TemplateInput(
                name="平台粉丝券",
                kind="no_threshold",
                level="platform",
                starts_at=now,
                ends_at=now + timedelta(days=1),
                quantity=5,
                off_fen=100,
                audience="followers",
            ),
        )


def test_the_api(database: Any, shop: dict[str, Any], make_user: Any, api_client: Any) -> None:
    fan = make_user()
    api = api_client(fan)
    r = api.post("/api/v1/follows", json={"kind": "shop", "target_id": shop["id"]})
    assert r.status_code == 201 and r.json()["following"] is True
    assert api.get("/api/v1/me/following").json() == {"shops": [shop["id"]], "creators": []}
    assert api.post("/api/v1/follows", json={"kind": "shop", "target_id": "x"}).status_code == 422
    assert api.post("/api/v1/follows", json={"kind": "shop", "target_id": 2**40}).status_code == 404
    assert api.get(f"/api/v1/merchant/shops/{shop['id']}/followers").status_code == 404
    owner = api_client(shop["owner"])
    body = owner.get(f"/api/v1/merchant/shops/{shop['id']}/followers").json()
    assert body["count"] == 1 and len(body["days"]) == 14
    assert api.delete(f"/api/v1/follows/shop/{shop['id']}").json()["following"] is False
    assert api.get("/api/v1/me/following").json()["shops"] == []

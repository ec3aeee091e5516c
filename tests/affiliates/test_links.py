"""Tracked links: the redirect with the attribution in the URL and the cookie, one click
per visitor per 30 minutes, bots ignored, unknown codes refused with nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import make_shop
from xiaodian.web.deps import TOUCH_COOKIE


def test_a_signed_out_visitor_lands_on_the_product_with_link_and_cookie(
    scene: Any, make_user: Any
) -> None:
    code = scene.link(make_user())
    browser = scene.browser()
    r = browser.get(f"/s/{code}", follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == f"/p/{scene.product.id}?aff={code}"
    assert TOUCH_COOKIE in r.cookies
    assert "httponly" in r.headers["set-cookie"].lower()
    assert browser.get(r.headers["location"]).status_code == 200
    assert scene.counts()["clicks"] == 1 and scene.counts()["locks"] == 1


def test_one_click_per_visitor_per_30_minutes(scene: Any, make_user: Any, clock: Any) -> None:
    code = scene.link(make_user())
    browser = scene.browser()
    for _ in range(3):
        browser.get(f"/s/{code}", follow_redirects=False)
    assert scene.counts()["clicks"] == 1
    clock.advance(timedelta(minutes=31))
    browser.get(f"/s/{code}", follow_redirects=False)
    assert scene.counts()["clicks"] == 2
    scene.browser().get(f"/s/{code}", follow_redirects=False)  # another visitor
    assert scene.counts()["clicks"] == 3


def test_bots_are_redirected_but_not_counted(scene: Any, make_user: Any) -> None:
    code = scene.link(make_user())
    for agent in ("Googlebot/2.1", "curl/8.0", "", "Mozilla/5.0 (compatible; bingbot/2.0)"):
        r = TestClient(scene.app, headers={"User-Agent": agent}).get(
            f"/s/{code}", follow_redirects=False
        )
        assert r.status_code == 302
    assert scene.counts()["clicks"] == 0 and scene.counts()["locks"] == 0


def test_an_unknown_or_malformed_code_is_404_and_writes_nothing(scene: Any) -> None:
    browser = scene.browser()
    for code in ("nosuch12", "x" * 200, "a-b", "%00"):
        r = browser.get(f"/s/{code}", follow_redirects=False)
        assert r.status_code == 404, (code, r.status_code)
        assert TOUCH_COOKIE not in r.cookies
    assert scene.counts()["clicks"] == 0


def test_a_forged_cookie_is_replaced_by_a_genuine_one(scene: Any, make_user: Any) -> None:
    code = scene.link(make_user())
    browser = scene.browser()
    browser.cookies.set(TOUCH_COOKIE, "someone.forged")
    r = browser.get(f"/s/{code}", follow_redirects=False)
    assert r.cookies.get(TOUCH_COOKIE) not in (None, "someone.forged")


def test_a_shop_link_lands_on_the_shop_and_links_are_made_once(
    scene: Any, make_user: Any, db: Any
) -> None:
    promoter = make_user()
    code = scene.link(promoter, kind="shop", shop_id=scene.shop.id)
    assert scene.link(promoter, kind="shop", shop_id=scene.shop.id) == code
    r = scene.browser().get(f"/s/{code}", follow_redirects=False)
    assert r.headers["location"] == f"/shops/{scene.shop.id}?aff={code}"
    listed = scene.api(promoter).get("/api/v1/affiliates/links").json()
    assert [link["code"] for link in listed] == [code]


def test_bad_link_requests_are_refused(scene: Any, make_user: Any) -> None:
    api = scene.api(make_user())
    assert api.post("/api/v1/affiliates/links", json={"product_id": 999_999}).status_code == 404
    assert api.post("/api/v1/affiliates/links", json={}).status_code == 422
    body = {"kind": "shop", "product_id": scene.product.id}
    assert api.post("/api/v1/affiliates/links", json=body).status_code == 422
    assert api.post("/api/v1/affiliates/links", json={"kind": "vip"}).status_code == 422
    assert TestClient(scene.app).post("/api/v1/affiliates/links", json={}).status_code == 401


def test_a_closed_shop_gets_no_shop_link(scene: Any, make_user: Any, db: Any) -> None:
    closed = make_shop(db, make_user())
    closed.is_active = False
    db.commit()
    api = scene.api(make_user())
    r = api.post("/api/v1/affiliates/links", json={"kind": "shop", "shop_id": closed.id})
    assert r.status_code == 404

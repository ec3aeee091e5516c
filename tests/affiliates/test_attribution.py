"""Attribution with the clock: each window's inside and outside, an order's extension,
several promoters, self purchase and a link opened signed out (from Moments)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def _follow(browser: Any, code: str) -> None:
    assert browser.get(f"/s/{code}", follow_redirects=False).status_code == 302


def test_a_link_opened_signed_out_credits_the_order_with_the_rate_of_that_moment(
    scene: Any, make_user: Any
) -> None:
    promoter, buyer = make_user(), make_user()
    plan_id = scene.plan(rate_pct=15).json()["id"]
    code = scene.link(promoter)
    browser = scene.browser()  # opened from Moments: nobody signed in
    _follow(browser, code)
    order_id = scene.buy(browser, buyer)  # signs in (a bearer token) on the same browser
    [touch] = scene.touches(order_id)
    assert (touch.promoter_id, touch.plan_id, touch.rate_pct) == (promoter.id, plan_id, 15)
    assert touch.reason == "credited" and touch.amount_fen == 10000
    assert touch.rule["product_days"] == 5 and touch.rule["version"] == 0
    assert touch.rule["precedence"] and touch.chain[0]["verdict"] == "chosen"
    # a later change of rate applies only to later orders
    scene.merchant.put(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans/{plan_id}", json={"rate_pct": 30}
    )
    assert scene.touches(order_id)[0].rate_pct == 15
    assert scene.touches(scene.buy(browser, buyer))[0].rate_pct == 30


def test_the_product_window_is_5_days_and_an_order_extends_it_to_20(
    scene: Any, make_user: Any, clock: Any
) -> None:
    promoter, buyer = make_user(), make_user()
    scene.plan()
    code = scene.link(promoter)
    browser = scene.browser()
    _follow(browser, code)
    clock.advance(timedelta(days=5, seconds=-1))
    first = scene.buy(browser, buyer)  # inside: credited, extends to 20 days from now
    assert scene.touches(first)[0].reason == "credited"
    clock.advance(timedelta(days=19))
    assert scene.touches(scene.buy(browser, buyer))[0].reason == "credited"
    clock.advance(timedelta(days=21))
    late = scene.touches(scene.buy(browser, buyer))[0]
    assert (late.reason, late.promoter_id) == ("lock_expired", None)
    assert late.chain[0]["verdict"] == "expired"


def test_outside_the_product_window_nothing_is_credited(
    scene: Any, make_user: Any, clock: Any
) -> None:
    scene.plan()
    browser = scene.browser()
    _follow(browser, scene.link(make_user()))
    clock.advance(timedelta(days=5, seconds=1))
    touch = scene.touches(scene.buy(browser, make_user()))[0]
    assert touch.reason == "lock_expired" and touch.promoter_id is None


def test_the_content_window_is_10_days_extended_to_35(
    scene: Any, make_user: Any, clock: Any
) -> None:
    scene.plan()
    browser = scene.browser()
    _follow(browser, scene.link(make_user(), kind="content", product_id=scene.product.id))
    buyer = make_user()
    clock.advance(timedelta(days=9))
    assert scene.touches(scene.buy(browser, buyer))[0].reason == "credited"
    clock.advance(timedelta(days=34))
    assert scene.touches(scene.buy(browser, buyer))[0].reason == "credited"
    clock.advance(timedelta(days=36))
    assert scene.touches(scene.buy(browser, buyer))[0].reason == "lock_expired"


def test_a_shops_own_windows_apply(scene: Any, make_user: Any, clock: Any) -> None:
    scene.plan()
    scene.merchant.put(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-rule",
        json={
            "product_days": 1,
            "product_order_days": 2,
            "content_days": 1,
            "content_order_days": 2,
        },
    )
    browser = scene.browser()
    _follow(browser, scene.link(make_user()))
    clock.advance(timedelta(days=2))
    touch = scene.touches(scene.buy(browser, make_user()))[0]
    assert touch.reason == "lock_expired" and touch.rule["version"] == 1


def test_the_first_promoter_keeps_the_buyer_while_the_lock_is_in_force(
    scene: Any, make_user: Any, clock: Any
) -> None:
    first, second, buyer = make_user(), make_user(), make_user()
    scene.plan()
    browser = scene.browser()
    _follow(browser, scene.link(first))
    clock.advance(timedelta(hours=1))
    _follow(browser, scene.link(second))
    assert scene.touches(scene.buy(browser, buyer))[0].promoter_id == first.id
    # once the lock (5 days, 20 after the order) ran out, the next click takes it
    clock.advance(timedelta(days=21))
    _follow(browser, scene.link(second))
    assert scene.touches(scene.buy(browser, buyer))[0].promoter_id == second.id


def test_a_product_link_comes_before_a_shop_link(scene: Any, make_user: Any) -> None:
    by_shop, by_product, buyer = make_user(), make_user(), make_user()
    scene.plan()
    scene.plan(scene.other.id)
    browser = scene.browser()
    _follow(browser, scene.link(by_shop, kind="shop", shop_id=scene.shop.id))
    _follow(browser, scene.link(by_product))
    [touch] = scene.touches(scene.buy(browser, buyer))
    assert touch.promoter_id == by_product.id
    assert sorted(c["verdict"] for c in touch.chain) == ["chosen", "later"]
    # the shop link still carries the shop's other product
    assert scene.touches(scene.buy(browser, buyer, scene.other))[0].promoter_id == by_shop.id


def test_a_promoter_buying_through_their_own_link_earns_nothing(scene: Any, make_user: Any) -> None:
    promoter = make_user()
    scene.plan()
    browser = scene.browser()
    _follow(browser, scene.link(promoter))
    touch = scene.touches(scene.buy(browser, promoter))[0]
    assert (touch.reason, touch.promoter_id) == ("self_purchase", None)
    scene.merchant.put(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-rule",
        json={
            "product_days": 5,
            "product_order_days": 20,
            "content_days": 10,
            "content_order_days": 35,
            "allow_self_purchase": True,
        },
    )
    assert scene.touches(scene.buy(browser, promoter))[0].promoter_id == promoter.id


def test_a_signed_in_click_follows_the_buyer_to_another_device(scene: Any, make_user: Any) -> None:
    promoter, buyer = make_user(), make_user()
    scene.plan()
    phone = scene.api(buyer)
    phone.headers["User-Agent"] = "Mozilla/5.0"
    _follow(phone, scene.link(promoter))
    laptop = scene.browser()  # no cookie: the buyer's own lock still counts
    assert scene.touches(scene.buy(laptop, buyer))[0].promoter_id == promoter.id


def test_exclusive_and_targeted_plans_decide_who_earns_and_how_much(
    scene: Any, make_user: Any
) -> None:
    invited, outsider, chosen, buyer = make_user(), make_user(), make_user(), make_user()
    scene.plan(rate_pct=10)
    targeted = scene.plan(kind="targeted", rate_pct=20).json()["id"]
    scene.merchant.post(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans/{targeted}/invites",
        json={"promoter_id": invited.id, "rate_pct": 25},
    )
    scene.plan(scene.other.id, kind="exclusive", rate_pct=40, promoter_id=chosen.id)
    one, two, three = scene.browser(), scene.browser(), scene.browser()
    _follow(one, scene.link(invited))
    _follow(two, scene.link(outsider))
    _follow(three, scene.link(outsider, product_id=scene.other.id))
    assert scene.touches(scene.buy(one, buyer))[0].rate_pct == 25
    assert scene.touches(scene.buy(two, buyer))[0].rate_pct == 10
    other = scene.touches(scene.buy(three, buyer, scene.other))[0]
    assert (other.reason, other.promoter_id) == ("exclusive_other", None)


def test_no_plan_no_touch_and_a_forged_cookie_credit_nobody(scene: Any, make_user: Any) -> None:
    browser = scene.browser()
    _follow(browser, scene.link(make_user()))
    assert scene.touches(scene.buy(browser, make_user()))[0].reason == "no_plan"
    scene.plan()
    assert scene.touches(scene.buy(scene.browser(), make_user()))[0].reason == "no_touch"
    forged = scene.browser()
    forged.cookies.set("xd_touch", "abc.def")
    assert scene.touches(scene.buy(forged, make_user()))[0].reason == "no_touch"

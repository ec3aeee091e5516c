"""Plans over the JSON API: the three kinds and their rules, and bad input refused with a
clear 4xx and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_product, make_shop


def test_an_open_plan_then_a_targeted_one_with_an_invited_promoter(
    scene: Any, make_user: Any
) -> None:
    promoter = make_user()
    r = scene.plan(rate_pct=12)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "open" and r.json()["rate_pct"] == 12
    r = scene.plan(kind="targeted", rate_pct=20)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = scene.merchant.post(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans/{plan_id}/invites",
        json={"promoter_id": promoter.id, "rate_pct": 25},
    )
    assert r.status_code == 201, r.text
    listed = scene.merchant.get(f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans").json()
    targeted = next(p for p in listed if p["kind"] == "targeted")
    assert targeted["invites"] == [{"promoter_id": promoter.id, "rate_pct": 25}]


@pytest.mark.parametrize("rate", [91, -1, 100])
def test_a_rate_outside_0_to_90_is_refused(scene: Any, rate: int) -> None:
    r = scene.plan(rate_pct=rate)
    assert r.status_code == 422, r.text
    assert scene.counts()["plans"] == 0


def test_a_targeted_plan_without_the_open_plan_is_refused(scene: Any) -> None:
    r = scene.plan(kind="targeted")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "targeted_needs_open"
    assert scene.counts()["plans"] == 0


def test_an_exclusive_plan_excludes_the_others(scene: Any, make_user: Any) -> None:
    promoter = make_user()
    assert scene.plan(kind="exclusive", promoter_id=promoter.id).status_code == 201
    r = scene.plan(kind="open")
    assert r.status_code == 409 and r.json()["error"]["code"] == "exclusive_alone"
    r = scene.plan(scene.other.id)
    assert r.status_code == 201  # another product is free
    r = scene.plan(scene.other.id, kind="exclusive", promoter_id=promoter.id)
    assert r.status_code == 409
    assert scene.counts()["plans"] == 2


def test_an_exclusive_plan_names_one_existing_promoter(scene: Any) -> None:
    assert scene.plan(kind="exclusive").status_code == 422
    assert scene.plan(kind="exclusive", promoter_id=999_999).status_code == 404
    assert scene.plan(kind="open", promoter_id=scene.owner.id).status_code == 422
    assert scene.counts()["plans"] == 0


def test_the_same_kind_twice_is_a_conflict(scene: Any) -> None:
    assert scene.plan().status_code == 201
    assert scene.plan().status_code == 409
    assert scene.counts()["plans"] == 1


def test_another_shops_product_and_plan_are_not_found(
    scene: Any, db: Any, make_user: Any, api_client: Any
) -> None:
    stranger = make_user()
    their_shop = make_shop(db, stranger)
    their_product = make_product(db, their_shop)
    r = scene.plan(their_product.id)
    assert r.status_code == 404, r.text
    plan_id = scene.plan().json()["id"]
    theirs = api_client(stranger)
    r = theirs.put(
        f"/api/v1/merchant/shops/{their_shop.id}/affiliate-plans/{plan_id}",
        json={"rate_pct": 50},
    )
    assert r.status_code == 404
    r = theirs.put(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans/{plan_id}",
        json={"rate_pct": 50},
    )
    assert r.status_code == 404
    r = theirs.get(f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans")
    assert r.status_code == 404
    listed = scene.merchant.get(f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans").json()
    assert [p["rate_pct"] for p in listed] == [10]


def test_bad_dates_and_kinds_are_refused(scene: Any) -> None:
    r = scene.plan(starts_at="2030-01-02T00:00:00Z", ends_at="2030-01-01T00:00:00Z")
    assert r.status_code == 422
    assert scene.plan(starts_at="2030-01-01T00:00:00").status_code == 422  # no time zone
    assert scene.plan(kind="vip").status_code == 422
    assert scene.plan(rate_pct="10").status_code == 422
    assert scene.counts()["plans"] == 0


def test_ending_the_open_plan_ends_the_targeted_one(scene: Any) -> None:
    open_id = scene.plan().json()["id"]
    scene.plan(kind="targeted")
    r = scene.merchant.put(
        f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans/{open_id}",
        json={"rate_pct": 10, "is_active": False},
    )
    assert r.status_code == 200, r.text
    listed = scene.merchant.get(f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-plans").json()
    assert {p["kind"]: p["is_active"] for p in listed} == {"open": False, "targeted": False}


def test_the_rule_is_the_owners_and_counts_its_versions(scene: Any) -> None:
    url = f"/api/v1/merchant/shops/{scene.shop.id}/affiliate-rule"
    r = scene.merchant.get(url)
    assert r.json()["product_days"] == 5 and r.json()["content_order_days"] == 35
    assert r.json()["version"] == 0
    body = {
        "product_days": 3,
        "product_order_days": 15,
        "content_days": 7,
        "content_order_days": 30,
    }
    r = scene.merchant.put(url, json=body)
    assert r.status_code == 200 and r.json()["version"] == 1
    r = scene.merchant.put(url, json={**body, "product_order_days": 2})
    assert r.status_code == 422
    assert scene.merchant.get(url).json()["version"] == 1

"""Writing templates over the API: a shop's staff for their shop, operators for the
platform; bad input refused with nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import make_product, make_shop
from xiaodian import clock
from xiaodian.campaigns.models import CouponTemplate


def _body(**fields: Any) -> dict[str, Any]:
    now = clock.now()
    body: dict[str, Any] = {
        "name": "满100减20",
        "kind": "threshold",
        "level": "shop",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=7)).isoformat(),
        "quantity": 100,
        "off_fen": 2000,
        "min_spend_fen": 10000,
    }
    body.update(fields)
    return body


def _templates(scene: Scene) -> int:
    with scene.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(CouponTemplate)) or 0


def test_the_owner_writes_and_lists_the_shops_coupons(scene: Scene, api_client: Any) -> None:
    owner = api_client(scene.owner)
    url = f"/api/v1/merchant/shops/{scene.shop_id}/coupons"
    made = owner.post(url, json=_body())
    assert made.status_code == 201, made.text
    product = owner.post(
        url,
        json=_body(
            name="8折券",
            kind="percent",
            level="product",
            rate_percent=80,
            cap_fen=3000,
            off_fen=0,
            scope="products",
            scope_ids=[scene.product_id],
            valid_days=7,
        ),
    )
    assert product.status_code == 201, product.text
    assert [t["name"] for t in owner.get(url).json()] == ["8折券", "满100减20"]
    assert owner.post(f"/api/v1/coupons/{made.json()['id']}/stop").json()["status"] == "stopped"


@pytest.mark.parametrize(
    "fields",
    [
        {"off_fen": 9000},  # above 80% of the threshold
        {"off_fen": 20001, "min_spend_fen": 100000},  # above ¥200
        {"kind": "percent", "rate_percent": 10, "cap_fen": 1000},  # below 2折
        {"level": "platform"},  # not a shop's to make
        {"level": "product"},  # a product coupon lists its products
        {"scope": "products", "scope_ids": [2147483000]},  # no such product
        {"scope": "categories", "scope_ids": [2147483000]},
        {"ends_at": "2020-01-01T00:00:00+00:00"},  # ends before it starts
        {"starts_at": "2026-01-01T00:00:00"},  # no time zone
        {"quantity": 0},
        {"quantity": True},
        {"off_fen": "100"},
        {"budget_fen": 100},  # does not cover one coupon
        {"per_buyer_limit": 0},
        {"valid_days": 0},
    ],
)
def test_bad_templates_are_refused_and_nothing_is_written(
    scene: Scene, api_client: Any, fields: dict[str, Any]
) -> None:
    owner = api_client(scene.owner)
    answer = owner.post(f"/api/v1/merchant/shops/{scene.shop_id}/coupons", json=_body(**fields))
    assert answer.status_code == 422, answer.text
    assert _templates(scene) == 0


def test_another_shops_products_and_coupons_are_out_of_reach(
    scene: Scene, api_client: Any, make_user: Any
) -> None:
    stranger = make_user()
    with scene.database.session() as db:
        other = make_shop(db, stranger)
        other_product = make_product(db, other).id
    owner = api_client(scene.owner)
    listed = _body(level="product", scope="products", scope_ids=[other_product])
    answer = owner.post(f"/api/v1/merchant/shops/{scene.shop_id}/coupons", json=listed)
    assert answer.status_code == 422
    assert owner.post(f"/api/v1/merchant/shops/{other.id}/coupons", json=_body()).status_code == 404
    theirs = api_client(stranger).post(f"/api/v1/merchant/shops/{other.id}/coupons", json=_body())
    assert theirs.status_code == 201
    assert owner.post(f"/api/v1/coupons/{theirs.json()['id']}/stop").status_code == 404
    assert owner.get(f"/api/v1/merchant/shops/{other.id}/coupons").status_code == 404
    assert _templates(scene) == 1


def test_platform_coupons_are_the_operators(scene: Scene, api_client: Any, make_user: Any) -> None:
    body = _body(level="platform", name="平台满200减30", off_fen=3000, min_spend_fen=20000)
    assert api_client(scene.owner).post("/api/v1/ops/coupons", json=body).status_code == 403
    operator = api_client(make_user(operator=True))
    made = operator.post("/api/v1/ops/coupons", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["shop_id"] is None
    assert [t["id"] for t in operator.get("/api/v1/ops/coupons").json()] == [made.json()["id"]]
    assert [t["id"] for t in operator.get("/api/v1/platform/coupons").json()] == [made.json()["id"]]
    assert operator.post("/api/v1/ops/coupons", json=_body()).status_code == 422  # shop level

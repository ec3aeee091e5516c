"""Samples (寄样) over the JSON API and the merchant console's page: a creator requests, the
shop approves or declines; bad input is a clear 4xx and writes nothing; the shop's samples
page costs the same number of statements however many requests it lists."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import make_address, make_shop
from xiaodian.affiliates.models import SampleRequest


@pytest.fixture
def ready(scene: Any, make_user: Any) -> dict[str, Any]:
    assert scene.plan().status_code == 201
    creator = make_user(creator=True, display_name="茶小白")
    address_id = make_address(scene.db, creator.id)
    return {"creator": creator, "api": scene.api(creator), "address_id": address_id}


def _count(scene: Any) -> int:
    scene.db.rollback()
    n = scene.db.scalar(select(func.count()).select_from(SampleRequest)) or 0
    scene.db.rollback()
    return int(n)


def _ask(ready: dict[str, Any], scene: Any, **body: Any) -> Any:
    payload = {"product_id": scene.product.id, "address_id": ready["address_id"], **body}
    return ready["api"].post("/api/v1/affiliates/samples", json=payload)


def test_request_approve_and_read_over_the_api(scene: Any, ready: dict[str, Any]) -> None:
    r = _ask(ready, scene, note="开箱视频")
    assert r.status_code == 201, r.text
    sample = r.json()
    assert sample["status"] == "requested" and sample["stage"] == "requested"
    assert sample["creator_name"] == "茶小白" and sample["note"] == "开箱视频"
    base = f"/api/v1/merchant/shops/{scene.shop.id}/samples"
    listed = scene.merchant.get(base).json()
    assert listed["counts"]["requested"] == 1 and listed["samples"][0]["id"] == sample["id"]
    r = scene.merchant.post(f"{base}/{sample['id']}/approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["order_id"]
    assert scene.merchant.post(f"{base}/{sample['id']}/approve").status_code == 409
    assert (
        scene.merchant.post(f"{base}/{sample['id']}/decline", json={"reason": "x"}).status_code
        == 409
    )
    mine = ready["api"].get("/api/v1/me/samples").json()
    assert [(s["id"], s["stage"]) for s in mine] == [(sample["id"], "approved")]


def test_decline_over_the_api(scene: Any, ready: dict[str, Any]) -> None:
    sample_id = _ask(ready, scene).json()["id"]
    base = f"/api/v1/merchant/shops/{scene.shop.id}/samples/{sample_id}/decline"
    for bad in ({}, {"reason": ""}, {"reason": 5}, {"reason": "长" * 201}, {"reason": "  "}):
        assert scene.merchant.post(base, json=bad).status_code == 422, bad
    r = scene.merchant.post(base, json={"reason": "暂不合作"})
    assert r.status_code == 200 and r.json()["reason"] == "暂不合作"
    assert ready["api"].get("/api/v1/me/samples").json()[0]["stage"] == "declined"


def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    scene: Any, ready: dict[str, Any], make_user: Any
) -> None:
    plain = scene.api(make_user())
    r = plain.post(
        "/api/v1/affiliates/samples",
        json={"product_id": scene.product.id, "address_id": ready["address_id"]},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_creator"
    other = make_user(creator=True)
    others_address = make_address(scene.db, other.id)
    for body, code in (
        ({"product_id": scene.other.id}, 409),  # outside every plan
        ({"address_id": others_address}, 404),
        ({"product_id": 2**31}, 404),
        ({"product_id": 2**63}, 404),
        ({"address_id": 2**63}, 404),
        ({"product_id": "1"}, 422),
        ({"product_id": True}, 422),
        ({"product_id": 1.0}, 422),
        ({"note": 5}, 422),
        ({"note": "长" * 201}, 422),
        ({"extra": 1}, 422),
    ):
        r = _ask(ready, scene, **body)
        assert r.status_code == code, (body, r.text)
    assert ready["api"].post("/api/v1/affiliates/samples", json=[]).status_code == 422
    assert _count(scene) == 0
    sample_id = _ask(ready, scene).json()["id"]
    r = _ask(ready, scene)
    assert r.status_code == 409 and r.json()["error"]["code"] == "sample_open"
    assert _count(scene) == 1

    stranger = make_user()
    other_shop = make_shop(scene.db, stranger)
    api = scene.api(stranger)
    for url in (
        f"/api/v1/merchant/shops/{other_shop.id}/samples/{sample_id}/approve",
        f"/api/v1/merchant/shops/{scene.shop.id}/samples/{sample_id}/approve",
        f"/api/v1/merchant/shops/{scene.shop.id}/samples/{2**31}/approve",
        f"/api/v1/merchant/shops/{scene.shop.id}/samples/{2**63}/approve",
    ):
        assert api.post(url).status_code in (403, 404), url
    for sid, code in ((2**31, 404), (2**63, 404), ("abc", 422)):
        url = f"/api/v1/merchant/shops/{scene.shop.id}/samples/{sid}/approve"
        assert scene.merchant.post(url).status_code == code
    assert api.get(f"/api/v1/merchant/shops/{scene.shop.id}/samples").status_code in (403, 404)
    r = scene.merchant.get(f"/api/v1/merchant/shops/{scene.shop.id}/samples").json()
    assert r["samples"][0]["status"] == "requested"


def test_the_samples_page_costs_the_same_whatever_the_requests(
    scene: Any, ready: dict[str, Any], make_user: Any, login_client: Any, count_queries: Any
) -> None:
    page = login_client(scene.owner)
    url = f"/merchant/shops/{scene.shop.id}/samples"

    def add(n: int) -> None:
        for _ in range(n):
            creator = make_user(creator=True)
            address_id = make_address(scene.db, creator.id)
            r = scene.api(creator).post(
                "/api/v1/affiliates/samples",
                json={"product_id": scene.product.id, "address_id": address_id},
            )
            assert r.status_code == 201, r.text

    add(1)
    page.get(url)
    with count_queries() as one:
        r = page.get(url)
    assert r.status_code == 200 and r.text.count("data-sample=") == 1
    approved = scene.merchant.get(f"/api/v1/merchant/shops/{scene.shop.id}/samples").json()
    scene.merchant.post(
        f"/api/v1/merchant/shops/{scene.shop.id}/samples/{approved['samples'][0]['id']}/approve"
    )
    add(6)
    with count_queries() as seven:
        r = page.get(url)
    assert r.status_code == 200 and r.text.count("data-sample=") == 7
    assert seven.count == one.count, seven.statements


def test_the_creator_requests_from_the_page_and_the_shop_declines(
    scene: Any, ready: dict[str, Any], login_client: Any
) -> None:
    page = login_client(ready["creator"])
    assert page.get("/me/samples").status_code == 200
    r = page.post(
        "/me/samples",
        data={
            "product_id": str(scene.product.id),
            "address_id": str(ready["address_id"]),
            "note": "想试用",
            "csrf_token": page.cookies.get("xd_csrf", ""),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert _count(scene) == 1
    r = page.post(  # outside every plan: the page again with the error, nothing written
        "/me/samples",
        data={
            "product_id": str(scene.other.id),
            "address_id": str(ready["address_id"]),
            "csrf_token": page.cookies.get("xd_csrf", ""),
        },
        follow_redirects=False,
    )
    assert r.status_code == 409 and 'role="alert"' in r.text
    assert _count(scene) == 1
    sample_id = ready["api"].get("/api/v1/me/samples").json()[0]["id"]
    shop_page = login_client(scene.owner)
    r = shop_page.post(
        f"/merchant/shops/{scene.shop.id}/samples/{sample_id}/decline",
        data={"reason": "暂不合作", "csrf_token": shop_page.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert 'data-stage="declined"' in page.get("/me/samples").text


def test_the_marketplace_link_names_only_a_product_on_sale(
    scene: Any, ready: dict[str, Any], login_client: Any
) -> None:
    """``/me/samples?product=N`` names the product a creator is about to ask a sample of;
    a draft (or any id that is not a product on sale, or not an id) names nothing and
    leaves the form empty, so the link tells nobody what a shop has not published."""
    from tests.factories import make_product
    from xiaodian.catalog.models import ProductStatus

    draft = make_product(scene.db, scene.shop, title="未发布的新茶", status=ProductStatus.DRAFT)
    scene.db.commit()
    page = login_client(ready["creator"])
    r = page.get("/me/samples", params={"product": scene.product.id})
    assert r.status_code == 200 and scene.product.title in r.text
    assert 'data-testid="sample-product"' in r.text
    for product in (str(draft.id), "-5", "abc", str(2**40)):
        r = page.get("/me/samples", params={"product": product})
        assert r.status_code == 200, product
        assert 'data-testid="sample-product"' not in r.text and "未发布的新茶" not in r.text
    assert (
        'name="product_id" inputmode="numeric" required value=""'
        in page.get("/me/samples", params={"product": "-5"}).text
    )

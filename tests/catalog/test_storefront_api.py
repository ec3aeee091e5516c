"""The public storefront API: /api/v1/products, /categories, /shops/{id}."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.test_storefront import Scene, build_scene


@pytest.fixture
def scene(db: Any, make_user: Any, clock: Any) -> Scene:
    return build_scene(db, make_user, clock)


def test_list_products_shape_and_visibility(client: Any, scene: Scene) -> None:
    r = client.get("/api/v1/products", params={"sort": "price_asc"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"items", "total", "page", "page_size"}
    assert (body["total"], body["page"], body["page_size"]) == (5, 1, 20)
    assert {i["id"] for i in body["items"]} == scene.visible_ids
    prices = [i["price_fen"] for i in body["items"]]
    assert prices == sorted(prices)
    tea = next(i for i in body["items"] if i["id"] == scene.tea.id)
    assert tea == {
        "id": scene.tea.id,
        "title": "西湖龙井 明前特级",
        "price_fen": 6800,
        "list_price_fen": 7800,
        "shop_id": scene.other_shop.id,
        "shop_name": "茶香小店",
        "category_id": scene.tea.category_id,
        "cover_url": "/static/placeholder.svg",
        "sales_count": 80,
    }


def test_search_filters_and_paging(client: Any, scene: Scene) -> None:
    def ids(**params: Any) -> list[int]:
        r = client.get("/api/v1/products", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids(q="连衣裙") == [scene.floral.id, scene.retro.id]
    assert ids(q="裙子") == [scene.pleated.id]
    assert set(ids(q="裙")) == {scene.floral.id, scene.retro.id, scene.pleated.id}
    assert ids(q="dress") == [scene.linen.id]
    assert set(ids(category="womens-apparel")) == scene.visible_ids - {scene.tea.id}
    assert set(ids(category=str(scene.floral.category_id))) == {
        scene.floral.id,
        scene.retro.id,
        scene.linen.id,
    }
    assert ids(shop=scene.other_shop.id) == [scene.tea.id]
    assert ids(shop=scene.closed_shop.id) == []
    assert ids(q="连衣裙", shop=scene.other_shop.id) == []
    page2 = client.get("/api/v1/products", params={"page": 2, "page_size": 2, "sort": "sales"})
    assert page2.json()["total"] == 5 and len(page2.json()["items"]) == 2
    assert [i["sales_count"] for i in page2.json()["items"]] == [80, 50]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "abc"}, "page"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"sort": "cheapest"}, "sort"),
        ({"shop": "x"}, "shop"),
        ({"q": "裙" * 101}, "q"),
    ],
)
def test_bad_parameters_are_422_with_the_error_body(
    client: Any, scene: Scene, params: dict[str, Any], field: str
) -> None:
    r = client.get("/api/v1/products", params=params)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid" and field in error["message"]


def test_unknown_category_is_422(client: Any, scene: Scene) -> None:
    r = client.get(
        "/api/v1/products", params={"category": "nope"}, headers={"Accept-Language": "zh-CN"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "unknown_category", "message": "未知分类：nope"}


def test_product_detail(client: Any, scene: Scene) -> None:
    r = client.get(f"/api/v1/products/{scene.floral.id}")
    assert r.status_code == 200
    body = r.json()
    # the list price ¥139 of the cheapest SKU is not shown: that SKU never sold at it (a
    # struck-through price is one the SKU was offered at in the last 30 days)
    assert (body["price_fen"], body["max_price_fen"], body["list_price_fen"]) == (
        12900,
        13900,
        None,
    )
    assert body["shop"]["name"] == "花花小铺" and body["shop"]["product_count"] == 4
    assert body["specs"] == [{"name": "规格", "values": ["S", "M"]}]
    skus = {s["spec_values"]["规格"]: s for s in body["skus"]}
    assert skus["S"]["stock"] == 5 and skus["S"]["available"] is True
    assert skus["M"]["stock"] == 0 and skus["M"]["available"] is False
    assert set(skus["S"]) == {
        "id",
        "spec_values",
        "price_fen",
        "list_price_fen",
        "stock",
        "available",
    }


def test_inactive_skus_are_left_out(client: Any, db: Any, scene: Scene) -> None:
    dear = next(s for s in scene.tea.skus if s.price_fen == 15800)
    dear.is_active = False
    db.commit()
    body = client.get(f"/api/v1/products/{scene.tea.id}").json()
    assert [s["price_fen"] for s in body["skus"]] == [6800]
    assert body["max_price_fen"] == 6800


def test_hidden_and_unknown_products_are_404(client: Any, scene: Scene, api_client: Any) -> None:
    owner = api_client(scene.owner)
    for product in scene.hidden:
        for who in (client, owner):
            r = who.get(f"/api/v1/products/{product.id}")
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "product_not_found"
        search = client.get("/api/v1/products", params={"q": product.title}).json()
        assert search["total"] == 0
    assert client.get("/api/v1/products/999999").status_code == 404
    assert client.get("/api/v1/products/abc").status_code == 422


def test_categories_tree_in_the_request_language(client: Any) -> None:
    en = client.get("/api/v1/categories", headers={"Accept-Language": "en"}).json()
    zh = client.get("/api/v1/categories", headers={"Accept-Language": "zh-CN"}).json()
    apparel_en = next(c for c in en if c["slug"] == "womens-apparel")
    apparel_zh = next(c for c in zh if c["slug"] == "womens-apparel")
    assert apparel_en["name"] == "Women's Apparel" and apparel_zh["name"] == "女装"
    assert "dresses" in {c["slug"] for c in apparel_en["children"]}
    assert all(not child["children"] for top in en for child in top["children"])


def test_shop_card(client: Any, scene: Scene) -> None:
    r = client.get(f"/api/v1/shops/{scene.shop.id}")
    assert r.status_code == 200
    assert r.json() == {
        "id": scene.shop.id,
        "name": "花花小铺",
        "description": "",
        "logo_url": "/static/placeholder.svg",
        "product_count": 4,
    }
    closed = client.get(f"/api/v1/shops/{scene.closed_shop.id}")
    assert closed.status_code == 404 and closed.json()["error"]["code"] == "shop_not_found"
    assert client.get("/api/v1/shops/999999").status_code == 404


def test_openapi_documents_response_models(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    listing = spec["paths"]["/api/v1/products"]["get"]
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/ProductList")
    assert listing["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ApiError"
    )
    detail = spec["paths"]["/api/v1/products/{product_id}"]["get"]["responses"]
    assert detail["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiError")
    assert "StoreSkuOut" in spec["components"]["schemas"]
    assert "/api/v1/categories" in spec["paths"] and "/api/v1/shops/{shop_id}" in spec["paths"]

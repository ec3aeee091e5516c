"""The merchant product API and console pages: permissions, uploads, bulk, queries, forms."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.catalog.conftest import Scene, png_bytes, reads_catalog
from tests.factories import leaf_category, make_product
from xiaodian.catalog import service
from xiaodian.catalog.models import Product, ProductImage, ProductStatus

S = ProductStatus


def _endpoints(shop_id: int, pid: int, sku_id: int, image_id: int) -> list[tuple[str, str, Any]]:
    base = f"/api/v1/shops/{shop_id}/products"
    one = f"{base}/{pid}"
    return [
        ("GET", base, None),
        ("POST", base, {"title": "新品", "category_id": 2, "price_fen": 100}),
        ("GET", one, None),
        ("PATCH", one, {"return_days": 3}),
        ("POST", f"{one}/off-shelf", None),
        ("POST", f"{base}/bulk-status", {"product_ids": [pid], "action": "put_on_shelf"}),
        ("PUT", f"{one}/specs", {"specs": [{"name": "规格", "values": ["标准", "大"]}]}),
        ("PUT", f"{one}/skus", {"skus": [{"spec_key": "标准", "price_fen": 1200}]}),
        ("PUT", f"{one}/images/order", {"image_ids": [image_id]}),
        ("DELETE", f"{one}/images/{image_id}", None),
        ("GET", f"{one}/stock-adjustments", None),
        ("POST", f"{one}/stock-adjustments", {"sku_id": sku_id, "delta": 1, "reason": "到货"}),
        ("GET", f"{one}/events", None),
    ]


def _with_image(db: Any, product: Product) -> int:
    image = ProductImage(product_id=product.id, path="p/x.jpg", thumb_path="p/x_t.jpg")
    db.add(image)
    db.commit()
    return image.id


@pytest.mark.parametrize("role", ["buyer", "other_owner", "other_staff", "operator"])
def test_strangers_get_404_on_every_merchant_endpoint(
    db: Any, scene: Scene, api_client: Any, role: str
) -> None:
    product = make_product(db, scene.shop)
    image_id = _with_image(db, product)
    client = api_client(getattr(scene, role))
    for method, url, body in _endpoints(scene.shop.id, product.id, product.skus[0].id, image_id):
        r = client.request(method, url, json=body)
        assert r.status_code == 404, (method, url, r.status_code)
        assert r.json()["error"]["code"] in ("not_found", "product_not_found", "sku_not_found")
    files = {"files": ("a.png", png_bytes(), "image/png")}
    assert (
        client.post(
            f"/api/v1/shops/{scene.shop.id}/products/{product.id}/images", files=files
        ).status_code
        == 404
    )
    db.expire_all()
    assert db.get(Product, product.id).status == S.ON_SALE
    assert db.scalar(select(func.count()).select_from(Product)) == 1
    db.rollback()


def test_anonymous_gets_401(client: Any, db: Any, scene: Scene) -> None:
    r = client.get(f"/api/v1/shops/{scene.shop.id}/products")
    assert r.status_code == 401


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_owner_and_staff_use_every_endpoint(
    db: Any, scene: Scene, api_client: Any, role: str
) -> None:
    product = make_product(db, scene.shop, skus=[("标准", 1000, 5)])
    image_id = _with_image(db, product)
    client = api_client(getattr(scene, role))
    for method, url, body in _endpoints(scene.shop.id, product.id, product.skus[0].id, image_id):
        r = client.request(method, url, json=body)
        assert r.status_code in (200, 201), (method, url, r.text)


def test_api_create_flow(db: Any, scene: Scene, api_client: Any) -> None:
    c = api_client(scene.staff)
    base = f"/api/v1/shops/{scene.shop.id}/products"
    body = {
        "title": "婴儿纯棉连体衣",
        "category_id": leaf_category(db, "baby-clothing").id,
        "description": "A类纯棉",
        "price_fen": 6900,
        "list_price_fen": 9900,
        "stock": 20,
        "specs": [
            {"name": "颜色", "values": ["白", "粉"]},
            {"name": "尺码", "values": ["66", "73"]},
        ],
    }
    db.rollback()  # end the read: SQLite's write sessions hold the lock
    r = c.post(base, json=body)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["status"] == "draft" and len(p["skus"]) == 4 and p["min_price_fen"] == 6900
    one = f"{base}/{p['id']}"
    assert c.post(f"{one}/submit").json()["error"]["code"] == "image_required"
    r = c.post(f"{one}/images", files=[("files", ("a.png", png_bytes(), "image/png"))] * 2)
    assert r.status_code == 201 and len(r.json()["images"]) == 2
    assert r.json()["cover_path"] == r.json()["images"][0]["path"]
    r = c.post(f"{one}/submit")
    assert r.status_code == 200 and r.json()["status"] == "under_review"
    assert c.post(f"{one}/submit").status_code == 409
    assert c.get(f"{one}/events").json()[-1]["to_status"] == "under_review"
    # bad input: wrong types, unknown fields, unknown ids
    assert c.post(base, json={**body, "price_fen": "cheap"}).status_code == 422
    assert c.post(base, json={**body, "bogus": 1}).status_code == 422
    assert c.post(base, json={**body, "category_id": 99999}).status_code == 422
    assert c.patch(one, json={"title": None}).status_code == 422
    assert c.get(f"{base}/999999").status_code == 404
    assert c.delete(f"{one}/images/999999").status_code == 404
    r = c.post(f"{one}/stock-adjustments", json={"sku_id": 999999, "delta": 1, "reason": "x"})
    assert r.status_code == 404
    r = c.post(
        f"{one}/stock-adjustments",
        json={"sku_id": p["skus"][0]["id"], "delta": -21, "reason": "报损"},
    )
    assert r.status_code == 409


def test_uploads_refuse_non_images_and_oversize_writing_nothing(
    db: Any, scene: Scene, api_client: Any, settings: Any
) -> None:
    product = make_product(db, scene.shop, status=S.DRAFT)
    c = api_client(scene.owner)
    url = f"/api/v1/shops/{scene.shop.id}/products/{product.id}/images"
    r = c.post(
        url,
        files=[
            ("files", ("a.png", png_bytes(), "image/png")),
            ("files", ("x.png", b"%PDF-1.4 nope", "image/png")),
        ],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_an_image"
    big = b"\x89PNG" + b"0" * (settings.max_image_bytes + 10)
    r = c.post(url, files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413
    r = c.post(url, files=[("files", ("a.png", png_bytes(), "image/png"))] * 10)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_images"
    assert db.scalar(select(func.count()).select_from(ProductImage)) == 0
    assert not [p for p in settings.media_dir.rglob("*") if p.is_file()]


def test_bulk_shelf_reports_each_failure(db: Any, scene: Scene, api_client: Any) -> None:
    on_sale = make_product(db, scene.shop, status=S.ON_SALE)
    off = make_product(db, scene.shop, status=S.OFF_SHELF)
    draft = make_product(db, scene.shop, status=S.DRAFT)
    foreign = make_product(db, scene.other_shop, status=S.OFF_SHELF)
    c = api_client(scene.staff)
    r = c.post(
        f"/api/v1/shops/{scene.shop.id}/products/bulk-status",
        json={"product_ids": [on_sale.id, off.id, draft.id, foreign.id], "action": "put_on_shelf"},
    )
    assert r.status_code == 200
    out = r.json()
    assert out["changed"] == [off.id]
    assert {(f["product_id"], f["code"]) for f in out["failed"]} == {
        (on_sale.id, "illegal_transition"),
        (draft.id, "illegal_transition"),
        (foreign.id, "product_not_found"),
    }
    db.expire_all()
    assert db.get(Product, off.id).status == S.ON_SALE
    assert db.get(Product, foreign.id).status == S.OFF_SHELF  # another shop's: untouched
    on_sale_id, shop_id = on_sale.id, scene.shop.id
    db.rollback()
    r = c.post(
        f"/api/v1/shops/{shop_id}/products/bulk-status",
        json={"product_ids": [on_sale_id], "action": "explode"},
    )
    assert r.status_code == 422


def test_bulk_shelf_page(db: Any, scene: Scene, login_client: Any) -> None:
    on_sale = make_product(db, scene.shop, title="在售商品", status=S.ON_SALE)
    draft = make_product(db, scene.shop, title="草稿商品", status=S.DRAFT)
    c = login_client(scene.owner)
    r = c.post(
        f"/merchant/shops/{scene.shop.id}/products/bulk",
        data={
            "product_id": [str(on_sale.id), str(draft.id)],
            "action": "take_off_shelf",
            "csrf_token": c.cookies.get("xd_csrf"),
        },
    )
    assert r.status_code == 200
    assert "草稿商品" in r.text.split("bulk-failures")[1].split("</ul>")[0]


def test_console_list_has_constant_queries(
    db: Any, scene: Scene, login_client: Any, count_queries: Any
) -> None:
    c = login_client(scene.owner)
    url = f"/merchant/shops/{scene.shop.id}/products"
    make_product(db, scene.shop, skus=[("a", 100, 1), ("b", 200, 2)])
    with count_queries(only=reads_catalog) as few:
        assert c.get(url).status_code == 200
    for _ in range(8):
        product = make_product(db, scene.shop, skus=[("a", 100, 1), ("b", 200, 2)])
        _with_image(db, product)
    with count_queries(only=reads_catalog) as many:
        r = c.get(url)
        assert r.status_code == 200 and r.text.count('/edit"') >= 9
    assert many.count == few.count <= 8, many.statements
    with count_queries(only=reads_catalog) as api_queries:
        api = c.get(f"/api/v1/shops/{scene.shop.id}/products")
        assert api.json()["total"] == 9
    assert api_queries.count <= 8, api_queries.statements


def test_console_filters_and_search(db: Any, scene: Scene, api_client: Any) -> None:
    make_product(db, scene.shop, title="夏季碎花连衣裙", status=S.ON_SALE)
    make_product(db, scene.shop, title="法式收腰长裙", status=S.DRAFT)
    c = api_client(scene.staff)
    base = f"/api/v1/shops/{scene.shop.id}/products"
    assert [p["title"] for p in c.get(base, params={"q": "连衣裙"}).json()["items"]] == [
        "夏季碎花连衣裙"
    ]
    assert [p["title"] for p in c.get(base, params={"status": "draft"}).json()["items"]] == [
        "法式收腰长裙"
    ]
    assert c.get(base, params={"q": "100%_"}).json()["items"] == []
    assert c.get(base, params={"status": "bogus"}).status_code == 422


def test_html_form_flow_with_two_specs(db: Any, scene: Scene, login_client: Any) -> None:
    c = login_client(scene.staff)
    base = f"/merchant/shops/{scene.shop.id}/products"
    page = c.get(base + "/new")
    assert page.status_code == 200 and "<optgroup" in page.text
    csrf = c.cookies.get("xd_csrf")
    form = {
        "csrf_token": csrf,
        "title": "夏季碎花连衣裙 女 法式收腰显瘦长裙",
        "category_id": str(leaf_category(db, "dresses").id),
        "description": "雪纺面料，透气不闷",
        "price": "abc",
        "stock": "5",
        "return_days": "7",
        "spec_name_0": "颜色",
        "spec_values_0": "红, 蓝",
        "spec_name_1": "尺码",
        "spec_values_1": "S，M，L",
    }
    db.rollback()
    bad = c.post(base + "/new", data=form)
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert "夏季碎花连衣裙" in bad.text  # the form keeps what was typed
    r = c.post(base + "/new", data={**form, "price": "159.00"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    edit_url = r.headers["location"].split("?")[0]
    product = db.scalar(select(Product).order_by(Product.id.desc()))
    assert product.title.startswith("夏季碎花连衣裙")
    keys = [s.spec_key for s in product.skus]
    assert sorted(keys) == sorted(["红/S", "红/M", "红/L", "蓝/S", "蓝/M", "蓝/L"])
    product_id = product.id
    db.rollback()
    page = c.get(edit_url)
    assert page.status_code == 200 and page.text.count('name="sku_key_') == 6
    # the SKU table: prices in yuan, one SKU switched off
    data = {"csrf_token": csrf, "sku_count": "6"}
    for i, key in enumerate(keys):
        data |= {
            f"sku_key_{i}": key,
            f"price_{i}": "169.9" if key.endswith("L") else "159",
            f"list_price_{i}": "299",
            f"code_{i}": f"QZ-{i}",
            f"weight_{i}": "250",
            f"stock_{i}": "8",
        }
        if key != "蓝/S":
            data[f"active_{i}"] = "on"
    r = c.post(edit_url.replace("/edit", "/skus"), data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = c.post(
        edit_url.replace("/edit", "/images"),
        data={"csrf_token": csrf},
        files=[("files", ("a.png", png_bytes(), "image/png"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = c.post(
        edit_url.replace("/edit", "/images"),
        data={"csrf_token": csrf},
        files=[("files", ("a.txt", b"hello", "text/plain"))],
    )
    assert r.status_code == 422
    r = c.post(
        edit_url.replace("/edit", "/stock"),
        data={"csrf_token": csrf, "sku_id": "x", "delta": "3", "reason": "到货"},
    )
    assert r.status_code == 422
    r = c.post(
        edit_url.replace("/edit", "/status"),
        data={"csrf_token": csrf, "action": "submit"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.expire_all()
    product = db.get(Product, product_id)
    assert product.status == S.UNDER_REVIEW
    assert product.min_price_fen == 15900 and len(product.images) == 1
    by_key = {s.spec_key: s for s in product.skus}
    assert by_key["红/L"].price_fen == 16990 and by_key["红/L"].stock_on_hand == 8
    assert by_key["蓝/S"].is_active is False
    db.rollback()
    # strangers get 404 on the pages too
    stranger = login_client(scene.other_staff)
    assert stranger.get(edit_url).status_code == 404
    assert stranger.get(base).status_code == 404
    r = stranger.post(
        edit_url.replace("/edit", "/status"),
        data={"csrf_token": stranger.cookies.get("xd_csrf"), "action": "withdraw"},
    )
    assert r.status_code == 404
    assert service.get_product(db, product_id).status == S.UNDER_REVIEW

"""The storefront: search (Chinese and English), listings, visibility and the buyer's pages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.factories import make_product, make_shop
from xiaodian.catalog.models import Product, ProductImage, ProductStatus
from xiaodian.catalog.storefront import service
from xiaodian.errors import InvalidInput, NotFound


@dataclass
class Scene:
    owner: Any
    shop: Any
    other_shop: Any
    closed_shop: Any
    floral: Any  # 夏季碎花连衣裙: a dress, title hit for 连衣裙
    retro: Any  # 法式复古长裙: 连衣裙 only in its description, best seller
    pleated: Any  # 高腰百褶半身裙子: a skirt
    linen: Any  # Linen Summer Dress
    tea: Any  # 西湖龙井: two SKUs
    draft: Any  # 草稿连衣裙: not on sale
    off_shelf: Any
    in_closed_shop: Any

    @property
    def visible_ids(self) -> set[int]:
        return {p.id for p in (self.floral, self.retro, self.pleated, self.linen, self.tea)}

    @property
    def hidden(self) -> list[Any]:
        return [self.draft, self.off_shelf, self.in_closed_shop]


def _product(db: Any, shop: Any, clock: Any, *, sales: int = 0, desc: str = "", **kw: Any) -> Any:
    clock.advance(timedelta(minutes=1))
    product = make_product(db, shop, **kw)
    product.sales_count = sales
    if desc:
        product.description = desc
    db.commit()
    return product


@pytest.fixture
def scene(db: Any, make_user: Any, clock: Any) -> Scene:
    return build_scene(db, make_user, clock)


def build_scene(db: Any, make_user: Any, clock: Any) -> Scene:
    """Two open shops and a closed one; five products on sale and three hidden ones."""
    owner = make_user()
    shop = make_shop(db, owner, name="花花小铺")
    other_shop = make_shop(db, make_user(), name="茶香小店")
    closed_shop = make_shop(db, make_user(), name="已关闭的店")
    closed_shop.is_active = False
    db.commit()
    p = _product
    return Scene(
        owner=owner,
        shop=shop,
        other_shop=other_shop,
        closed_shop=closed_shop,
        floral=p(
            db,
            shop,
            clock,
            title="夏季碎花连衣裙",
            category_slug="dresses",
            sales=50,
            skus=[("S", 12900, 5), ("M", 13900, 0)],
        ),
        retro=p(
            db,
            shop,
            clock,
            title="法式复古长裙",
            category_slug="dresses",
            sales=300,
            desc="一条百搭的连衣裙\n\n适合通勤",
            skus=[("均码", 25900, 8)],
        ),
        pleated=p(
            db,
            shop,
            clock,
            title="高腰百褶半身裙子",
            category_slug="skirts",
            sales=120,
            skus=[("均码", 8900, 20)],
        ),
        linen=p(
            db,
            shop,
            clock,
            title="Linen Summer Dress",
            category_slug="dresses",
            sales=10,
            skus=[("M", 19900, 3)],
        ),
        tea=p(
            db,
            other_shop,
            clock,
            title="西湖龙井 明前特级",
            category_slug="tea",
            sales=80,
            skus=[("100g", 6800, 10), ("250g", 15800, 4)],
        ),
        draft=p(
            db,
            shop,
            clock,
            title="草稿连衣裙",
            category_slug="dresses",
            status=ProductStatus.DRAFT,
        ),
        off_shelf=p(
            db,
            shop,
            clock,
            title="下架连衣裙",
            category_slug="dresses",
            status=ProductStatus.OFF_SHELF,
        ),
        in_closed_shop=p(db, closed_shop, clock, title="关店连衣裙", category_slug="dresses"),
    )


def _ids(page: service.ProductPage) -> list[int]:
    return [item.id for item in page.items]


# --- search ------------------------------------------------------------------------------------


def test_chinese_search_finds_a_substring_of_the_title(db: Any, scene: Scene) -> None:
    found = service.list_products(db, q="连衣裙")
    assert set(_ids(found)) == {scene.floral.id, scene.retro.id}
    # The title hit ranks first although the description hit sells more.
    assert _ids(found)[0] == scene.floral.id
    assert found.total == 2


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("裙子", {"pleated"}),
        ("裙", {"floral", "retro", "pleated"}),
        ("龙井", {"tea"}),
        ("碎花 连衣裙", {"floral"}),  # several words: AND, short and long terms mixed
        ("碎花 龙井", set()),
    ],
)
def test_short_terms_fall_back_to_like(db: Any, scene: Scene, q: str, expected: set[str]) -> None:
    found = service.list_products(db, q=q)
    assert set(_ids(found)) == {getattr(scene, name).id for name in expected}


def test_english_search_is_case_insensitive(db: Any, scene: Scene) -> None:
    assert _ids(service.list_products(db, q="dress")) == [scene.linen.id]
    assert _ids(service.list_products(db, q="LINEN dress")) == [scene.linen.id]
    assert _ids(service.list_products(db, q="linen tea")) == []


@pytest.mark.parametrize(
    "q", ['"', '连衣裙"', "AND OR NOT", "(裙", "%", "_", "\\", "*", "NEAR(a b)"]
)
def test_search_syntax_is_matched_literally(db: Any, scene: Scene, q: str) -> None:
    found = service.list_products(db, q=q)
    assert found.total == len(found.items)
    assert not {p.id for p in scene.hidden} & set(_ids(found))
    if q in ("%", "_", "\\"):
        assert found.total == 0  # wildcards are escaped, not "match everything"


def test_search_description_hit_and_empty_query_lists_all(db: Any, scene: Scene) -> None:
    assert _ids(service.list_products(db, q="通勤")) == [scene.retro.id]
    everything = service.list_products(db, q="  ")
    assert set(_ids(everything)) == scene.visible_ids


def test_search_follows_title_edits(db: Any, scene: Scene) -> None:
    scene.linen.title = "亚麻连衣裙"
    db.commit()
    assert scene.linen.id in _ids(service.list_products(db, q="连衣裙"))
    assert _ids(service.list_products(db, q="Linen")) == []


def test_overlong_query_is_refused(db: Any, scene: Scene) -> None:
    with pytest.raises(InvalidInput):
        service.list_products(db, q="裙" * 101)


# --- visibility ----------------------------------------------------------------------------------


def test_only_products_on_sale_in_open_shops_are_listed(db: Any, scene: Scene) -> None:
    assert set(_ids(service.list_products(db))) == scene.visible_ids
    assert service.list_products(db).total == 5
    assert service.list_products(db, shop_id=scene.closed_shop.id).total == 0
    for product in scene.hidden:
        with pytest.raises(NotFound):
            service.get_product(db, product.id)
    with pytest.raises(NotFound):
        service.get_shop(db, scene.closed_shop.id)


def test_hidden_products_are_absent_from_pages(client: Any, scene: Scene) -> None:
    for path in (
        "/",
        "/search?q=连衣裙",
        "/c/dresses",
        "/c/womens-apparel",
        f"/shops/{scene.shop.id}",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        for product in scene.hidden:
            assert f'href="/p/{product.id}"' not in page.text, (path, product.title)
            assert product.title not in page.text
    for product in scene.hidden:
        assert client.get(f"/p/{product.id}").status_code == 404
    assert client.get(f"/shops/{scene.closed_shop.id}").status_code == 404


def test_the_shop_owner_gets_no_preview_of_a_draft(scene: Scene, login_client: Any) -> None:
    # The storefront is the buyers' view, whoever asks; drafts live in the merchant console.
    browser = login_client(scene.owner)
    assert browser.get(f"/p/{scene.draft.id}").status_code == 404
    assert browser.get(f"/p/{scene.floral.id}").status_code == 200


# --- sorting, paging, filters -------------------------------------------------------------------


def test_sort_orders(db: Any, scene: Scene) -> None:
    def prices(sort: str) -> list[int]:
        return [i.price_fen for i in service.list_products(db, sort=sort).items]

    assert prices("price_asc") == sorted(prices("price_asc"))
    assert prices("price_desc") == sorted(prices("price_asc"), reverse=True)
    sales = [i.sales_count for i in service.list_products(db, sort="sales").items]
    assert sales == [300, 120, 80, 50, 10]
    newest = _ids(service.list_products(db, sort="newest"))
    assert newest == [
        scene.tea.id,
        scene.linen.id,
        scene.pleated.id,
        scene.retro.id,
        scene.floral.id,
    ]
    # 综合 (default) without a query: best sellers first.
    assert _ids(service.list_products(db))[0] == scene.retro.id
    with pytest.raises(InvalidInput):
        service.list_products(db, sort="cheapest")


def test_paging_totals(db: Any, scene: Scene) -> None:
    pages = [service.list_products(db, sort="newest", page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [len(p.items) for p in pages] == [2, 2, 1, 0]
    assert [p.has_more for p in pages] == [True, True, False, False]
    seen = [i for p in pages for i in _ids(p)]
    assert len(seen) == len(set(seen)) == 5
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 101}):
        with pytest.raises(InvalidInput):
            service.list_products(db, **bad)


def test_category_filter_includes_children_of_a_top_category(db: Any, scene: Scene) -> None:
    top = set(_ids(service.list_products(db, category="womens-apparel")))
    assert top == {scene.floral.id, scene.retro.id, scene.pleated.id, scene.linen.id}
    leaf = set(_ids(service.list_products(db, category="dresses")))
    assert leaf == {scene.floral.id, scene.retro.id, scene.linen.id}
    by_id = service.list_products(db, category=str(scene.tea.category_id))
    assert _ids(by_id) == [scene.tea.id]
    assert _ids(service.list_products(db, q="裙", category="skirts")) == [scene.pleated.id]
    with pytest.raises(InvalidInput):
        service.list_products(db, category="no-such-category")


def test_shop_filter(db: Any, scene: Scene) -> None:
    assert _ids(service.list_products(db, shop_id=scene.other_shop.id)) == [scene.tea.id]
    assert service.list_products(db, shop_id=scene.shop.id).total == 4
    assert service.list_products(db, shop_id=999_999).total == 0
    card = service.get_shop(db, scene.shop.id)
    assert (card.name, card.product_count) == ("花花小铺", 4)


def test_listing_card_fields(db: Any, scene: Scene) -> None:
    db.add(
        ProductImage(product_id=scene.tea.id, path="p/a.jpg", thumb_path="p/a_t.jpg", position=0)
    )
    db.commit()
    tea = next(i for i in service.list_products(db).items if i.id == scene.tea.id)
    assert tea.price_fen == 6800  # the cheapest active SKU
    assert tea.list_price_fen == 7800  # that SKU's list price
    assert tea.shop_name == "茶香小店"
    assert tea.cover_path == "p/a_t.jpg"


# --- pages ---------------------------------------------------------------------------------------


def _sku_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="sku-data">(.*?)</script>', html, re.S)
    assert match, "the SKU data is embedded in the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_product_page_embeds_skus_with_price_and_stock(client: Any, scene: Scene) -> None:
    page = client.get(f"/p/{scene.floral.id}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    data = _sku_data(page.text)
    skus = {s["spec_values"]["规格"]: s for s in data["skus"]}
    assert skus["S"]["price_fen"] == 12900 and skus["S"]["stock"] == 5 and skus["S"]["available"]
    assert skus["M"]["stock"] == 0 and not skus["M"]["available"]
    assert data["specs"] == ["规格"]
    html = page.text
    assert "¥129.00" in html and "¥139.00" in html  # the price range
    assert 'action="/cart/items"' in html and 'name="sku_id"' in html
    assert 'name="quantity"' in html and 'name="csrf_token"' in html
    assert 'name="buy_now" value="1"' in html
    assert "加入购物车" in html and "立即购买" in html and "已售 50" in html
    assert f'href="/shops/{scene.shop.id}"' in html


def test_product_page_escapes_merchant_text(client: Any, db: Any, scene: Scene) -> None:
    scene.tea.title = "</script><script>alert(1)</script>龙井"
    scene.tea.description = "<b>好茶</b>\n第二段"
    db.commit()
    html = client.get(f"/p/{scene.tea.id}").text
    assert "<script>alert(1)" not in html
    assert "&lt;b&gt;好茶&lt;/b&gt;" in html and "<p>第二段</p>" in html
    assert len(_sku_data(html)["skus"]) == 2


def test_pages_speak_the_request_language(client: Any, scene: Scene) -> None:
    zh = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    en = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert "女装" in zh and "综合" in zh and "已售" in zh
    assert "Women&#39;s Apparel" in en and "Featured" in en and "50 sold" in en
    assert "女装" not in en and "Women&#39;s Apparel" not in zh
    product_en = client.get(f"/p/{scene.floral.id}", headers={"Accept-Language": "en"}).text
    assert "Add to cart" in product_en and "Buy now" in product_en
    assert "Dresses" in client.get("/c/dresses", headers={"Accept-Language": "en"}).text
    assert "连衣裙" in client.get("/c/dresses", headers={"Accept-Language": "zh-CN"}).text


def test_category_and_shop_pages(client: Any, scene: Scene) -> None:
    top = client.get("/c/womens-apparel")
    assert top.status_code == 200
    assert 'href="/c/dresses"' in top.text and 'href="/c/skirts"' in top.text
    assert (
        f'href="/p/{scene.pleated.id}"' in top.text and f'href="/p/{scene.tea.id}"' not in top.text
    )
    assert client.get("/c/no-such-thing").status_code == 404
    shop = client.get(f"/shops/{scene.other_shop.id}?sort=price_desc")
    assert shop.status_code == 200 and "茶香小店" in shop.text
    assert f'href="/p/{scene.tea.id}"' in shop.text
    assert client.get("/shops/999999").status_code == 404
    assert client.get("/shops/abc").status_code == 422


def test_search_page_and_no_results(client: Any, scene: Scene) -> None:
    hit = client.get("/search", params={"q": "连衣裙"}, headers={"Accept-Language": "zh-CN"})
    assert hit.status_code == 200
    assert hit.text.index(f'href="/p/{scene.floral.id}"') < hit.text.index(
        f'href="/p/{scene.retro.id}"'
    )
    miss = client.get("/search", params={"q": "潜水艇"}, headers={"Accept-Language": "zh-CN"})
    assert miss.status_code == 200 and "no-results" in miss.text
    assert 'href="/c/womens-apparel"' in miss.text  # suggestions
    miss_en = client.get("/search", params={"q": "submarine"}, headers={"Accept-Language": "en"})
    assert "No products match" in miss_en.text
    assert client.get("/search", params={"q": "x" * 101}).status_code == 422


def test_paging_link_and_unknown_sort_on_pages(client: Any, db: Any, make_user: Any) -> None:
    shop = make_shop(db, make_user())
    for n in range(25):
        make_product(db, shop, title=f"商品{n}")
    first = client.get("/?sort=newest")
    assert first.text.count('class="tile product-tile"') == 20
    assert "page=2" in first.text
    second = client.get("/?sort=newest&page=2")
    assert second.text.count('class="tile product-tile"') == 5
    assert 'class="btn load-more"' not in second.text
    assert client.get("/?sort=bogus").status_code == 200
    assert client.get("/?page=0").status_code == 422


# --- query counts --------------------------------------------------------------------------------


def _count_queries(count_queries: Any, fn: Any) -> int:
    with count_queries() as counter:
        fn()
    return counter.count


def _stock_shelf(db: Any, shop: Any, n: int) -> None:
    for i in range(n):
        product = make_product(db, shop, title=f"碎花连衣裙{i}", category_slug="dresses")
        db.add(ProductImage(product_id=product.id, path=f"{i}.jpg", thumb_path=f"{i}_t.jpg"))
    db.commit()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/c/womens-apparel",
        "/search?q=连衣裙",
        "/search?q=裙",
        "/api/v1/products?page_size=100",
        "/api/v1/products?q=连衣裙&category=dresses&page_size=100",
    ],
)
def test_listing_query_count_does_not_grow_with_products(
    client: Any, db: Any, count_queries: Any, make_user: Any, path: str
) -> None:
    shop = make_shop(db, make_user())
    _stock_shelf(db, shop, 10)
    few = _count_queries(count_queries, lambda: client.get(path).raise_for_status())
    _stock_shelf(db, shop, 30)
    assert db.query(Product).count() == 40
    many = _count_queries(count_queries, lambda: client.get(path).raise_for_status())
    assert few == many


def test_shop_page_query_count_is_constant(
    client: Any, db: Any, count_queries: Any, make_user: Any
) -> None:
    shop = make_shop(db, make_user())
    _stock_shelf(db, shop, 10)
    few = _count_queries(count_queries, lambda: client.get(f"/shops/{shop.id}").raise_for_status())
    _stock_shelf(db, shop, 30)
    many = _count_queries(count_queries, lambda: client.get(f"/shops/{shop.id}").raise_for_status())
    assert few == many

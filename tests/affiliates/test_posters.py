"""Posters: a signed-in promoter's PNG of a product (its picture, title, price, their name,
the QR code of their tracked link), drawn once per price and cached; a product not on sale
or an unknown one is refused; signed out, the visitor is asked to sign in."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.factories import actor_for, make_product, make_shop
from xiaodian import settings as settings_module
from xiaodian.affiliates import links, posters
from xiaodian.catalog.models import Product, ProductStatus, Sku


def test_a_poster_is_drawn_once_per_price(
    database: Any, make_user: Any, login_client: Any, client: Any
) -> None:
    owner, promoter = make_user(), make_user(display_name="茶小白")
    with database.session() as db:
        shop = make_shop(db, owner)
        tea = make_product(db, shop, title="明前西湖龙井 250g 特级", skus=[("罐装", 26800, 5)])
        tea_id, sku_id = tea.id, tea.skus[0].id
    browser = login_client(promoter)
    first = browser.get(f"/me/posters/{tea_id}.png")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(first.content))
    assert image.size == (posters.WIDTH, posters.HEIGHT)
    # the QR code's corner is black on white, where the code is drawn
    assert image.getpixel((posters.WIDTH - 250 + 30, posters.HEIGHT - 250 + 30)) == (0, 0, 0)
    with database.session() as db:
        (link,) = links.my_links(db, actor_for(promoter))
        assert link.product_id == tea_id
    cache = settings_module.current().data_dir / "posters" / f"{promoter.id}-{tea_id}-26800.png"
    assert cache.is_file()
    assert browser.get(f"/me/posters/{tea_id}.png").content == first.content
    with database.session() as db:
        db.get(Sku, sku_id).price_fen = 19900
        db.get(Product, tea_id).min_price_fen = 19900
        db.commit()
    assert browser.get(f"/me/posters/{tea_id}.png").content != first.content
    assert (cache.parent / f"{promoter.id}-{tea_id}-19900.png").is_file()
    assert browser.get("/me/posters/999999.png").status_code == 404
    with database.session() as db:
        db.get(Product, tea_id).status = ProductStatus.OFF_SHELF
        db.commit()
    assert browser.get(f"/me/posters/{tea_id}.png").status_code == 404
    signed_out = client.get(f"/me/posters/{tea_id}.png", follow_redirects=False)
    assert signed_out.status_code in (302, 303, 401)


def test_a_long_title_is_cut_with_an_ellipsis() -> None:
    image = Image.new("RGB", (10, 10))
    from PIL import ImageDraw

    lines = posters._wrap(ImageDraw.Draw(image), "长" * 200, 36, 690, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert posters._wrap(ImageDraw.Draw(image), "短标题", 36, 690, 2) == ["短标题"]

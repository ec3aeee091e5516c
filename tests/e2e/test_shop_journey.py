"""The shop's first journey in a real browser: a user applies for a shop, an operator approves
it, the merchant lists a product with two specs, the operator approves the product, and a buyer
finds it by a Chinese search and picks a SKU."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from xiaodian.accounts import service as accounts
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.merchants import uscc


def _image(path: Path, colour: tuple[int, int, int]) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (640, 640), colour).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def _license_no() -> str:
    first17 = "91330106MA2B3C4D5"
    return first17 + uscc.check_char(first17)


def test_apply_approve_list_review_search_and_pick_a_sku(
    live_server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    with live_server.database.session() as db:
        accounts.register(db, login="13600000001", password="merchant123", display_name="花花")
        accounts.create_operator(db, login="ops@example.com", password="operator123")
        accounts.register(db, login="13900000009", password="buyer1234", display_name="小买")

    # 1. The would-be merchant applies (desktop browser).
    merchant = new_page(phone=False)
    sign_in(merchant, "13600000001", "merchant123")
    merchant.goto("/merchant/apply")
    merchant.select_option("select[name=entity_type]", "individual_business")
    merchant.fill("input[name=legal_name]", "杭州花花服饰店")
    merchant.fill("input[name=license_no]", _license_no())
    merchant.fill("input[name=contact_name]", "王花花")
    merchant.fill("input[name=contact_phone]", "13600000001")
    merchant.fill("input[name=shop_name]", "花花的衣橱")
    merchant.select_option("select[name=main_category_id]", label="连衣裙")
    merchant.set_input_files("input[name=logo]", str(_image(tmp_path / "logo.png", (220, 80, 90))))
    merchant.set_input_files(
        "input[name=license_image]", str(_image(tmp_path / "licence.png", (240, 240, 240)))
    )
    merchant.click("form.apply-form button[type=submit]")
    merchant.wait_for_load_state()
    assert merchant.locator("text=花花的衣橱").count() > 0
    shot(merchant, "merchant-apply")

    # 2. The operator approves it from the queue.
    ops = new_page(phone=False)
    sign_in(ops, "ops@example.com", "operator123")
    ops.goto("/ops/applications")
    ops.click("text=花花的衣橱")
    shot(ops, "ops-application")
    ops.click("form[action$='/approve'] button[type=submit]")
    ops.wait_for_load_state()

    # 3. The merchant, now an owner, creates a product with 颜色 × 尺码.
    merchant.goto("/merchant")
    merchant.wait_for_url("**/merchant/shops/*")
    shop_url = merchant.url.split("?")[0].rstrip("/")
    merchant.goto(shop_url + "/products/new")
    merchant.fill("input[name=title]", "夏季碎花连衣裙 法式收腰长裙")
    merchant.select_option("select[name=category_id]", label="连衣裙")
    merchant.fill("textarea[name=description]", "轻盈雪纺面料，适合夏天。")
    merchant.fill("input[name=price]", "129.00")
    merchant.fill("input[name=stock]", "20")
    merchant.fill("input[name=spec_name_0]", "颜色")
    merchant.fill("input[name=spec_values_0]", "红色, 蓝色")
    merchant.fill("input[name=spec_name_1]", "尺码")
    merchant.fill("input[name=spec_values_1]", "S, M, L")
    merchant.click("form[action$='/products/new'] button[type=submit]")
    merchant.wait_for_url("**/edit**")
    edit_url = merchant.url.split("?")[0]
    assert merchant.locator("input[name^=sku_key_]").count() == 6
    # The blue M costs more and the red S is sold out.
    keys = [merchant.locator(f"input[name=sku_key_{i}]").get_attribute("value") for i in range(6)]
    blue_m = keys.index("蓝色/M")
    red_s = keys.index("红色/S")
    merchant.fill(f"input[name=price_{blue_m}]", "139.00")
    merchant.fill(f"input[name=stock_{red_s}]", "0")
    merchant.click("form[action$='/skus'] button[type=submit]")
    merchant.wait_for_load_state()
    merchant.goto(edit_url)
    merchant.set_input_files(
        "input[name=files]",
        [
            str(_image(tmp_path / "a.png", (200, 60, 80))),
            str(_image(tmp_path / "b.png", (60, 90, 200))),
        ],
    )
    merchant.click("form[action$='/images'] button[type=submit]")
    merchant.wait_for_load_state()
    shot(merchant, "merchant-product-edit")
    merchant.click("button[name=action][value=submit]")
    merchant.wait_for_load_state()

    with live_server.database.session() as db:
        product = db.scalar(select(Product).where(Product.title.like("夏季碎花连衣裙%")))
        assert product is not None
        assert product.status == ProductStatus.UNDER_REVIEW
        assert len(product.images) == 2
        product_id = product.id

    # 4. The operator approves the product.
    ops.goto("/ops/products/review")
    shot(ops, "ops-product-review")
    ops.goto(f"/ops/products/{product_id}")
    ops.click("form[action$='/approve'] button[type=submit]")
    ops.wait_for_load_state()

    # 5. A buyer on a phone searches in Chinese, finds it and picks a SKU.
    buyer = new_page()
    sign_in(buyer, "13900000009", "buyer1234")
    buyer.goto("/")
    shot(buyer, "storefront-home")
    buyer.fill("input[name=q]", "连衣裙")
    buyer.press("input[name=q]", "Enter")
    buyer.wait_for_url("**/search?**")
    shot(buyer, "storefront-search")
    buyer.click(f"a[href='/p/{product_id}']")
    buyer.wait_for_url(f"**/p/{product_id}")
    assert buyer.locator("#buy-now").is_disabled()
    buyer.click("button.spec-chip[data-value='蓝色']")
    buyer.click("button.spec-chip[data-value='M']")
    assert "139.00" in buyer.locator("#price").inner_text()
    assert "20" in buyer.locator("#stock").inner_text()
    assert buyer.locator("#sku-id").input_value() != ""
    assert buyer.locator("#buy-now").is_enabled()
    shot(buyer, "storefront-product")
    # The sold-out combination cannot be bought.
    buyer.click("button.spec-chip[data-value='红色']")
    assert buyer.locator("button.spec-chip[data-value='S']").is_disabled() or (
        buyer.locator("button.spec-chip[data-value='S']").get_attribute("aria-disabled") == "true"
    )

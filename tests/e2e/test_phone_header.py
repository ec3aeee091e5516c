"""The site header at phone sizes: one line on the ordinary pages, signed out and signed in as
a shop owner who is also an operator (the longest nav there is), nothing scrolls sideways,
and the links sit behind a menu button that opens and navigates. Wide screens keep the links
inline."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import User

SIZES = [{"width": 390, "height": 844}, {"width": 360, "height": 640}]

# Every visible child of the header, its top and bottom, the header's height, and the
# document's width (a page that scrolls sideways is wider than the viewport).
MEASURE = """() => {
  const bar = document.querySelector('header.topbar');
  const kids = [...bar.children].filter(el => el.getClientRects().length > 0)
    .map(el => { const r = el.getBoundingClientRect();
                 return {tag: el.tagName, cls: el.className, top: r.top, bottom: r.bottom}; });
  return {height: bar.getBoundingClientRect().height, kids,
          scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth};
}"""


def _owner_and_operator(live_server: LiveServer) -> int:
    with live_server.database.session() as db:
        owner = accounts.register(
            db, login="13600000061", password="merchant123", display_name="山野茶铺的掌柜阿青"
        )
        db.execute(update(User).where(User.id == owner.id).values(is_operator=True))
        db.commit()
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前西湖龙井 250g", skus=[("罐装", 26800, 8)])
        return tea.id


def _assert_one_line(page: Any, where: str) -> None:
    m = page.evaluate(MEASURE)
    assert m["scrollWidth"] <= m["width"], (where, m)
    assert m["height"] <= 64, (where, m)
    tops = [kid["top"] for kid in m["kids"]]
    bottoms = [kid["bottom"] for kid in m["kids"]]
    assert len(m["kids"]) >= 3, (where, m)  # brand, search, menu
    # one row: every child overlaps every other vertically
    assert max(tops) < min(bottoms), (where, m)


@pytest.mark.parametrize("size", SIZES, ids=["390", "360"])
def test_the_phone_header_stays_one_line_with_a_menu(
    live_server: LiveServer, browser: Any, size: dict[str, int]
) -> None:
    tag = str(size["width"])
    tea_id = _owner_and_operator(live_server)
    pages = ["/", f"/p/{tea_id}", "/cart", "/me", "/merchant"]

    for locale in ("zh-CN", "en-US"):
        context = browser.new_context(viewport=size, locale=locale, base_url=live_server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        lang = locale[:2]

        page.goto("/")
        _assert_one_line(page, f"signed out {lang} /")
        assert page.locator("header .menu-inline").is_hidden()
        assert page.locator("header .search input").is_visible()
        shot(page, f"header-{tag}-{lang}-signed-out")
        page.click("header summary.menu-button")
        assert page.locator(".menu-panel a[href^='/login']").is_visible()
        shot(page, f"header-{tag}-{lang}-signed-out-menu")

        sign_in(page, "13600000061", "merchant123")
        for path in pages:
            page.goto(path)
            where = f"signed in {lang} {path}"
            _assert_one_line(page, where)
            assert page.locator("header .menu-inline").is_hidden(), where
            assert page.locator("header summary.menu-button").is_visible(), where
            assert page.locator("header .search input").is_visible(), where
        page.goto(f"/p/{tea_id}")
        shot(page, f"header-{tag}-{lang}-signed-in-product")

        page.goto("/")
        shot(page, f"header-{tag}-{lang}-signed-in")
        panel = page.locator("header .menu-panel")
        assert panel.is_hidden()
        page.click("header summary.menu-button")
        for link in ("a[href='/merchant']", "a[href='/ops']", "a[href='/me']", "form button"):
            assert panel.locator(link).is_visible(), link
        assert panel.locator("form[action='/logout'] button").inner_text() == (
            "退出" if lang == "zh" else "Sign out"
        )
        box = panel.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        shot(page, f"header-{tag}-{lang}-signed-in-menu")
        panel.locator("a[href='/merchant']").click()
        page.wait_for_url("**/merchant**")
        assert "/merchant" in page.url
        _assert_one_line(page, f"after the menu {lang}")
        context.close()


def test_wide_screens_keep_the_links_inline(live_server: LiveServer, new_page: Any) -> None:
    _owner_and_operator(live_server)
    page = new_page(phone=False)
    sign_in(page, "13600000061", "merchant123")
    page.goto("/")
    _assert_one_line(page, "desktop")
    inline = page.locator("header .menu-inline")
    assert inline.is_visible()
    assert page.locator("header summary.menu-button").is_hidden()
    for link in ("a[href='/merchant']", "a[href='/ops']", "a[href='/me']"):
        assert inline.locator(link).is_visible(), link
    shot(page, "header-1280-signed-in")
    inline.locator("a[href='/merchant']").click()
    page.wait_for_url("**/merchant**")

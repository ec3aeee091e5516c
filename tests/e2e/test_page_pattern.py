"""The page pattern in a real browser: a signed-out visitor is sent to sign in and comes
back to the page (or to the page a form was sent from); a form's error shows the form again
with the message and what was typed, and stores nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.e2e.conftest import LiveServer, shot
from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts
from xiaodian.orders.models import Address


def _addresses(live_server: LiveServer) -> int:
    with live_server.database.session(write=False) as db:
        return int(db.scalar(select(func.count()).select_from(Address)) or 0)


def _sign_in_here(page: Any, login: str, password: str) -> None:
    """Fill in the sign-in page the visitor was sent to (keeping its ``next``)."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def test_sign_in_and_back_then_a_form_error_keeps_what_was_typed(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000031", password="merchant123")
        accounts.register(db, login="13900000031", password="buyer1234", display_name="小满")
        shop = make_shop(db, owner, name="小满杂货")
        product = make_product(db, shop, title="手工竹编收纳篮", skus=[("大号", 5900, 5)])
        product_id = product.id

    page = new_page()
    page.goto("/addresses/new?next=/cart")
    page.wait_for_url("**/login?next=*")
    _sign_in_here(page, "13900000031", "buyer1234")
    page.wait_for_url("**/addresses/new?next=/cart")

    page.fill("input[name=name]", "林小满")
    page.fill("input[name=phone]", "1380013800")  # ten digits
    page.fill("input[name=province]", "浙江省")
    page.fill("input[name=city]", "杭州市")
    page.fill("input[name=district]", "西湖区")
    page.fill("input[name=detail]", "文三路 90 号")
    page.click("form button.primary")
    page.wait_for_load_state()
    assert "请输入有效的中国大陆手机号（11 位）。" in page.locator("[role=alert]").inner_text()
    assert page.input_value("input[name=name]") == "林小满"
    assert page.input_value("input[name=detail]") == "文三路 90 号"
    assert page.input_value("input[name=phone]") == "1380013800"
    shot(page, "form-error-kept")
    assert _addresses(live_server) == 0

    page.fill("input[name=phone]", "13800138000")
    page.click("form button.primary")
    page.wait_for_url("**/cart")
    assert _addresses(live_server) == 1

    # A form sent while signed out: after signing in, back on the page it was sent from.
    other = new_page()
    other.goto(f"/p/{product_id}")
    other.click("#add-to-cart")
    other.wait_for_url("**/login?next=*")
    _sign_in_here(other, "13900000031", "buyer1234")
    other.wait_for_url(f"**/p/{product_id}")
    assert "手工竹编收纳篮" in other.content()

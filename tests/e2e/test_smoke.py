from __future__ import annotations

from typing import Any

from tests.e2e.conftest import sign_in


def test_a_person_can_register_sign_in_and_switch_language(new_page: Any) -> None:
    page = new_page()
    page.goto("/register")
    page.fill("input[name=login]", "13912345678")
    page.fill("input[name=password]", "password123")
    page.click("form button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    other = new_page(locale="en-US")
    sign_in(other, "13912345678", "password123")
    other.wait_for_url("**/")
    assert other.locator("html").get_attribute("lang") == "en"
    other.goto("/lang/zh_CN?next=/login")
    assert other.locator("html").get_attribute("lang") == "zh-CN"

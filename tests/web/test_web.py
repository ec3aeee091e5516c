"""Cross-cutting web behaviour: errors, language, body limits, settings."""

from __future__ import annotations

import pytest

from xiaodian.settings import SettingsError, load_settings
from xiaodian.web.i18n import negotiate


def test_unknown_api_route_is_json_404(client):
    r = client.get("/api/v1/does-not-exist")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_unknown_page_is_html_404(client):
    r = client.get("/does-not-exist", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]


def test_a_body_that_cannot_be_read_is_invalid_input(client):
    """Not UTF-8, or a multipart form without its boundary: 422 like bad JSON, not 400."""
    r = client.post(
        "/api/v1/auth/register", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    # the framework reads a form before it asks who is sending it
    r = client.post(
        "/api/v1/videos", content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid", r.text


def test_oversized_body_is_413_before_it_is_read(client):
    r = client.post(
        "/api/v1/auth/register",
        content=b"x" * (4 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_language_negotiation():
    assert negotiate(None, "en-US,en;q=0.9,zh;q=0.8") == "en"
    assert negotiate(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert negotiate(None, "fr-FR,en;q=0.5") == "en"
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate(None, None) == "zh_CN"
    assert negotiate(None, "de;q=x") == "zh_CN"


def test_language_switch_sets_cookie(client):
    r = client.get("/lang/en?next=/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Sign in" in client.get("/login").text
    client.get("/lang/zh_CN")
    assert "登录" in client.get("/login").text


def test_malformed_setting_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("XIAODIAN_DATABASE_URL", "mysql://nope")
    with pytest.raises(SettingsError, match="XIAODIAN_DATABASE_URL"):
        load_settings(data_dir=tmp_path)
    monkeypatch.setenv("XIAODIAN_DATABASE_URL", "")
    monkeypatch.setenv("XIAODIAN_MAX_IMAGE_BYTES", "lots")
    with pytest.raises(SettingsError, match="XIAODIAN_MAX_IMAGE_BYTES"):
        load_settings(data_dir=tmp_path)


def test_pages_that_need_a_person_send_visitors_to_sign_in(client):
    response = client.get("/orders?tab=paid", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Forders%3Ftab%3Dpaid"
    # The API answers 401 with the error body instead.
    api = client.get("/api/v1/orders")
    assert api.status_code == 401
    assert api.json()["error"]["code"]


def test_the_shared_pager_keeps_the_list_s_parameters() -> None:
    """Every paged list (orders, after-sales, products, the operators' lists) uses this."""
    from html import unescape
    from types import SimpleNamespace

    from xiaodian.web.templating import templates

    page = templates.env.from_string(
        '{% from "_pager.html" import pager with context %}{{ pager(r, base) }}'
    )

    def links(current: int, pages: int) -> list[str]:
        html = page.render(_=str, r=SimpleNamespace(page=current, pages=pages), base="?s=a&")
        return [unescape(part.split('"', 1)[0]) for part in html.split('href="')[1:]]

    assert links(1, 1) == []  # one page: no pager at all
    assert links(1, 3) == ["?s=a&page=2"]
    assert links(2, 3) == ["?s=a&page=1", "?s=a&page=3"]
    assert links(3, 3) == ["?s=a&page=2"]
    assert "2 / 3" in page.render(_=str, r=SimpleNamespace(page=2, pages=3), base="?")

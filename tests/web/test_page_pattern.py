"""The one pattern of the HTML pages: ``PageUser`` sends a visitor to sign in and back
(``next``), ``web.forms`` shows a form again with the message and what was sent, and
changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from starlette.requests import Request

from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.web import forms
from xiaodian.web.deps import safe_next

ADDRESS = {
    "name": "林小满",
    "phone": "1380013800",  # ten digits: not a mobile number
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 90 号 3 单元 502",
}


def _next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query)["next"][0]


def _csrf(client: Any) -> str:
    token = client.cookies.get("xd_csrf")
    if not token:
        client.get("/login")
        token = client.cookies.get("xd_csrf")
    return str(token)


def _address_count(database: Any, user_id: int) -> int:
    with database.session() as session:
        query = text("SELECT count(*) FROM addresses WHERE user_id = :u")
        return int(session.execute(query, {"u": user_id}).scalar_one())


# --------------------------------------------------------------------------- sign in, then back


def test_a_visitor_signs_in_and_lands_back_on_the_page_asked_for(client, make_user):
    user = make_user()
    r = client.get("/addresses/new?next=/checkout", follow_redirects=False)
    assert r.status_code == 303
    target = _next_of(r.headers["location"])
    assert target == "/addresses/new?next=/checkout"

    form = client.get(r.headers["location"])  # the sign-in page carries it in its form
    assert form.status_code == 200
    assert 'name="next" value="/addresses/new?next=/checkout"' in form.text
    signed_in = client.post(
        "/login",
        data={
            "login": user.login_name,
            "password": "secret123",
            "next": target,
            "csrf_token": _csrf(client),
        },
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/addresses/new?next=/checkout"
    page = client.get(signed_in.headers["location"], follow_redirects=False)
    assert page.status_code == 200 and 'name="phone"' in page.text


def test_every_kind_of_page_sends_a_visitor_to_sign_in(client):
    paths = [
        "/cart",
        "/checkout",
        "/orders",
        "/addresses",
        "/pay?orders=1",
        "/merchant/shops/1/orders",
        "/merchant/shops/1/products",
        "/merchant/shops/1",
        "/merchant/shops/1/staff",
        "/studio/videos",
        "/studio/live",
        "/live/1/host",
        "/aftersales",
        "/ops",
        "/ops/arbitration",
    ]
    for path in paths:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert _next_of(r.headers["location"]) == path


def test_a_form_sent_signed_out_comes_back_to_the_page_it_was_sent_from(client):
    token = _csrf(client)
    sent_from = "http://testserver/merchant/shops/3/staff?tab=all"
    r = client.post(
        "/merchant/shops/3/staff",
        data={"login": "x", "csrf_token": token},
        headers={"referer": sent_from},
        follow_redirects=False,
    )
    assert (
        r.status_code == 303
        and _next_of(r.headers["location"]) == "/merchant/shops/3/staff?tab=all"
    )
    # Another site's page (or none) is never a place to come back to.
    for referer in ("https://evil.example/merchant", ""):
        r = client.post(
            "/cart/items",
            data={"sku_id": "1", "csrf_token": token},
            headers={"referer": referer},
            follow_redirects=False,
        )
        assert r.status_code == 303 and _next_of(r.headers["location"]) == "/", referer


def test_a_json_client_of_a_page_gets_401_not_a_redirect(client):
    r = client.get("/orders", headers={"accept": "application/json"}, follow_redirects=False)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "evil.example",
        "/orders\r\nSet-Cookie: x=1",
        "",
        None,
    ],
)
def test_next_is_only_ever_a_local_path(client, make_user, target):
    assert safe_next(target) == "/"
    user = make_user()
    r = client.post(
        "/login",
        data={
            "login": user.login_name,
            "password": "secret123",
            "next": target or "",
            "csrf_token": _csrf(client),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_next_keeps_a_local_path_with_its_query():
    assert safe_next("/orders?tab=paid") == "/orders?tab=paid"
    assert safe_next("/live/3") == "/live/3"


# --------------------------------------------------------------------------- a form's error


def test_a_form_error_shows_the_form_again_with_the_message_and_changes_nothing(
    login_client, make_user, database
):
    user = make_user()
    c = login_client(user)
    r = c.post(
        "/addresses",
        data={**ADDRESS, "next": "/checkout", "csrf_token": _csrf(c)},
        headers={"accept-language": "en"},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "Enter a valid mainland China mobile number (11 digits)." in r.text
    for value in ADDRESS.values():
        assert value in r.text  # what was typed is still in the form
    assert 'name="next" value="/checkout"' in r.text
    assert _address_count(database, user.id) == 0
    # In the visitor's language, as every page is.
    zh = c.post("/addresses", data={**ADDRESS, "csrf_token": _csrf(c)}, follow_redirects=False)
    assert zh.status_code == 422 and "请输入有效的中国大陆手机号（11 位）。" in zh.text
    assert _address_count(database, user.id) == 0

    fixed = c.post(
        "/addresses",
        data={**ADDRESS, "phone": "13800138000", "next": "/checkout", "csrf_token": _csrf(c)},
        follow_redirects=False,
    )
    assert fixed.status_code == 303 and fixed.headers["location"] == "/checkout"
    assert _address_count(database, user.id) == 1


def _request() -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": "/login",
        "query_string": b"",
        "headers": [],
    }
    request = Request(scope)
    request.state.gettext = lambda s: {"Wrong account or password.": "账号或密码错误"}.get(s, s)
    return request


def test_submit_rolls_back_what_the_call_wrote_before_it_failed(database, make_user):
    user = make_user(display_name="原名")

    def call() -> None:
        session.execute(
            text("UPDATE users SET display_name = 'changed' WHERE id = :id"), {"id": user.id}
        )
        raise InvalidInput(_("Wrong account or password."))

    with database.session(write=True) as session:
        response = forms.submit(
            _request(),
            session,
            call,
            done="/",
            template="accounts/login.html",
            context=lambda: {"next": "/orders"},
            values={"login": "typed-login"},
        )
        session.commit()  # nothing of the failed call is left to commit
    assert response.status_code == 422
    body = response.body.decode()
    assert "账号或密码错误" in body and 'value="typed-login"' in body
    with database.session() as check:
        name = check.execute(
            text("SELECT display_name FROM users WHERE id = :id"), {"id": user.id}
        ).scalar_one()
    assert name == "原名"


def test_submit_goes_on_after_success_and_leaves_page_errors_to_the_error_page(database):
    with database.session(write=True) as session:
        ok = forms.submit(
            _request(),
            session,
            lambda: 7,
            done=lambda n: f"/orders/{n}",
            template="accounts/login.html",
            context={},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/orders/7"

        def gone() -> None:
            raise NotFound(_("Order not found."))

        with pytest.raises(NotFound):
            forms.submit(
                _request(), session, gone, done="/", template="accounts/login.html", context={}
            )
        shown = forms.submit(
            _request(),
            session,
            gone,
            done="/",
            template="accounts/login.html",
            context={},
            page_errors=(),
        )
        assert shown.status_code == 404 and "Order not found." in shown.body.decode()

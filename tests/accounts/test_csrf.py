"""CSRF tokens are bound to the session they were minted for.

Someone who can plant a cookie in the victim's browser (a sibling subdomain, plain HTTP)
can pair a valid token of their own with the victim's session cookie: the token must be
refused, because it was not minted for that session. Signing in and out rotates it, so a
page's token from before the sign-in no longer works after it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from xiaodian.orders.models import Address

ADDRESS = {
    "name": "李四",
    "phone": "13812345678",
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "detail": "建国路 1 号",
}


def _addresses(db: Any) -> int:
    db.commit()
    count = db.scalar(select(func.count()).select_from(Address)) or 0
    db.commit()
    return int(count)


def _post(app: Any, path: str, *, session: str | None, csrf: str, **data: str) -> Any:
    """A form posted by a browser holding exactly these cookies."""
    cookies = f"xd_csrf={csrf}" + (f"; xd_session={session}" if session else "")
    with TestClient(app) as browser:
        return browser.post(
            path,
            data={**data, "csrf_token": csrf},
            headers={"cookie": cookies, "accept": "application/json"},
            follow_redirects=False,
        )


def _refused(r: Any) -> bool:
    return bool(r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed")


def test_a_token_minted_for_one_session_is_refused_with_another_sessions_cookie(
    app: Any, db: Any, login_client: Any, make_user: Any
) -> None:
    attacker = login_client(make_user(display_name="攻击者"))
    victim = login_client(make_user(display_name="受害者"))
    planted = attacker.cookies["xd_csrf"]
    session = victim.cookies["xd_session"]
    r = _post(app, "/addresses", session=session, csrf=planted, **ADDRESS)
    assert _refused(r) and _addresses(db) == 0
    # an anonymous visitor's token (the attacker's, from the login page) neither
    with TestClient(app) as stranger:
        stranger.get("/login")
        anonymous = stranger.cookies["xd_csrf"]
    r = _post(app, "/addresses", session=session, csrf=anonymous, **ADDRESS)
    assert _refused(r) and _addresses(db) == 0
    # the victim's own token works
    own = victim.cookies["xd_csrf"]
    assert _post(app, "/addresses", session=session, csrf=own, **ADDRESS).status_code == 303
    assert _addresses(db) == 1


def test_signing_in_and_out_rotates_the_token(
    app: Any, db: Any, client: TestClient, make_user: Any
) -> None:
    user = make_user("13812345678", "right-password")
    client.get("/login")
    before = client.cookies["xd_csrf"]
    r = client.post(
        "/login",
        data={"login": user.login_name, "password": "right-password", "csrf_token": before},
        follow_redirects=False,
    )
    assert r.status_code == 303
    after = client.cookies["xd_csrf"]
    assert after != before
    session = client.cookies["xd_session"]
    # the page's token from before the sign-in no longer works with the new session
    r = _post(app, "/addresses", session=session, csrf=before, **ADDRESS)
    assert _refused(r) and _addresses(db) == 0
    assert client.post("/addresses", data={**ADDRESS, "csrf_token": after}).status_code == 200
    assert _addresses(db) == 1
    # pages rendered for the session carry its token
    assert f'content="{after}"' in client.get("/addresses").text
    r = client.post("/logout", data={"csrf_token": after}, follow_redirects=False)
    assert r.status_code == 303
    signed_out = client.cookies["xd_csrf"]
    assert signed_out not in (before, after)
    # the signed-in token is not an anonymous visitor's: the login form refuses it
    r = _post(app, "/login", session=None, csrf=after, login=user.login_name, password="x")
    assert _refused(r)
    r = _post(app, "/login", session=None, csrf=signed_out, login=user.login_name, password="nope")
    assert r.status_code == 401  # the token is fine, the password is not


def test_a_token_from_a_browser_that_was_never_signed_in_still_signs_in(
    client: TestClient, make_user: Any
) -> None:
    """The login and register forms work for visitors with no session at all."""
    make_user("13812345678", "right-password")
    page = client.get("/register")
    token = client.cookies["xd_csrf"]
    assert f'value="{token}"' in page.text
    r = client.post(
        "/register",
        data={"login": "13900001111", "password": "a-good-password", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and client.cookies["xd_csrf"] != token
    assert client.get("/api/v1/me").status_code == 200

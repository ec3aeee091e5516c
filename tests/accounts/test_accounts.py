"""Registration, sign-in, lock-out, sessions and tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from xiaodian.accounts.models import AuthSession, User


def test_register_by_phone_and_email_then_read_me(client):
    r = client.post(
        "/api/v1/auth/register", json={"login": "+86 138-1234-5678", "password": "password1"}
    )
    assert r.status_code == 201
    token = r.json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["phone"] == "13812345678"
    assert me["display_name"] == "5678"  # no name given: the phone's last four digits
    r = client.post(
        "/api/v1/auth/register", json={"login": "Mei@Example.COM", "password": "password1"}
    )
    assert r.status_code == 201
    token = r.json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["display_name"] == "m***"  # not ".com", and not the address either


def test_duplicate_registration_is_409_and_creates_nothing(client, db):
    body = {"login": "13812345678", "password": "password1"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    r = client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate"
    assert len(db.scalars(select(User)).all()) == 1


def test_bad_registrations_are_clear_4xx(client, db):
    cases = [
        {"login": "12345", "password": "password1"},
        {"login": "13812345678", "password": "short"},
        {"login": "13812345678"},
        {"login": 13812345678, "password": ["x"]},
    ]
    for body in cases:
        r = client.post("/api/v1/auth/register", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["message"]
    r = client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert db.scalars(select(User)).all() == []


def test_error_messages_follow_accept_language(client):
    r = client.post(
        "/api/v1/auth/register",
        json={"login": "nope", "password": "password1"},
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert "手机号" in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/auth/register",
        json={"login": "nope", "password": "password1"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert "mobile number" in r.json()["error"]["message"]


def test_ten_failures_lock_the_account_for_fifteen_minutes(client, make_user, clock):
    user = make_user("13812345678", "right-password")
    wrong = {"login": "13812345678", "password": "wrong-password"}
    for _ in range(9):
        assert client.post("/api/v1/auth/token", json=wrong).status_code == 401
    assert client.post("/api/v1/auth/token", json=wrong).status_code == 401
    right = {"login": "13812345678", "password": "right-password"}
    r = client.post("/api/v1/auth/token", json=right)
    assert r.status_code == 423
    assert r.json()["error"]["code"] == "account_locked"
    clock.advance(minutes=14)
    assert client.post("/api/v1/auth/token", json=right).status_code == 423
    clock.advance(minutes=2)
    r = client.post("/api/v1/auth/token", json=right)
    assert r.status_code == 200
    assert r.json()["user_id"] == user.id


def test_a_success_resets_the_failure_count(client, make_user):
    make_user("13812345678", "right-password")
    wrong = {"login": "13812345678", "password": "wrong-password"}
    right = {"login": "13812345678", "password": "right-password"}
    for _ in range(9):
        client.post("/api/v1/auth/token", json=wrong)
    assert client.post("/api/v1/auth/token", json=right).status_code == 200
    for _ in range(9):
        client.post("/api/v1/auth/token", json=wrong)
    assert client.post("/api/v1/auth/token", json=right).status_code == 200


def test_unknown_account_and_wrong_password_look_the_same(client, make_user):
    make_user("13812345678", "right-password")
    a = client.post("/api/v1/auth/token", json={"login": "13899999999", "password": "x" * 9})
    b = client.post("/api/v1/auth/token", json={"login": "13812345678", "password": "x" * 9})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_logout_revokes_the_token_and_expired_tokens_fail(client, make_user, db, clock):
    make_user("13812345678", "right-password")
    token = client.post(
        "/api/v1/auth/token", json={"login": "13812345678", "password": "right-password"}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    token = client.post(
        "/api/v1/auth/token", json={"login": "13812345678", "password": "right-password"}
    ).json()["token"]
    clock.advance(timedelta(days=15))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert all(s.token_hash != token for s in db.scalars(select(AuthSession)))


def test_browser_sign_in_sets_httponly_cookie_and_needs_csrf(client, make_user):
    make_user("13812345678", "right-password")
    client.get("/login")
    form = {"login": "13812345678", "password": "right-password"}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    form["csrf_token"] = client.cookies["xd_csrf"]
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "xd_session=" in cookie and "HttpOnly" in cookie
    assert client.get("/api/v1/me").status_code == 200


def test_login_form_shows_error_and_open_redirects_are_refused(client, make_user):
    make_user("13812345678", "right-password")
    client.get("/login")
    csrf = client.cookies["xd_csrf"]
    r = client.post(
        "/login",
        data={"login": "13812345678", "password": "nope-nope", "csrf_token": csrf},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 401
    assert "账号或密码错误" in r.text
    r = client.post(
        "/login",
        data={
            "login": "13812345678",
            "password": "right-password",
            "csrf_token": csrf,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}

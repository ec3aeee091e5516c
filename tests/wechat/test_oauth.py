"""Sign in with WeChat through the sandbox: the whole flow, and what it refuses."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from tests.wechat.conftest import WECHAT_UA, code_of, query, state_of
from xiaodian.accounts import service as accounts_service
from xiaodian.accounts.models import User, WeChatIdentity
from xiaodian.wechat import service
from xiaodian.wechat.models import OAuthState, SandboxCode


def _count(db: Any, model: Any) -> int:
    db.rollback()  # a fresh snapshot: what the app has committed since
    return int(db.scalar(select(func.count()).select_from(model)))


def test_first_visit_makes_a_buyer_and_the_next_one_is_silent(phone: Any, db: Any) -> None:
    first = phone()
    done = first.sign_up(next_path="/orders", nickname="小满")
    assert done.status_code == 303 and done.headers["location"] == "/orders"
    assert first.client.cookies.get("xd_session")
    identity = db.scalar(select(WeChatIdentity))
    assert identity.app_id == service.SANDBOX_APP_ID and identity.unionid
    user = db.get(User, identity.user_id)
    assert user.display_name == "小满" and user.phone is None
    # the same phone again: snsapi_base is silent, the openid is known, signed in at once
    first.client.cookies.delete("xd_session")
    back = first.answer(first.start("/orders"))
    assert back.status_code == 303
    signed = first.callback(back.headers["location"])
    assert signed.status_code == 303 and signed.headers["location"] == "/orders"
    assert _count(db, User) == 1 and _count(db, WeChatIdentity) == 1


def test_a_page_that_needs_sign_in_goes_through_wechat_only_inside_wechat(
    client: Any, phone: Any
) -> None:
    inside = phone().client.get("/orders", follow_redirects=False)
    assert inside.headers["location"].startswith("/wechat/oauth/start?next=%2Forders")
    outside = client.get("/orders", follow_redirects=False)
    assert outside.headers["location"].startswith("/login?next=%2Forders")


def test_an_existing_account_is_linked_after_one_password_sign_in(
    phone: Any, make_user: Any, db: Any
) -> None:
    owner = make_user(login="13800001111")
    p = phone()
    back = p.answer(p.start("/"), action="new")
    again = p.callback(back.headers["location"])
    openid = p.client.cookies["xd_sandbox_wx"]
    back = p.answer(again.headers["location"], action="allow", openid=openid)
    p.callback(back.headers["location"])
    token = p.client.cookies.get("xd_csrf", "")
    wrong = p.client.post(
        "/wechat/welcome/link",
        data={"login": "13800001111", "password": "not-it-at-all", "csrf_token": token},
    )
    assert wrong.status_code == 401 and _count(db, WeChatIdentity) == 0
    right = p.client.post(
        "/wechat/welcome/link",
        data={"login": "13800001111", "password": "secret123", "csrf_token": token},
        follow_redirects=False,
    )
    assert right.status_code == 303, right.text
    db.rollback()
    identity = db.scalar(select(WeChatIdentity))
    assert identity.user_id == owner.id
    assert accounts_service.openid_for(db, user_id=owner.id, app_id=service.app_id()) == (
        identity.openid
    )
    assert _count(db, User) == 1


def _to_callback(p: Any) -> str:
    back = p.answer(p.start("/"), action="new")
    return str(back.headers["location"])


def _nothing_signed_in(p: Any, answer: Any, db: Any) -> None:
    assert "/login" in answer.text and 'action="/login"' in answer.text  # the ordinary form
    assert not p.client.cookies.get("xd_session")
    assert _count(db, WeChatIdentity) == 0


def test_a_forged_state_is_refused_and_nothing_is_spent(phone: Any, db: Any) -> None:
    p = phone()
    location = _to_callback(p)
    state = state_of(location)
    stamp, nonce, mac = state.split(".")
    forged = location.replace(state, f"{stamp}.{nonce}.{'0' * len(mac)}")
    answer = p.callback(forged)
    assert answer.status_code == 422
    _nothing_signed_in(p, answer, db)
    assert _count(db, OAuthState) == 0
    assert db.scalar(select(SandboxCode.used_at)) is None  # the code was not exchanged
    # a state signed by someone else for their own nonce does not fit this browser either
    other = location.replace(nonce, "f" * len(nonce))
    assert p.callback(other).status_code == 422


def test_a_state_made_for_another_browser_is_refused(phone: Any, db: Any) -> None:
    victim, attacker = phone(), phone()
    location = _to_callback(attacker)  # the attacker's own code and state...
    answer = victim.callback(location)  # ...planted in the victim's browser
    assert answer.status_code == 422
    _nothing_signed_in(victim, answer, db)


def test_a_replayed_state_is_refused(phone: Any, db: Any) -> None:
    p = phone()
    location = _to_callback(p)
    (bound,) = [c for c in p.client.cookies.jar if c.name == "xd_wx_oauth"]
    assert p.callback(location).status_code == 303  # spent: on to snsapi_userinfo
    p.client.cookies.jar.set_cookie(bound)  # the very same browser, its cookie kept
    again = p.callback(location)
    assert again.status_code == 422
    assert "已经用过" in again.text, re.findall("alert error[^<]*<", again.text)
    assert _count(db, OAuthState) == 1


def test_the_exchange_endpoint_answers_as_wechat(phone: Any, client: Any) -> None:
    p = phone()
    code = code_of(_to_callback(p))
    url = "/sandbox/wechat/sns/oauth2/access_token"
    params = {
        "appid": service.SANDBOX_APP_ID,
        "secret": service.SANDBOX_SECRET,
        "code": code,
        "grant_type": "authorization_code",
    }
    first = client.get(url, params=params).json()
    assert first["openid"].startswith("o") and first["scope"] == "snsapi_base"
    assert first["expires_in"] == 7200 and first["access_token"]
    assert client.get(url, params=params).json()["errcode"] == 40163  # code been used
    unknown = client.get(url, params={**params, "code": "0" * 32}).json()
    assert unknown["errcode"] == 40029
    bad_secret = client.get(url, params={**params, "secret": "x"}).json()
    assert bad_secret["errcode"] == 40125


def test_a_used_code_falls_back_to_the_ordinary_sign_in(phone: Any, client: Any, db: Any) -> None:
    p = phone()
    location = _to_callback(p)
    client.get(
        "/sandbox/wechat/sns/oauth2/access_token",
        params={
            "appid": service.SANDBOX_APP_ID,
            "secret": service.SANDBOX_SECRET,
            "code": code_of(location),
            "grant_type": "authorization_code",
        },
    )  # someone exchanged it first
    answer = p.callback(location)
    assert answer.status_code == 409 and "40163" in answer.text
    _nothing_signed_in(p, answer, db)
    assert _count(db, OAuthState) == 0  # the state is not spent: nothing was written


def test_refusing_the_authorization_falls_back(phone: Any, db: Any) -> None:
    p = phone()
    back = p.answer(p.start("/"), action="deny")
    assert "code=" not in back.headers["location"]
    answer = p.callback(back.headers["location"])
    assert answer.status_code == 422
    _nothing_signed_in(p, answer, db)


def test_the_sandbox_sends_codes_only_to_this_site(phone: Any) -> None:
    p = phone()
    url = p.start("/")
    params = query(url)
    evil = {**params, "redirect_uri": "https://evil.example/cb"}
    assert p.client.get(urlsplit(url).path, params=evil).status_code == 422


def test_the_welcome_page_without_a_pending_sign_in_falls_back(phone: Any) -> None:
    p = phone()
    assert 'action="/login"' in p.client.get("/wechat/welcome").text
    r = p.client.post("/wechat/welcome/new", data={"csrf_token": p.client.cookies["xd_csrf"]})
    assert r.status_code == 422


def test_wechat_user_agent_detection() -> None:
    assert service.is_wechat(WECHAT_UA)
    assert not service.is_wechat("Mozilla/5.0 (iPhone) Safari/604.1")
    assert not service.is_wechat(None)


def test_the_sandbox_official_account_is_the_sandbox_payment_appid() -> None:
    from xiaodian.payments.providers.sandbox import APPID

    assert service.SANDBOX_APP_ID == APPID

"""Fixtures for WeChat: a browser inside WeChat (its user agent) walking the sandbox's
authorization as a phone would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI "
    "Language/zh_CN"
)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def csrf(client: TestClient) -> str:
    return client.cookies.get("xd_csrf", "")


@dataclass
class Phone:
    """A TestClient with WeChat's user agent; ``authorize`` plays the WeChat user."""

    client: TestClient

    def start(self, next_path: str = "/") -> str:
        r = self.client.get(f"/wechat/oauth/start?next={next_path}", follow_redirects=False)
        assert r.status_code == 303, r.text
        return r.headers["location"]

    def answer(self, authorize_url: str, **form: str) -> Any:
        """POST the sandbox authorize page's form for ``authorize_url``'s parameters."""
        page = self.client.get(authorize_url, follow_redirects=False)
        if page.status_code == 303:  # silent snsapi_base: a remembered WeChat user
            return page
        assert page.status_code == 200, page.text
        params = query(authorize_url)
        data = {
            "appid": params["appid"],
            "redirect_uri": params["redirect_uri"],
            "scope": params["scope"],
            "state": params.get("state", ""),
            "csrf_token": csrf(self.client),
            **form,
        }
        return self.client.post(urlsplit(authorize_url).path, data=data, follow_redirects=False)

    def callback(self, location: str) -> Any:
        path = urlsplit(location)
        return self.client.get(f"{path.path}?{path.query}", follow_redirects=False)

    def sign_up(self, next_path: str = "/", nickname: str = "小满") -> Any:
        """The whole first visit: base (unknown openid), userinfo consent, new account."""
        back = self.answer(self.start(next_path), action="new", nickname=nickname)
        again = self.callback(back.headers["location"])  # unknown openid: ask for consent
        assert again.status_code == 303 and "snsapi_userinfo" in again.headers["location"]
        openid = self.client.cookies.get("xd_sandbox_wx")
        back = self.answer(again.headers["location"], action="allow", openid=openid or "")
        pending = self.callback(back.headers["location"])
        assert pending.headers["location"] == "/wechat/welcome", pending.text
        page = self.client.get("/wechat/welcome")
        assert page.status_code == 200 and nickname in page.text
        return self.client.post(
            "/wechat/welcome/new", data={"csrf_token": csrf(self.client)}, follow_redirects=False
        )


@pytest.fixture
def phone(app: Any) -> Any:
    clients: list[TestClient] = []

    def _phone() -> Phone:
        c = TestClient(app, headers={"User-Agent": WECHAT_UA})
        c.__enter__()
        clients.append(c)
        c.get("/login")  # a CSRF cookie, as any first page gives
        return Phone(c)

    yield _phone
    for c in clients:
        c.__exit__(None, None, None)


def state_of(url: str) -> str:
    return query(url)["state"]


def code_of(url: str) -> str:
    match = re.search(r"code=([0-9a-f]+)", url)
    assert match, url
    return match.group(1)


# the payments tests' orders, sandbox keys and notification delivery
from tests.payments.conftest import (  # noqa: E402, F401
    _sandbox_keys,
    sandbox_key_template,
    sandbox_poster,
    scene,
)

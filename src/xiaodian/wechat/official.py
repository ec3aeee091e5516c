"""The real WeChat servers (api.weixin.qq.com), for ``XIAODIAN_WECHAT_MODE=official``."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from xiaodian.errors import _
from xiaodian.wechat.service import WeChatUnavailable

log = logging.getLogger(__name__)
API = "https://api.weixin.qq.com"


class OfficialServers:
    def __init__(self, base: str = API, timeout: float = 5.0) -> None:
        self.base = base
        self.timeout = timeout

    def _call(
        self, path: str, params: dict[str, str], body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            with httpx.Client(base_url=self.base, timeout=self.timeout) as http:
                if body is None:
                    answer = http.get(path, params=params)
                else:
                    answer = http.post(path, params=params, json=body)
                data = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("WeChat %s failed: %s", path, exc)
            raise WeChatUnavailable(_("WeChat cannot be reached. Try again later.")) from None
        if not isinstance(data, dict):
            raise WeChatUnavailable(_("WeChat cannot be reached. Try again later."))
        return data

    def oauth_access_token(self, *, appid: str, secret: str, code: str) -> dict[str, Any]:
        params = {
            "appid": appid,
            "secret": secret,
            "code": code,
            "grant_type": "authorization_code",
        }
        return self._call("/sns/oauth2/access_token", params)

    def userinfo(self, *, access_token: str, openid: str) -> dict[str, Any]:
        params = {"access_token": access_token, "openid": openid, "lang": "zh_CN"}
        return self._call("/sns/userinfo", params)

    def access_token(self, *, appid: str, secret: str) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
        return self._call("/cgi-bin/token", params)

    def jsapi_ticket(self, *, access_token: str) -> dict[str, Any]:
        return self._call(
            "/cgi-bin/ticket/getticket", {"access_token": access_token, "type": "jsapi"}
        )

    def send_template(self, *, access_token: str, message: dict[str, Any]) -> dict[str, Any]:
        return self._call("/cgi-bin/message/template/send", {"access_token": access_token}, message)

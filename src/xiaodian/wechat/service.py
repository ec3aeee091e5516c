"""WeChat inside WeChat: who the official account is, which WeChat servers we talk to.

The official account's servers are played by the sandbox (``sandbox.py``, in this process
and this database, as the payment sandbox plays WeChat Pay) unless
``XIAODIAN_WECHAT_MODE=official``, when ``official.py`` calls api.weixin.qq.com. Both answer
with WeChat's JSON (``errcode``/``errmsg`` on failure), read by the same code.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.errors import DomainError, _

# The sandbox official account is the sandbox payment provider's appid: JSAPI payment finds
# the payer's openid under the appid it pays with (tests/wechat check they agree).
SANDBOX_APP_ID = "wxd678efh567hg6787"
SANDBOX_SECRET = "sandbox-app-secret-0000000000000"
USER_AGENT_MARK = "MicroMessenger"


class WeChatUnavailable(DomainError):
    status_code = 503
    code = "wechat_unavailable"


class WeChatRefused(DomainError):
    """WeChat answered with an ``errcode`` (a used or unknown code, an expired token...)."""

    status_code = 409
    code = "wechat_refused"


def is_wechat(user_agent: str | None) -> bool:
    """Is this WeChat's built-in browser? Its user agent says ``MicroMessenger/8.0...``."""
    return USER_AGENT_MARK in (user_agent or "")


def is_sandbox() -> bool:
    return settings_module.current().wechat_mode == "sandbox"


def app_id() -> str:
    conf = settings_module.current()
    return SANDBOX_APP_ID if conf.wechat_mode == "sandbox" else conf.wechat_app_id


def app_secret() -> str:
    conf = settings_module.current()
    return SANDBOX_SECRET if conf.wechat_mode == "sandbox" else conf.wechat_app_secret


class Servers(Protocol):
    """WeChat's HTTP APIs we use, each returning WeChat's JSON answer as a dict."""

    def oauth_access_token(self, *, appid: str, secret: str, code: str) -> dict[str, Any]: ...

    def userinfo(self, *, access_token: str, openid: str) -> dict[str, Any]: ...

    def access_token(self, *, appid: str, secret: str) -> dict[str, Any]: ...

    def jsapi_ticket(self, *, access_token: str) -> dict[str, Any]: ...

    def send_template(self, *, access_token: str, message: dict[str, Any]) -> dict[str, Any]: ...


def servers(db: Session) -> Servers:
    """The WeChat servers of this deployment; the sandbox works in ``db``."""
    if is_sandbox():
        from xiaodian.wechat.sandbox import SandboxServers

        return SandboxServers(db)
    from xiaodian.wechat.official import OfficialServers

    return OfficialServers()


def checked(answer: dict[str, Any]) -> dict[str, Any]:
    """WeChat's answer, or ``WeChatRefused`` carrying its errcode."""
    errcode = answer.get("errcode")
    if errcode not in (None, 0):
        raise WeChatRefused(
            _("WeChat refused: %(errcode)s %(errmsg)s"),
            errcode=str(errcode)[:10],
            errmsg=str(answer.get("errmsg", ""))[:80],
        )
    return answer

"""Sign in with WeChat (网页授权, OAuth 2.0 of the official account).

1. ``begin``: a ``state`` for WeChat to hand back, and the authorize URL. The state is
   ``<unix time>.<nonce>.<HMAC>`` (WeChat allows 128 bytes): signed under the secret key,
   valid ten minutes, and bound to this browser: the nonce is also in a signed cookie
   (``xd_wx_oauth``, with where to go afterwards), so a state made for someone else's
   browser is refused (CSRF).
2. ``finish``: WeChat sent the browser back with ``code`` and ``state``. The state is checked
   and spent (``wechat_oauth_states``: a replay is refused), the code exchanged server-side
   for the openid (and unionid), and the account holding the openid is signed in. A new
   openid with ``snsapi_base`` goes through ``snsapi_userinfo`` (the consent that gives the
   nickname and avatar); with ``snsapi_userinfo`` it is pending: the visitor makes a buyer
   account or links an existing one by signing in once with phone and password
   (``create_account`` / ``link_account``), carried meanwhile in a signed cookie.

Anything that fails (a forged or used state, a cancelled authorization, a refused code) is
a DomainError; the pages fall back to the ordinary sign-in with its message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.accounts import service as accounts_service
from xiaodian.errors import InvalidInput, _
from xiaodian.wechat import service
from xiaodian.wechat.models import OAuthState

STATE_SECONDS = 600
PENDING_SECONDS = 900
SCOPES = ("snsapi_base", "snsapi_userinfo")
OFFICIAL_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
SANDBOX_AUTHORIZE = "/sandbox/wechat/connect/oauth2/authorize"


class BadState(InvalidInput):
    code = "bad_state"


@dataclass(frozen=True)
class Begin:
    url: str  # where to send the browser
    cookie: str  # the signed nonce and next path for ``xd_wx_oauth``


@dataclass(frozen=True)
class Finish:
    """The outcome of a callback: signed in (``token``), asked for consent (``again``: the
    authorize URL with snsapi_userinfo), or ``pending`` (a new openid, signed cookie)."""

    next_path: str
    token: str | None = None
    again: Begin | None = None
    pending: str | None = None


def _secret() -> str:
    return settings_module.current().secret_key


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt=salt)


def _mac(stamp: str, nonce: str) -> str:
    message = f"wechat-oauth|{stamp}|{nonce}".encode()
    return hmac.new(_secret().encode(), message, hashlib.sha256).hexdigest()[:32]


def make_state(nonce: str, *, at: int | None = None) -> str:
    stamp = str(int(clock.now().timestamp()) if at is None else at)
    return f"{stamp}.{nonce}.{_mac(stamp, nonce)}"


def check_state(state: str, *, cookie: str | None) -> tuple[str, str, str]:
    """(nonce, next path, scope) of a genuine, fresh state made for this browser; else
    BadState. Writes nothing (spending it is ``finish``'s)."""
    parts = (state or "").split(".")
    if len(parts) != 3 or len(state) > 128:
        raise BadState(_("The sign-in link is not valid. Please try again."))
    stamp, nonce, mac = parts
    if not hmac.compare_digest(mac, _mac(stamp, nonce)) or not stamp.isdigit():
        raise BadState(_("The sign-in link is not valid. Please try again."))
    age = clock.now().timestamp() - int(stamp)
    if not -60 <= age <= STATE_SECONDS:
        raise BadState(_("The sign-in link has expired. Please try again."))
    try:
        bound = _serializer("wechat-oauth").loads(cookie or "", max_age=STATE_SECONDS)
    except BadSignature:
        bound = None
    if not isinstance(bound, dict) or not hmac.compare_digest(str(bound.get("n")), nonce):
        raise BadState(_("The sign-in link was made for another browser. Please try again."))
    return nonce, str(bound.get("next") or "/"), str(bound.get("s") or "snsapi_base")


def begin(*, next_path: str, scope: str, redirect_uri: str) -> Begin:
    """The authorize URL (WeChat's, or the sandbox's page) and the cookie binding it."""
    if scope not in SCOPES:
        scope = "snsapi_base"
    nonce = secrets.token_hex(8)
    cookie = _serializer("wechat-oauth").dumps({"n": nonce, "next": next_path, "s": scope})
    query = urlencode(
        {
            "appid": service.app_id(),
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": make_state(nonce),
        }
    )
    if service.is_sandbox():
        return Begin(url=f"{SANDBOX_AUTHORIZE}?{query}", cookie=cookie)
    return Begin(url=f"{OFFICIAL_AUTHORIZE}?{query}#wechat_redirect", cookie=cookie)


def _spend(db: Session, nonce: str) -> None:
    try:
        with db.begin_nested():
            db.add(OAuthState(nonce=nonce, used_at=clock.now()))
    except IntegrityError:
        raise BadState(_("This sign-in link was used already. Please try again.")) from None


def _who(db: Session, code: str) -> tuple[accounts_service.WeChatUser, str]:
    servers = service.servers(db)
    answer = service.checked(
        servers.oauth_access_token(appid=service.app_id(), secret=service.app_secret(), code=code)
    )
    openid = str(answer.get("openid") or "")
    scope = str(answer.get("scope") or "snsapi_base")
    nickname = avatar = ""
    unionid = answer.get("unionid")
    if "snsapi_userinfo" in scope:
        info = service.checked(
            servers.userinfo(access_token=str(answer.get("access_token") or ""), openid=openid)
        )
        nickname = str(info.get("nickname") or "")
        avatar = str(info.get("headimgurl") or "")
        unionid = info.get("unionid") or unionid
    who = accounts_service.WeChatUser(
        app_id=service.app_id(),
        openid=openid,
        unionid=str(unionid) if unionid else None,
        nickname=nickname,
        avatar_url=avatar,
    )
    return who, scope


def finish(db: Session, *, code: str, state: str, cookie: str | None, redirect_uri: str) -> Finish:
    """WeChat's callback: check and spend the state, exchange the code, sign in (see the
    module's docstring). Raises BadState, InvalidInput (cancelled: no code),
    service.WeChatRefused (a used or unknown code), WeChatUnavailable. Commits."""
    nonce, next_path, _scope = check_state(state, cookie=cookie)
    if not code:
        raise InvalidInput(_("WeChat sign-in was cancelled."), code="wechat_cancelled")
    if len(code) > 128:
        raise InvalidInput(_("The sign-in link is not valid. Please try again."), code="bad_code")
    _spend(db, nonce)
    who, scope = _who(db, code)
    signed_in = accounts_service.sign_in_wechat(db, who)
    if signed_in is not None:
        db.commit()
        return Finish(next_path=next_path, token=signed_in[1])
    db.commit()  # the state and the code are spent either way
    if "snsapi_userinfo" not in scope:
        again = begin(next_path=next_path, scope="snsapi_userinfo", redirect_uri=redirect_uri)
        return Finish(next_path=next_path, again=again)
    pending = _serializer("wechat-pending").dumps({**asdict(who), "next": next_path})
    return Finish(next_path=next_path, pending=pending)


def pending_user(cookie: str | None) -> tuple[accounts_service.WeChatUser, str]:
    """The new openid waiting for an account, and where to go afterwards; else BadState."""
    try:
        data: Any = _serializer("wechat-pending").loads(cookie or "", max_age=PENDING_SECONDS)
    except BadSignature:
        data = None
    if not isinstance(data, dict):
        raise BadState(_("The WeChat sign-in has expired. Please try again."))
    next_path = str(data.pop("next", "/"))
    try:
        return accounts_service.WeChatUser(**data), next_path
    except TypeError:
        raise BadState(_("The WeChat sign-in has expired. Please try again.")) from None


def create_account(db: Session, *, cookie: str | None) -> tuple[str, str]:
    """A buyer account for the pending openid: (session token, next path). Commits."""
    who, next_path = pending_user(cookie)
    _user, token = accounts_service.register_wechat(db, who)
    db.commit()
    return token, next_path


def link_account(db: Session, *, cookie: str | None, login: str, password: str) -> tuple[str, str]:
    """Link the pending openid to the account signed in with ``login`` and ``password``:
    (session token, next path). Commits."""
    who, next_path = pending_user(cookie)
    _user, token = accounts_service.link_wechat(db, who, login=login, password=password)
    db.commit()
    return token, next_path

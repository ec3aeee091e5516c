"""The sandbox: WeChat's official-account servers played by xiaodian, for the demo and tests.

It answers as WeChat does: the authorization page gives a ``code`` (valid five minutes,
exchanged once) to the ``redirect_uri`` with the ``state`` untouched; the code exchange,
userinfo, access token, jsapi_ticket and template-message APIs answer WeChat's JSON, with
``errcode`` when WeChat would refuse (40029 invalid code, 40163 code been used, 40001
invalid credential, 42001 expired, 40125 invalid appsecret). Its users, codes, credentials
and received messages are its own ``sandbox_wechat_*`` tables, in the caller's session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.wechat import service
from xiaodian.wechat.models import (
    SandboxCode,
    SandboxCredential,
    SandboxOutboxMessage,
    SandboxUser,
)

CODE_SECONDS = 300
TOKEN_SECONDS = 7200
SCOPES = ("snsapi_base", "snsapi_userinfo")
_NAMES = ("小满", "阿杰", "糖糖", "大圣", "木木", "小鹿", "橙子", "阿宝")


def _err(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"}


def _openid(seed: str) -> str:
    """An openid shaped like WeChat's (28 characters starting with "o")."""
    return "o" + hashlib.sha256(seed.encode()).hexdigest()[:27]


# --------------------------------------------------------------------------- the phone side


def users(db: Session) -> list[SandboxUser]:
    return list(db.scalars(select(SandboxUser).order_by(SandboxUser.id)))


def make_user(db: Session, *, nickname: str = "") -> SandboxUser:
    """A new sandbox WeChat user (what one more phone would be). Commits."""
    name = nickname.strip()
    if len(name) > 32:
        raise InvalidInput(_("The name may have at most 32 characters."), code="invalid_name")
    seed = secrets.token_hex(8)
    count = len(users(db))
    user = SandboxUser(
        openid=_openid(service.app_id() + seed),
        unionid="u" + hashlib.sha256(seed.encode()).hexdigest()[:27],
        nickname=name or _NAMES[count % len(_NAMES)],
        avatar_url="/static/placeholder.svg",
    )
    db.add(user)
    db.commit()
    return user


def authorize(db: Session, *, openid: str, appid: str, scope: str) -> str:
    """The user allowed the authorization: a fresh code for the callback. Commits."""
    if scope not in SCOPES:
        raise InvalidInput(_("Unknown authorization scope."), code="bad_scope")
    if appid != service.app_id():
        raise InvalidInput(_("Unknown official account."), code="bad_appid")
    user = db.scalar(select(SandboxUser).where(SandboxUser.openid == openid[:128]))
    if user is None:
        raise NotFound(_("No such sandbox WeChat user."), code="sandbox_user_not_found")
    code = secrets.token_hex(16)
    db.add(
        SandboxCode(
            code=code,
            app_id=appid,
            openid=user.openid,
            scope=scope,
            expires_at=clock.now() + timedelta(seconds=CODE_SECONDS),
        )
    )
    db.commit()
    return code


def outbox_for(
    db: Session, actor: Actor, *, limit: int = 50
) -> list[tuple[SandboxOutboxMessage, str]]:
    """The newest messages the sandbox's WeChat delivered, with the recipient's nickname:
    to the actor's own openid, or to anyone for an operator."""
    query = (
        select(SandboxOutboxMessage, SandboxUser.nickname)
        .outerjoin(SandboxUser, SandboxUser.openid == SandboxOutboxMessage.openid)
        .order_by(SandboxOutboxMessage.id.desc())
        .limit(limit)
    )
    if not actor.is_operator:
        mine = accounts_service.openid_for(
            db, user_id=actor.require_user(), app_id=service.app_id()
        )
        query = query.where(SandboxOutboxMessage.openid == (mine or ""))
    rows = db.execute(query).all()
    return [(message, nickname or "") for message, nickname in rows]


# --------------------------------------------------------------------------- WeChat's APIs


class SandboxServers:
    """``service.Servers`` over the sandbox's tables, in the caller's session (joins its
    transaction: a code is spent, a token issued, a message received with the caller's
    commit)."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def _issue(self, kind: str, *, openid: str = "", seconds: int = TOKEN_SECONDS) -> str:
        value = secrets.token_urlsafe(48)
        self.db.add(
            SandboxCredential(
                kind=kind,
                value=value,
                openid=openid,
                expires_at=clock.now() + timedelta(seconds=seconds),
            )
        )
        self.db.flush()
        return value

    def _credential(self, kind: str, value: str) -> SandboxCredential | dict[str, Any]:
        row = self.db.scalar(
            select(SandboxCredential).where(
                SandboxCredential.value == value[:200], SandboxCredential.kind == kind
            )
        )
        if row is None:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if row.expires_at <= clock.now():
            return _err(42001, "access_token expired")
        return row

    def oauth_access_token(self, *, appid: str, secret: str, code: str) -> dict[str, Any]:
        if appid != service.app_id():
            return _err(40013, "invalid appid")
        if secret != service.app_secret():
            return _err(40125, "invalid appsecret")
        spent = self.db.execute(  # one conditional UPDATE: a code is exchanged once
            update(SandboxCode)
            .where(
                SandboxCode.code == code[:64],
                SandboxCode.app_id == appid,
                SandboxCode.used_at.is_(None),
                SandboxCode.expires_at > clock.now(),
            )
            .values(used_at=clock.now())
            .returning(SandboxCode.openid, SandboxCode.scope)
        ).first()
        if spent is None:
            known = self.db.scalar(select(SandboxCode).where(SandboxCode.code == code[:64]))
            if known is not None and known.used_at is not None:
                return _err(40163, "code been used")
            return _err(40029, "invalid code")
        openid, scope = spent
        user = self.db.scalar(select(SandboxUser).where(SandboxUser.openid == openid))
        answer: dict[str, Any] = {
            "access_token": self._issue("oauth", openid=openid),
            "expires_in": TOKEN_SECONDS,
            "refresh_token": secrets.token_urlsafe(48),
            "openid": openid,
            "scope": scope,
            "is_snapshotuser": 0,
        }
        if user is not None and scope == "snsapi_userinfo":
            answer["unionid"] = user.unionid
        return answer

    def userinfo(self, *, access_token: str, openid: str) -> dict[str, Any]:
        row = self._credential("oauth", access_token)
        if isinstance(row, dict):
            return row
        if row.openid != openid:
            return _err(40003, "invalid openid")
        user = self.db.scalar(select(SandboxUser).where(SandboxUser.openid == openid))
        if user is None:
            return _err(40003, "invalid openid")
        return {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": user.avatar_url,
            "privilege": [],
            "unionid": user.unionid,
        }

    def access_token(self, *, appid: str, secret: str) -> dict[str, Any]:
        if appid != service.app_id():
            return _err(40013, "invalid appid")
        if secret != service.app_secret():
            return _err(40125, "invalid appsecret")
        return {"access_token": self._issue("access_token"), "expires_in": TOKEN_SECONDS}

    def jsapi_ticket(self, *, access_token: str) -> dict[str, Any]:
        row = self._credential("access_token", access_token)
        if isinstance(row, dict):
            return row
        return {
            "errcode": 0,
            "errmsg": "ok",
            "ticket": self._issue("jsapi_ticket", seconds=TOKEN_SECONDS),
            "expires_in": TOKEN_SECONDS,
        }

    def send_template(self, *, access_token: str, message: dict[str, Any]) -> dict[str, Any]:
        row = self._credential("access_token", access_token)
        if isinstance(row, dict):
            return row
        openid = str(message.get("touser") or "")
        known = self.db.scalar(select(SandboxUser.id).where(SandboxUser.openid == openid[:128]))
        if known is None:
            return _err(40003, "invalid openid")
        data = message.get("data")
        if not isinstance(data, dict):
            return _err(47001, "data format error")
        msgid = str(secrets.randbelow(10**18))
        self.db.add(
            SandboxOutboxMessage(
                msgid=msgid,
                openid=openid,
                template_id=str(message.get("template_id") or "")[:64],
                url=str(message.get("url") or "")[:300],
                data=data,
            )
        )
        self.db.flush()
        return {"errcode": 0, "errmsg": "ok", "msgid": int(msgid)}

"""The JS-SDK: the official account's access_token and jsapi_ticket, and page signatures.

Both credentials live two hours. They are cached in ``wechat_credentials`` until they are
within ``REFRESH_MARGIN`` of expiring, then refreshed by ONE process at a time: the refresh
locks the row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the write transaction
itself, ``BEGIN IMMEDIATE``), and whoever waited reads what the first one fetched instead of
asking WeChat again (WeChat limits how often a token may be fetched, and each new token
invalidates the last one after five minutes).

A page's signature is WeChat's: SHA-1 over
``jsapi_ticket=...&noncestr=...&timestamp=...&url=...`` (keys in ASCII order, the URL of the
page exactly, without its ``#fragment``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.db import Database
from xiaodian.wechat import service
from xiaodian.wechat.models import Credential

REFRESH_MARGIN = timedelta(minutes=5)
KINDS = ("access_token", "jsapi_ticket")
JS_API_LIST = ["updateAppMessageShareData", "updateTimelineShareData"]


def _fresh(row: Credential | None) -> str | None:
    if row is None or not row.value or row.expires_at is None:
        return None
    return row.value if row.expires_at - REFRESH_MARGIN > clock.now() else None


def cached(db: Session, kind: str) -> str | None:
    """The credential if it is not about to expire; reads only."""
    return _fresh(
        db.scalar(
            select(Credential).where(Credential.app_id == service.app_id(), Credential.kind == kind)
        )
    )


def _locked_row(db: Session, kind: str) -> Credential:
    table: Any = Credential.__table__
    insert_ = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(
        insert_(table)
        .values(app_id=service.app_id(), kind=kind, value="")
        .on_conflict_do_nothing(index_elements=["app_id", "kind"])
    )
    row = db.scalar(
        select(Credential)
        .where(Credential.app_id == service.app_id(), Credential.kind == kind)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def credential(db: Session, kind: str) -> str:
    """The credential, refreshed first if it is about to expire. ``db`` must be a write
    session; joins its transaction (the refresh commits with it, the lock until then).
    Raises service.WeChatRefused / WeChatUnavailable."""
    row = _locked_row(db, kind)
    value = _fresh(row)
    if value is not None:
        return value
    servers = service.servers(db)
    if kind == "access_token":
        answer = service.checked(
            servers.access_token(appid=service.app_id(), secret=service.app_secret())
        )
        value = str(answer["access_token"])
    else:
        token = credential(db, "access_token")
        answer = service.checked(servers.jsapi_ticket(access_token=token))
        value = str(answer["ticket"])
    row.value = value
    row.expires_at = clock.now() + timedelta(seconds=int(answer.get("expires_in") or 7200))
    row.refreshed_at = clock.now()
    db.flush()
    return value


def forget(db: Session, kind: str) -> None:
    """WeChat said the credential is invalid (40001): fetch a new one next time. Joins the
    caller's transaction."""
    row = _locked_row(db, kind)
    row.expires_at = clock.now()


def signature(*, ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    url = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()


@dataclass(frozen=True)
class Config:
    """What ``wx.config`` takes."""

    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    jsApiList: list[str]


def config(database: Database, *, url: str) -> Config:
    """The signed JS-SDK configuration of the page at ``url``. Reads the cached ticket; only
    when it is about to expire opens a write transaction to refresh it (one at a time)."""
    with database.session(write=False) as db:
        ticket = cached(db, "jsapi_ticket")
    if ticket is None:
        with database.session(write=True) as db:
            ticket = credential(db, "jsapi_ticket")
            db.commit()
    stamp = int(clock.now().timestamp())
    nonce = secrets.token_hex(8)
    return Config(
        appId=service.app_id(),
        timestamp=stamp,
        nonceStr=nonce,
        signature=signature(ticket=ticket, noncestr=nonce, timestamp=stamp, url=url),
        jsApiList=list(JS_API_LIST),
    )

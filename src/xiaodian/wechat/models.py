"""The tables of xiaodian's WeChat side: single-use OAuth states, the JS-SDK's cached
credentials, buyers' consent to order messages and those messages; and the sandbox's
"WeChat servers" (its users, codes, credentials and the outbox of messages it received).

The identities themselves (openid -> account) are the accounts domain's
(``accounts.service.openid_for``): payments asks accounts for a payer's openid.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class OAuthState(Base):
    """A ``state`` that came back from WeChat's authorization: each is used once."""

    __tablename__ = "wechat_oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime] = mapped_column(default=clock.now)


class Credential(Base):
    """The official account's ``access_token`` and ``jsapi_ticket``, cached until they
    expire. The row is locked while one process refreshes it; the others wait and read."""

    __tablename__ = "wechat_credentials"
    __table_args__ = (UniqueConstraint("app_id", "kind", name="uq_wechat_credentials_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # "access_token" | "jsapi_ticket"
    value: Mapped[str] = mapped_column(String(600), default="")
    expires_at: Mapped[datetime | None]
    refreshed_at: Mapped[datetime | None]


class Consent(Base):
    """Whether a buyer allows order messages (订阅消息). No row: not asked yet, none sent."""

    __tablename__ = "wechat_consents"

    user_id: Mapped[int] = mapped_column(primary_key=True)
    subscribed: Mapped[bool]
    decided_at: Mapped[datetime] = mapped_column(default=clock.now)


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt
    SKIPPED = "skipped"  # refused, no openid, or over the rate limit


class OrderMessage(Base):
    """One message about one order event: (order, event) is unique, so never sent twice."""

    __tablename__ = "wechat_messages"
    __table_args__ = (UniqueConstraint("order_id", "event", name="uq_wechat_messages_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int]
    event: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(index=True)
    openid: Mapped[str] = mapped_column(String(128), default="")
    template_id: Mapped[str] = mapped_column(String(64), default="")
    url: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[MessageStatus] = mapped_column(
        str_enum(MessageStatus), default=MessageStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- the sandbox


class SandboxUser(Base):
    """A WeChat user of the sandbox (what a phone's WeChat would be)."""

    __tablename__ = "sandbox_wechat_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(128), unique=True)
    unionid: Mapped[str] = mapped_column(String(128))
    nickname: Mapped[str] = mapped_column(String(64))
    avatar_url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SandboxCode(Base):
    """A ``code`` the sandbox's authorization gave: valid five minutes, exchanged once."""

    __tablename__ = "sandbox_wechat_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SandboxCredential(Base):
    """An access token, web (OAuth) access token or jsapi_ticket the sandbox issued."""

    __tablename__ = "sandbox_wechat_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SandboxOutboxMessage(Base):
    """A message the sandbox's WeChat received for delivery to a user: what they would read."""

    __tablename__ = "sandbox_wechat_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    msgid: Mapped[str] = mapped_column(String(32), unique=True)
    openid: Mapped[str] = mapped_column(String(128), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

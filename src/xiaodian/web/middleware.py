"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer the live event streams)."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xiaodian.web import i18n
from xiaodian.web.csrf import CSRF_COOKIE, CSRF_ROTATED, csrf_token, csrf_valid
from xiaodian.web.deps import SESSION_COOKIE


class RequestContextMiddleware:
    """Language, CSRF cookie, ``nosniff`` and a cap on request bodies, for every HTTP
    request."""

    def __init__(self, app: ASGIApp, *, secret_key: str, max_body: int, secure: bool) -> None:
        self.app = app
        self.secret_key = secret_key
        self.max_body = max_body
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = _cookies(headers.get("cookie", ""))
        locale = i18n.negotiate(cookies.get(i18n.LANG_COOKIE), headers.get("accept-language"))
        state = scope.setdefault("state", {})
        state["locale"] = locale
        state["gettext"] = i18n.gettext_for(locale)
        csrf = cookies.get(CSRF_COOKIE)
        session = cookies.get(SESSION_COOKIE)
        new_csrf = None
        # A bearer client with no cookies needs no CSRF cookie (its requests are not
        # cookie-authenticated); a browser's first request gets one.
        bearer_only = "authorization" in headers and not cookies
        if not bearer_only and not csrf_valid(self.secret_key, csrf, session):
            csrf = new_csrf = csrf_token(self.secret_key, session)
        state["csrf_token"] = csrf or ""

        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            await _too_large(send, state["gettext"])
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                # every answer is what its Content-Type says (uploaded files above all)
                out.setdefault("x-content-type-options", "nosniff")
                token = state.get(CSRF_ROTATED) or new_csrf
                if token:
                    flags = "; Path=/; SameSite=Lax" + ("; Secure" if self.secure else "")
                    out.append("set-cookie", f"{CSRF_COOKIE}={token}{flags}")
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            await _too_large(send, state["gettext"])


class _BodyTooLarge(Exception):
    pass


def _cookies(raw: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


async def _too_large(send: Send, gettext: Any) -> None:
    body = json.dumps(
        {"error": {"code": "too_large", "message": gettext("The upload is too large.")}},
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""The flash-sale buy endpoint for API clients, without the framework's per-request work.

``POST /api/v1/live/rooms/{room_id}/flash-sales/{sale_id}/buy`` with ``Authorization:
Bearer`` is the hottest request of the platform: thousands of buyers press "buy" within
seconds, and most of them are answered from memory (sold out, limit reached). Routing
through a few hundred routes, dependency solving, the CSRF cookie and the error handlers
cost more than the answer itself, so this pure ASGI middleware answers those requests
directly with the same code (``authcache``, ``FlashEngine.buy``), the same status codes
and the same JSON bodies (``{"error": {"code", "message"}}`` in the request's language).
Everything else, including cookie-authenticated buys from the browser (which need the CSRF
rules), goes through the app as usual; the FastAPI route stays the documented one.

Every attempt is authenticated and answered truthfully; nothing about a purchase is cached.

It also serves the rooms' event streams (``GET /live/{id}/events`` and
``/api/v1/live/rooms/{id}/events``) with ``events.serve``: 5,000 open streams receive every
event, and each pass through the middleware stack (and Starlette's streaming response with
its task group) cost more than writing the event. Unknown rooms go through the app (its 404).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from xiaodian.accounts import authcache
from xiaodian.actor import Actor
from xiaodian.content.live import events, flash, flash_engine
from xiaodian.content.live.api import buy_address
from xiaodian.errors import DomainError, InvalidInput, NotAuthenticated, TooLarge, _
from xiaodian.web import i18n
from xiaodian.web.deps import SESSION_COOKIE

VIEWER_COOKIE = "xd_viewer"  # the same as api.VIEWER_COOKIE

log = logging.getLogger(__name__)

# Ids of 1 to 9 digits, no leading zero: always in 1..MAX_ID. Any other spelling (0, 007, a
# number too big for a column) goes through the app, whose route answers it (404 or 422).
_ID = "([1-9][0-9]{0,8})"
EVENTS_PATH = re.compile(rf"^/(?:api/v1/live/rooms|live)/{_ID}/events$")
BUY_PATH = re.compile(rf"^/api/v1/live/rooms/{_ID}/flash-sales/{_ID}/buy$")
MAX_BODY = 4096
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class BuyFastPath:
    """Answers bearer-authenticated buy requests; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            events_path = EVENTS_PATH.match(scope["path"])
            if events_path is not None and await self._events(
                scope, receive, send, int(events_path.group(1))
            ):
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        found = BUY_PATH.match(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        token = ""
        accept_language = cookie = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                raw = value.decode("latin-1")
                if raw[:7].lower() == "bearer ":
                    token = raw[7:].strip()
            elif key == b"accept-language":
                accept_language = value.decode("latin-1")
            elif key == b"cookie":
                cookie = value.decode("latin-1")
        if not token:  # a browser: the app's CSRF rules and cookies apply
            await self.app(scope, receive, send)
            return
        gettext = i18n.gettext_for(i18n.negotiate(_lang_cookie(cookie), accept_language))
        body: dict[str, Any] | bytes
        try:
            status, body = await self._buy(
                scope, receive, token, int(found.group(1)), int(found.group(2))
            )
        except DomainError as exc:
            status = exc.status_code
            body = _error_body(exc.code, exc.render(gettext))
        except Exception:
            log.exception("flash: buy failed")
            status = 500
            body = _error_body("internal", gettext("Something went wrong on our side."))
        payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": payload})

    async def _events(self, scope: Scope, receive: Receive, send: Send, room_id: int) -> bool:
        """Serve an event stream; False (nothing sent) when the app should answer."""
        app = scope["app"]
        database = app.state.db
        if flash_engine.engine is None or events.runtime.database is not database:
            await events.ensure_started(app)
        if not await events.known_room(database, room_id):
            return False
        token = None
        raw_cookie = ""
        for key, value in scope["headers"]:
            if key == b"authorization":
                raw = value.decode("latin-1")
                if raw[:7].lower() == "bearer ":
                    token = raw[7:].strip()
            elif key == b"cookie":
                raw_cookie = value.decode("latin-1")
        cookies = cookie_parser(raw_cookie) if raw_cookie else {}
        if token is None:
            token = cookies.get(SESSION_COOKIE)
        actor = await authcache.actor_for_token(database, token)
        anon = cookies.get(VIEWER_COOKIE, "")
        if actor.user_id is not None:
            viewer_key = f"u:{actor.user_id}"
        elif anon.isalnum() and 8 <= len(anon) <= 40:
            viewer_key = f"a:{anon}"
        else:
            viewer_key = f"a:{secrets.token_hex(8)}"
        await events.serve(
            database,
            room_id,
            viewer_key=viewer_key,
            user_id=actor.user_id,
            send=send,
            receive=receive,
        )
        return True

    async def _buy(
        self, scope: Scope, receive: Receive, token: str, room_id: int, sale_id: int
    ) -> tuple[int, dict[str, Any]]:
        app = scope["app"]
        raw = await _read_body(receive)
        # A token this process has seen is answered from memory; a new one (a buyer's
        # first press) is resolved by the flash writer inside its batch (``buy_by_token``).
        actor = authcache.cached(token)
        try:
            done = await self._purchase(app, raw, actor, token, room_id, sale_id)
        except DomainError as exc:
            if actor is None and not isinstance(exc, NotAuthenticated):
                # As on the documented route, who is asking is checked first: a refusal
                # goes only to a signed-in buyer, anyone else gets the 401.
                (await authcache.actor_for_token(app.state.db, token)).require_user()
            raise
        return 201, {
            "order_no": done.order_no,
            "pay_url": done.pay_url,
            "quantity": done.quantity,
            "amount_fen": done.amount_fen,
            "remaining": done.remaining,
        }

    async def _purchase(
        self, app: Any, raw: bytes, actor: Actor | None, token: str, room_id: int, sale_id: int
    ) -> flash.Purchased:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise InvalidInput(_("The request body is not valid JSON."), code="invalid")
        address_id = buy_address(body)
        if flash_engine.engine is None or events.runtime.database is not app.state.db:
            await events.ensure_started(app)
        assert flash_engine.engine is not None
        wanted: dict[str, Any] = {
            "room_id": room_id,
            "sale_id": sale_id,
            "quantity": body.get("quantity", 1),
            "address_id": address_id,
        }
        if actor is not None:
            return await flash_engine.engine.buy(actor, **wanted)
        return await flash_engine.engine.buy_by_token(token, **wanted)


@lru_cache(maxsize=1024)
def _error_body(code: str, message: str) -> bytes:
    """A refusal's JSON, encoded once: after a sell-out thousands of answers are the same
    few ("sold out", "limit reached") in a few languages."""
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(_("The upload is too large."), code="too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _lang_cookie(raw: str | None) -> str | None:
    if not raw or i18n.LANG_COOKIE not in raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(i18n.LANG_COOKIE)
    return morsel.value if morsel is not None else None

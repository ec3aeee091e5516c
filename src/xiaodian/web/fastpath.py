"""Hot endpoints answered without the framework's per-request work.

A few requests arrive by the thousand within seconds and are mostly answered from memory:
the flash sale's "buy" after the sell-out, the live room's coupon after the last one went,
the rooms' event streams. Routing through a few hundred routes, dependency solving, the
CSRF cookie and the error handlers cost more than such an answer, so this pure ASGI
middleware, outside everything else, hands them to the domain's own handler (registered by
``xiaodian.app``: this package knows no domain). Everything the handler declines goes
through the app as usual, and the FastAPI route stays the documented one: a handler gives
the same status codes and the same JSON bodies (``{"error": {"code", "message"}}`` in the
request's language) as the route would.

A handler is ``async (hot, match) -> bool``: True when it answered, False to let the app
answer; a body it read is handed on to the app as it came (``Hot.receive_again``), so a
handler may read and validate a body and still leave an invalid one to the app, which
explains what is wrong as for any request. A ``DomainError`` it raises is answered as the
app's error handler would, a busy database as "try again" (503 with ``Retry-After``);
anything else is logged and answered 500, except from a streaming handler
(``errors_answered=False``), whose response may have started.

The everyday purchase (checkout, payment, the sandbox's cashier, the notification, the
buyer's wait) has hot routes too: at a few dozen paid orders a second the framework's work
around each request (routing, dependency solving, the middleware) cost as much as the
requests' own. Their handlers call the same functions as the routes
(``orders.fastpath``, ``payments.fastpath``), in one thread hop.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xiaodian.actor import Actor
from xiaodian.errors import DomainError, InvalidInput, TooLarge, _
from xiaodian.web import i18n
from xiaodian.web.deps import SESSION_COOKIE
from xiaodian.web.errors import busy_error

log = logging.getLogger(__name__)

# Ids of 1 to 9 digits, no leading zero: always in 1..MAX_ID. Any other spelling (0, 007, a
# number too big for a column) is not matched and goes through the app, whose route
# answers it (404 or 422).
ID = "([1-9][0-9]{0,8})"
MAX_BODY = 4096
_NOSNIFF = [(b"x-content-type-options", b"nosniff")]
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *_NOSNIFF]


class Hot:
    """One request on the fast path: its bearer token, cookies, language and body."""

    __slots__ = (
        "_cookie",
        "_gettext",
        "_language",
        "_read",
        "answered",
        "receive",
        "scope",
        "send",
        "token",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send  # the server's own (a stream may hand it to another thread)
        self.answered = False  # a response has started: nothing more may be answered
        self.token = ""
        self._cookie = ""
        self._language: str | None = None
        self._gettext: Callable[[str], str] | None = None
        self._read: list[bytes] = []  # the body's chunks read so far (for the app, if declined)
        for key, value in scope["headers"]:
            if key == b"authorization":
                raw = value.decode("latin-1")
                if raw[:7].lower() == "bearer ":
                    self.token = raw[7:].strip()
            elif key == b"accept-language":
                self._language = value.decode("latin-1")
            elif key == b"cookie":
                self._cookie = value.decode("latin-1")

    @property
    def app(self) -> Any:
        return self.scope["app"]

    def header(self, name: bytes) -> str | None:
        """The first value of the header ``name`` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    def body_fits(self) -> bool:
        """A body of a stated length the fast path reads (larger ones go to the app, whose
        limit is the uploads')."""
        length = self.header(b"content-length")
        return length is not None and length.isdigit() and int(length) <= MAX_BODY

    async def parsed(self, model: type[M]) -> M | None:
        """The JSON body as ``model`` validates it; None (the app will say what is wrong)
        when it is not JSON, not a size the fast path reads, or not valid."""
        if not self.body_fits():
            return None
        if not (self.header(b"content-type") or "").startswith("application/json"):
            return None
        try:
            return model.model_validate(json.loads(await self.body()))
        except ValueError:  # not JSON, not UTF-8, or the model's ValidationError
            return None

    async def signed_in(self) -> Actor | None:
        """The bearer token's signed-in person, else None (left to the app, which answers
        401 as its route does)."""
        if not self.token:
            return None
        actor = await self.actor()
        return actor if actor.is_authenticated else None

    def query(self) -> dict[str, str] | None:
        """The query string's parameters; None when one is given twice (left to the app)."""
        raw = self.scope.get("query_string", b"").decode("latin-1")
        pairs = parse_qsl(raw, keep_blank_values=True)
        params = dict(pairs)
        return params if len(params) == len(pairs) else None

    def cookies(self) -> dict[str, str]:
        return cookie_parser(self._cookie) if self._cookie else {}

    async def actor(self, token: str | None = None) -> Actor:
        """Who is asking, by ``token`` (the bearer token by default), as ``web.deps`` asks:
        the app's authenticator (anonymous when missing or invalid)."""
        actor: Actor = await self.app.state.authenticate(
            self.app.state.db, self.token if token is None else token
        )
        return actor

    def session_token(self) -> str | None:
        """The bearer token, else the session cookie's."""
        return self.token or self.cookies().get(SESSION_COOKIE)

    def gettext(self, message: str) -> str:
        if self._gettext is None:
            self._gettext = i18n.gettext_for(
                i18n.negotiate(_lang_cookie(self._cookie), self._language)
            )
        return self._gettext(message)

    async def body(self) -> bytes:
        """The request's body, at most ``MAX_BODY`` bytes (413 past it)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            self._read.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                raise TooLarge(_("The upload is too large."), code="too_large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (422 when it is not one)."""
        raw = await self.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise InvalidInput(_("The request body is not valid JSON."), code="invalid")
        return body

    def receive_again(self) -> Receive:
        """The request's ``receive`` for the app after a handler declined it: the body's
        chunks it read, then the rest."""
        if not self._read:
            return self.receive
        # A handler reads a body to its end (or refuses it as too large): the last chunk
        # ends it for the app too.
        chunks, receive = list(self._read), self.receive

        async def replay() -> Message:
            if chunks:
                chunk = chunks.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            return await receive()

        return replay

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread: the request's one hop."""
        return await run_in_threadpool(fn, *args)

    async def answer(
        self, status: int, body: dict[str, Any] | bytes | None, headers: list[Any] = _JSON
    ) -> None:
        """``body`` as JSON (None: no body, no content type)."""
        payload = body if isinstance(body, bytes) else b"" if body is None else _dumps(body)
        if body is None:
            headers = _NOSNIFF
        else:  # its length stated, as the app's responses do (not sent in chunks)
            headers = [*headers, (b"content-length", b"%d" % len(payload))]
        self.answered = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": payload})

    async def refuse(self, exc: DomainError) -> None:
        retry_after = getattr(exc, "retry_after", None)
        headers = _JSON if retry_after is None else [*_JSON, (b"retry-after", b"%d" % retry_after)]
        await self.answer(exc.status_code, error_body(exc.code, exc.render(self.gettext)), headers)


T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Hot, "re.Match[str]"], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    method: str
    path: re.Pattern[str]
    handler: Handler
    errors_answered: bool = True  # False: a stream, whose response may have started


class FastPath:
    """Hands the requests its routes match to their handlers; passes the rest on."""

    def __init__(self, app: ASGIApp, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes: dict[str, list[HotRoute]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes.get(scope["method"], ()):
                found = route.path.match(scope["path"])
                if found is not None:
                    hot = Hot(scope, receive, send)
                    if await _serve(route, found, hot):
                        return
                    receive = hot.receive_again()
                    break
        await self.app(scope, receive, send)


async def _serve(route: HotRoute, found: re.Match[str], hot: Hot) -> bool:
    if not route.errors_answered:
        return await route.handler(hot, found)
    try:
        return await route.handler(hot, found)
    except Exception as exc:
        if hot.answered:  # work after the answer (a delivery) failed: logged, not answered
            log.exception("fast path: %s %s failed", hot.scope["method"], route.path.pattern)
            return True
        if isinstance(exc, DomainError):
            await hot.refuse(exc)
            return True
        busy = busy_error(exc)
        if busy is not None:
            log.warning("database busy: %s", str(exc).splitlines()[0][:200])
            await hot.refuse(busy)
            return True
        log.exception("fast path: %s %s failed", hot.scope["method"], route.path.pattern)
        message = hot.gettext("Something went wrong on our side.")
        await hot.answer(500, error_body("internal", message))
    return True


@lru_cache(maxsize=1024)
def error_body(code: str, message: str) -> bytes:
    """A refusal's JSON, encoded once: after a sell-out thousands of answers are the same
    few ("sold out", "limit reached") in a few languages."""
    return _dumps({"error": {"code": code, "message": message}})


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON as the app's responses write it (compact, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


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

"""Typed dependencies every router uses: the database session and who is asking.

Both are ``async``: neither costs a thread hop. The session is only created here (no
connection yet); the handler uses it in its one worker thread and ``web.routing.one_hop``
closes it there. Who is asking is answered by the app's authenticator
(``app.state.authenticate``, installed by ``create_app``: the accounts domain's token
cache, whose miss is looked up in a read session of its own on a worker thread, never in
the request's write session). The web package knows no domain.

Pages (HTML) ask for a person with ``PageUser``: a visitor who is not signed in is sent to
the sign-in page with ``?next=`` the page they asked for (``SignInRequired``, turned into a
303 by ``web.errors``), and lands back on it after signing in. The JSON API asks with
``SignedIn`` (401 with the error body). A public page that only personalises for a
signed-in visitor takes ``CurrentActor`` (anonymous without a token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.errors import NotAuthenticated, _

SESSION_COOKIE = "xd_session"
# A promoter's touch (set by a tracked link's redirect): checkout carries its value to the
# domain that set it, opaque (``orders.checkout.Channel.touch``).
TOUCH_COOKIE = "xd_touch"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session per request: writes begin IMMEDIATE on SQLite so writers queue; reads
    (safe methods) never take the write lock."""
    database = request.app.state.db
    db = database.session(write=request.method not in SAFE_METHODS)
    try:
        yield db
    finally:
        db.close()  # closed by the handler's thread already (one_hop): nothing left here


DbDep = Annotated[Session, Depends(get_db)]


async def get_write_db(request: Request) -> AsyncIterator[Session]:
    """A write session whatever the method: a GET that records something (a tracked link's
    click) queues with the writers on SQLite instead of failing to upgrade its read."""
    db = request.app.state.db.session(write=True)
    try:
        yield db
    finally:
        db.close()


WriteDbDep = Annotated[Session, Depends(get_write_db)]


def request_touch(request: Request) -> str:
    """The touch cookie's value as the request carried it ("" when none or too long)."""
    return touch_of(request.cookies)


def touch_of(cookies: Mapping[str, str]) -> str:
    """The touch cookie's value among ``cookies`` ("" when none or too long)."""
    value = cookies.get(TOUCH_COOKIE, "")
    return value if len(value) <= 100 else ""


def request_token(request: Request) -> tuple[str | None, str]:
    """The session token and where it came from ("bearer" or "cookie")."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


async def get_actor(request: Request) -> Actor:
    """Who is asking (anonymous without a valid token)."""
    token, _kind = request_token(request)
    actor: Actor = await request.app.state.authenticate(request.app.state.db, token)
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_user_actor(actor: CurrentActor) -> Actor:
    if not actor.is_authenticated:
        raise NotAuthenticated(_("Please sign in first."))
    return actor


SignedIn = Annotated[Actor, Depends(get_user_actor)]


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``: a sign-in (or language)
    link cannot bounce the visitor to another site (``//host``, ``/\\host``, a scheme,
    control characters)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)
    ):
        return default
    return target


def page_asked_for(request: Request) -> str:
    """Where to come back after signing in: the page itself (path and query) for a GET;
    for a form sent (POST) the page it was sent from, when that page is on this site (the
    ``Referer``), as the form's own address only answers a POST; else the home page."""
    if request.method in SAFE_METHODS:
        query = request.url.query
        return safe_next(request.url.path + (f"?{query}" if query else ""))
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.headers.get("host", request.url.netloc):
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


class SignInRequired(Exception):
    """A page needs a signed-in person: ``web.errors`` answers with a 303 to the sign-in
    page carrying ``next`` (a JSON client gets the API's 401)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def get_page_user(request: Request, actor: CurrentActor) -> Actor:
    """The signed-in person a page needs (no thread hop: the actor is already known)."""
    if not actor.is_authenticated:
        raise SignInRequired(page_asked_for(request))
    return actor


PageUser = Annotated[Actor, Depends(get_page_user)]

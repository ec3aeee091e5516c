"""Typed dependencies every router uses: the database session and who is asking.

Both are ``async``: neither costs a thread hop. The session is only created here (no
connection yet); the handler uses it in its one worker thread and ``web.routing.one_hop``
closes it there. Who is asking is answered by the app's authenticator
(``app.state.authenticate``, installed by ``create_app``: the accounts domain's token
cache, whose miss is looked up in a read session of its own on a worker thread, never in
the request's write session). The web package knows no domain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.errors import NotAuthenticated, _

SESSION_COOKIE = "xd_session"
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

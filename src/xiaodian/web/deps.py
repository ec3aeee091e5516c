"""Typed dependencies every router uses: the database session and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts_service
from xiaodian.accounts.actor import Actor
from xiaodian.errors import NotAuthenticated, _

SESSION_COOKIE = "xd_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; writes begin IMMEDIATE on SQLite so writers queue."""
    database = request.app.state.db
    db = database.session(write=request.method not in SAFE_METHODS)
    try:
        yield db
    finally:
        db.close()


DbDep = Annotated[Session, Depends(get_db)]


def request_token(request: Request) -> tuple[str | None, str]:
    """The session token and where it came from ("bearer" or "cookie")."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


def get_actor(request: Request, db: DbDep) -> Actor:
    token, _kind = request_token(request)
    actor = accounts_service.actor_for_token(db, token)
    if db.in_transaction():
        db.rollback()  # end the read so a later write starts its own transaction
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def get_user_actor(actor: CurrentActor) -> Actor:
    if not actor.is_authenticated:
        raise NotAuthenticated(_("Please sign in first."))
    return actor


SignedIn = Annotated[Actor, Depends(get_user_actor)]

"""Who is asking, without a database round trip on the hot paths of a live room.

A small in-process TTL cache of session token (its SHA-256) -> Actor, used by the buy and
event-stream endpoints only. A miss resolves the token through the accounts service in a
worker thread. Signing out (``forget``) drops the entry at once in this process; other
processes drop it within ``TTL`` seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from xiaodian.accounts import service as accounts_service
from xiaodian.accounts.actor import ANONYMOUS, Actor
from xiaodian.web.deps import request_token

TTL = 15.0
MAX_ENTRIES = 50_000

_entries: dict[str, tuple[float, Actor]] = {}
_lock = threading.Lock()


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def forget(token: str) -> None:
    """Drop a token (call on sign-out)."""
    with _lock:
        _entries.pop(_key(token), None)


def clear() -> None:
    with _lock:
        _entries.clear()


def _lookup(request: Request, token: str) -> Actor:
    database = request.app.state.db
    with database.session(write=False) as db:
        return accounts_service.actor_for_token(db, token)


async def actor_for(request: Request) -> Actor:
    """The request's Actor (anonymous when there is no valid token), cached for TTL s."""
    token, _kind = request_token(request)
    if not token or len(token) > 200:
        return ANONYMOUS
    key = _key(token)
    now = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and hit[0] > now:
        actor = hit[1]
    else:
        actor = await run_in_threadpool(_lookup, request, token)
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            if actor.is_authenticated:
                _entries[key] = (now + TTL, actor)
    request.state.actor = actor
    return actor

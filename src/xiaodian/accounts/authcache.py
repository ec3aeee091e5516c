"""Who is asking, without a database round trip per request.

A small in-process TTL cache of session token (its SHA-256) -> Actor, asked by every
request (``web.deps.get_actor``) and by the live rooms' fast path. Misses are resolved in
batches: the tokens that miss while a lookup is running wait for the next one, and each
lookup resolves all of them through ``accounts.service.actors_for_tokens`` (one query,
whatever the number of tokens) in a worker thread, so thousands of distinct buyers arriving
at once cost a few queries, not thousands. Signing out drops the token at once in this
process (``accounts.service.on_token_revoked``), and so does a change of an account's roles
(``accounts.service.on_actor_changed``: a new shop, staff added or removed); other processes
drop it within ``TTL`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

from xiaodian.accounts import service as accounts_service
from xiaodian.actor import ANONYMOUS, Actor
from xiaodian.db import Database

TTL = 15.0
MAX_ENTRIES = 50_000

_entries: dict[str, tuple[float, Actor]] = {}
_lock = threading.Lock()
# Moves on every forget: a lookup that started before a sign-out or a change of roles must
# not cache what it read (it may be the old truth).
_epoch = 0


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def forget(token: str) -> None:
    """Drop a token (call on sign-out)."""
    global _epoch
    with _lock:
        _epoch += 1
        _entries.pop(_key(token), None)


def forget_user(user_id: int) -> None:
    """Drop every cached token of an account (its roles changed)."""
    global _epoch
    with _lock:
        _epoch += 1
        stale = [key for key, (_t, actor) in _entries.items() if actor.user_id == user_id]
        for key in stale:
            del _entries[key]


def clear() -> None:
    with _lock:
        _entries.clear()


MAX_BATCH = 500
MAX_LOOKUPS = 3  # lookups running at once (each on a worker thread)


def _lookup_many(database: Database, tokens: list[str]) -> dict[str, Actor]:
    with database.session(write=False) as db:
        return accounts_service.actors_for_tokens(db, tokens)


class _Batcher:
    """Coalesces concurrent misses of one event loop into batched lookups, up to
    ``MAX_LOOKUPS`` of them at once (one at a time, a miss arriving during a lookup
    waited for it to end and then for its own: 1.5 lookups on average)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending: dict[str, asyncio.Future[Actor]] = {}
        self.running = 0
        self.lookups = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def resolve(self, database: Database, token: str) -> Actor:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop, self.pending, self.running, self.tasks = loop, {}, 0, set()
        future = self.pending.get(token)
        if future is None:
            future = self.pending[token] = loop.create_future()
            if self.running < MAX_LOOKUPS:
                self.running += 1
                task = loop.create_task(self._drain(database, loop))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return await asyncio.shield(future)

    async def _drain(self, database: Database, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self.pending and self.loop is loop:
                tokens = list(self.pending)[:MAX_BATCH]
                batch = {token: self.pending.pop(token) for token in tokens}
                self.lookups += 1
                try:
                    found = await asyncio.to_thread(_lookup_many, database, tokens)
                except Exception as exc:
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for token, future in batch.items():
                    if not future.done():
                        future.set_result(found.get(token, ANONYMOUS))
        finally:
            if self.loop is loop:
                self.running -= 1


_batcher = _Batcher()


def cached(token: str) -> Actor | None:
    """The token's cached Actor, or None when it is not (or no longer) in the cache."""
    hit = _entries.get(_key(token))
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return None


def remember(token: str, actor: Actor, *, epoch: int | None = None) -> None:
    """Cache an Actor resolved elsewhere (any thread); anonymous ones are not kept, nor
    ones read before a forget that happened since ``epoch`` (``current_epoch()``)."""
    if not actor.is_authenticated:
        return
    with _lock:
        if epoch is not None and epoch != _epoch:
            return
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[_key(token)] = (time.monotonic() + TTL, actor)


async def actor_for_token(database: Database, token: str | None) -> Actor:
    """The token's Actor (anonymous when missing or invalid), cached for TTL s."""
    if not token or len(token) > 200:
        return ANONYMOUS
    actor = cached(token)
    if actor is None:
        epoch = _epoch
        actor = await _batcher.resolve(database, token)
        remember(token, actor, epoch=epoch)
    return actor


accounts_service.on_token_revoked(forget)  # sign-out drops the cached actor at once
accounts_service.on_actor_changed(forget_user)  # so does a change of roles

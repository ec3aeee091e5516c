"""Publish/subscribe for live pages, within one process and across processes.

    realtime.publish("room:12", {"type": "pin", ...}, db=session)   # any thread
    async with realtime.subscribe("room:12") as sub:                 # the event loop
        message = await sub.get(timeout=15)

Every process fans events out to its own subscribers (asyncio queues, one per client). A
message is encoded to JSON once, whatever the number of subscribers: delivering it costs one
``put_nowait`` per client. Queues are bounded; a client that falls behind has its queue
emptied and receives ``RESYNC`` instead, so it re-reads the state (a snapshot) and never
blocks anyone else. Streams handed over to the fan-out thread (``xiaodian.fanout``) get
each message as bytes on that thread instead and count as subscribers.

Across processes (several server processes on one database):

- ``redis``: Redis pub/sub, when ``settings.redis_url`` is set (channels named
  ``<settings.redis_prefix>rt:<channel>``, so deployments or tests sharing a server stay
  apart);
- ``outbox``: without Redis, on SQLite or PostgreSQL: each event is a row of ``live_events``
  (written in the publisher's transaction when ``db`` is given, so it exists only if that
  commits), polled by one task per process every ~200 ms and pruned after a few minutes;
- ``memory``: this process only (tests of the hub itself, scripts).

A process delivers its own events locally right after commit and skips them when they come
back from Redis or the outbox (``origin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Text, delete, event, func, insert, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from xiaodian import clock
from xiaodian.db import Base, Database
from xiaodian.fanout import Fanout

log = logging.getLogger(__name__)

DEFAULT_REDIS_PREFIX = "xd:"
POLL_SECONDS = 0.2
KEEP_MINUTES = 5
QUEUE_SIZE = 256
GAP_SECONDS = 3.0


class Message:
    """One event on one channel, encoded once for every subscriber."""

    __slots__ = ("channel", "data", "event", "sse")

    def __init__(self, channel: str, event: dict[str, Any], data: str | None = None) -> None:
        self.channel = channel
        self.event = event
        self.data = data if data is not None else json.dumps(event, ensure_ascii=False)
        kind = str(event.get("type", "message"))
        self.sse = f"event: {kind}\ndata: {self.data}\n\n".encode()

    @property
    def type(self) -> str:
        return str(self.event.get("type", "message"))


RESYNC = Message("", {"type": "resync"})
# A comment line every subscriber gets every ~15 s from the process's ticker (one shared
# message and no timer per client: 5,000 open streams would be 5,000 timers per event).
KEEPALIVE = Message("", {"type": "keepalive"})
KEEPALIVE.sse = b": keep-alive\n\n"


class Subscription:
    """A client's bounded queue of messages on one channel."""

    def __init__(self, channel: str, maxsize: int = QUEUE_SIZE) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.resyncs = 0

    def offer(self, message: Message) -> None:
        """Called on the loop thread; never blocks, never raises."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.resyncs += 1
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def get(self, wait: float | None = None) -> Message | None:
        """The next message, or None after ``wait`` seconds (time for a keep-alive)."""
        try:
            async with asyncio.timeout(wait):
                return await self.queue.get()
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        return await self.queue.get()


class Hub:
    """The process's fan-out plus one cross-process backend."""

    def __init__(self) -> None:
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.backend = "memory"
        self.database: Database | None = None
        self.redis_url = ""
        self.redis_channels = DEFAULT_REDIS_PREFIX + "rt:"
        self._redis: Any = None
        self._subs: dict[str, set[Subscription]] = {}
        self._listeners: list[Callable[[Message], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Streams handed over to a thread of their own (``xiaodian.fanout``).
        self.fanout = Fanout()
        self.running = False
        self.configured = False

    # ------------------------------------------------------------------ lifecycle

    def configure(
        self,
        *,
        backend: str,
        database: Database | None = None,
        redis_url: str = "",
        redis_prefix: str = DEFAULT_REDIS_PREFIX,
    ) -> None:
        if backend not in ("memory", "outbox", "redis"):
            raise ValueError(f"unknown realtime backend {backend!r}")
        if backend == "redis" and not redis_url:
            raise ValueError("the redis backend needs a redis_url")
        self.backend = backend
        self.database = database
        self.redis_url = redis_url
        self.redis_channels = redis_prefix + "rt:"
        self._redis = None
        self.configured = True

    async def start(self) -> None:
        """Start the cross-process listener on the running loop (idempotent)."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self.running = True
        self.fanout.start()
        if self.backend == "outbox" and self.database is not None:
            self._tasks.append(asyncio.create_task(self._poll_outbox()))
        elif self.backend == "redis":
            self._tasks.append(asyncio.create_task(self._listen_redis()))

    async def stop(self) -> None:
        self.running = False
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for task in self._tasks:
            with contextlib.suppress(RuntimeError):
                task.cancel()
        # Wait for them, but not forever: a Redis client cancelled while it connects can
        # hang in its own clean-up, and a server that cannot stop cannot start again.
        mine = [task for task in self._tasks if task.get_loop() is current]
        if mine:
            await asyncio.wait(mine, timeout=5)
        self._tasks.clear()
        self.fanout.stop()
        self._loop = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()
            self._redis = None

    # ------------------------------------------------------------------ publish

    def publish(self, channel: str, event_: dict[str, Any], *, db: Session | None = None) -> None:
        """Send ``event_`` to every subscriber of ``channel`` in every process.

        With ``db``, the event goes out only if that session's transaction commits (the
        outbox row is part of it; local and Redis delivery wait for the commit). Safe to
        call from any thread.
        """
        if not self.configured:
            # A process without the web app (a worker, a script): take the settings' choice;
            # outbox rows are then written through the caller's session only.
            from xiaodian import settings as settings_module

            current = settings_module.current()
            self.configure(
                backend="redis" if current.redis_url else "outbox",
                redis_url=current.redis_url,
                redis_prefix=current.redis_prefix,
            )
        message = Message(channel, event_)
        if db is not None:
            if self.backend == "outbox":
                db.execute(_insert_outbox(), [self._row(message)])
            if not db.info.get("xd_realtime_hooked"):
                db.info["xd_realtime_hooked"] = True
                event.listen(db, "after_commit", self._after_commit)
                event.listen(db, "after_rollback", self._after_rollback)
            db.info.setdefault("xd_realtime", []).append(message)
            return
        if self.backend == "outbox" and self.database is not None:
            with self.database.begin() as session:
                session.execute(insert(_outbox()), [self._row(message)])
        self._send(message)

    def publish_local(self, channel: str, event_: dict[str, Any]) -> None:
        """Deliver to this process's subscribers only (e.g. per-process viewer counts)."""
        self._deliver(Message(channel, event_))

    def _row(self, message: Message) -> dict[str, Any]:
        return {
            "channel": message.channel,
            "payload": message.data,
            "origin": self.origin,
            "created_at": clock.now(),
        }

    def _after_commit(self, session: Session) -> None:
        for message in session.info.pop("xd_realtime", None) or []:
            self._send(message)

    def _after_rollback(self, session: Session) -> None:
        session.info.pop("xd_realtime", None)

    def _send(self, message: Message) -> None:
        if self.backend == "redis":
            try:
                self._redis_client().publish(
                    self.redis_channels + message.channel,
                    json.dumps({"o": self.origin, "c": message.channel, "d": message.data}),
                )
            except Exception:  # Redis down: this process's viewers still get it
                log.exception("realtime: redis publish failed")
        self._deliver(message)

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def _deliver(self, message: Message) -> None:
        loop = self._loop
        if loop is not None and self.running:
            try:
                loop.call_soon_threadsafe(self._dispatch, message)
                return
            except RuntimeError:  # loop closed
                pass
        self._dispatch(message, subscribers=False)

    def _dispatch(self, message: Message, subscribers: bool = True) -> None:
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:
                log.exception("realtime listener failed")
        if not subscribers:
            return
        for sub in tuple(self._subs.get(message.channel, ())):
            sub.offer(message)
        self.fanout.publish(message.channel, message.sse)

    # ------------------------------------------------------------------ subscribe

    def add_listener(self, listener: Callable[[Message], None]) -> None:
        """Call ``listener`` (on the loop thread) for every message of every channel."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Message], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, maxsize: int = QUEUE_SIZE
    ) -> AsyncIterator[Subscription]:
        if not self.running or self._loop is not asyncio.get_running_loop():
            await self.stop()
            await self.start()
        sub = Subscription(channel, maxsize)
        self._subs.setdefault(channel, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[channel]

    def keepalive(self) -> None:
        """Offer ``KEEPALIVE`` to every subscriber of this process (on the loop thread)."""
        for subs in tuple(self._subs.values()):
            for sub in tuple(subs):
                sub.offer(KEEPALIVE)
        self.fanout.broadcast(KEEPALIVE.sse)

    def local_count(self, channel: str) -> int:
        return len(self._subs.get(channel, ())) + self.fanout.count(channel)

    def channels(self) -> list[str]:
        return list(set(self._subs) | set(self.fanout.channels()))

    # ------------------------------------------------------------------ backends

    async def _poll_outbox(self) -> None:
        assert self.database is not None
        database = self.database
        last = await asyncio.to_thread(_max_id, database)
        gaps: dict[int, float] = {}  # ids not seen yet (a transaction still open) -> give up at
        next_prune = time.monotonic() + 30
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                rows = await asyncio.to_thread(_fetch, database, last, list(gaps))
            except Exception:
                log.exception("realtime: outbox poll failed")
                continue
            now = time.monotonic()
            for row_id, channel, payload, origin in rows:
                gaps.pop(row_id, None)
                if row_id > last:
                    for missing in range(last + 1, min(row_id, last + 200)):
                        gaps[missing] = now + GAP_SECONDS
                    last = row_id
                if origin == self.origin:
                    continue
                try:
                    data = json.loads(payload)
                except ValueError:
                    continue
                self._dispatch(Message(channel, data, payload))
            for missing, deadline in list(gaps.items()):
                if deadline < now:
                    del gaps[missing]
            if now > next_prune:
                next_prune = now + 60
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_prune, database)

    async def _listen_redis(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                pubsub = client.pubsub()
                await pubsub.psubscribe(_glob_escape(self.redis_channels) + "*")
                async for raw in pubsub.listen():
                    if raw.get("type") != "pmessage":
                        continue
                    try:
                        wrapped = json.loads(raw["data"])
                        if wrapped["o"] == self.origin:
                            continue
                        self._dispatch(
                            Message(wrapped["c"], json.loads(wrapped["d"]), wrapped["d"])
                        )
                    except (ValueError, KeyError, TypeError):
                        continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime: redis subscription lost; reconnecting")
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis pattern (PSUBSCRIBE, SCAN MATCH)."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


class OutboxRow(Base):
    """The cross-process outbox of real-time events (no Redis): polled, pruned after
    minutes. Infrastructure with a table of its own (``domains.load_models`` finds it)."""

    __tablename__ = "live_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(60))
    payload: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


def _outbox() -> Any:
    return OutboxRow.__table__


@functools.cache
def _insert_outbox() -> Any:
    return insert(_outbox())


def _max_id(database: Database) -> int:
    with database.session(write=False) as session:
        return int(session.scalar(select(func.max(_outbox().c.id))) or 0)


def _fetch(database: Database, last: int, gaps: list[int]) -> list[tuple[int, str, str, str]]:
    table = _outbox()
    cond = table.c.id > last
    if gaps:
        cond = or_(cond, table.c.id.in_(gaps))
    with database.session(write=False) as session:
        rows = session.execute(
            select(table.c.id, table.c.channel, table.c.payload, table.c.origin)
            .where(cond)
            .order_by(table.c.id)
            .limit(2000)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _prune(database: Database) -> None:
    table = _outbox()
    with database.begin() as session:
        session.execute(
            delete(table).where(table.c.created_at < clock.now() - timedelta(minutes=KEEP_MINUTES))
        )


hub = Hub()


def configure_for(
    database: Database, redis_url: str = "", redis_prefix: str = DEFAULT_REDIS_PREFIX
) -> Hub:
    """Choose the backend from the settings: Redis when configured, else the outbox."""
    if redis_url:
        hub.configure(
            backend="redis", database=database, redis_url=redis_url, redis_prefix=redis_prefix
        )
    else:
        hub.configure(backend="outbox", database=database)
    return hub


def publish(channel: str, event_: dict[str, Any], *, db: Session | None = None) -> None:
    hub.publish(channel, event_, db=db)


def subscribe(channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
    return hub.subscribe(channel)

"""The live room's event stream (Server-Sent Events), viewer presence across processes and
the batched statistics the report is built from.

- ``stream`` sends a full ``snapshot`` on every (re)connection, then deltas from the room's
  channel, and a keep-alive comment every ~15 s. A client whose queue overflows is sent a
  fresh snapshot instead of the events it missed.
- Viewer counts: each process counts its own connections and publishes them every ~2 s on
  ``live:presence``; every process adds up the fresh counts (approximate within seconds).
- Statistics are counted in memory and written every few seconds in one transaction:
  distinct viewers and their watch time, product clicks, likes, the peak viewer count.

``lifespan`` (attached to the pages router, so merged into the app's) starts all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock, realtime
from xiaodian.content.live import flash_engine
from xiaodian.content.live import service as live_service
from xiaodian.content.live.models import LiveProductStat, LiveRoom, LiveViewer
from xiaodian.db import Database

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
PRESENCE_SECONDS = 2.0
FLUSH_SECONDS = 5.0
PRESENCE_CHANNEL = "live:presence"
MAX_LIKES_PER_CALL = 50


# --------------------------------------------------------------------------- statistics


class LiveStats:
    """Counters kept in memory and written in batches (``flush``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.viewers: dict[tuple[int, str], list[Any]] = {}  # -> [user_id, seconds]
        self.clicks: dict[tuple[int, int], int] = {}
        self.likes: dict[int, int] = {}
        self.peaks: dict[int, int] = {}

    def joined(self, room_id: int, key: str, user_id: int | None) -> None:
        with self._lock:
            entry = self.viewers.setdefault((room_id, key), [user_id, 0.0])
            entry[0] = entry[0] or user_id

    def left(self, room_id: int, key: str, seconds: float) -> None:
        with self._lock:
            entry = self.viewers.setdefault((room_id, key), [None, 0.0])
            entry[1] += max(0.0, seconds)

    def click(self, room_id: int, product_id: int) -> None:
        with self._lock:
            self.clicks[(room_id, product_id)] = self.clicks.get((room_id, product_id), 0) + 1

    def like(self, room_id: int, count: int) -> None:
        with self._lock:
            self.likes[room_id] = self.likes.get(room_id, 0) + count

    def peak(self, room_id: int, viewers: int) -> None:
        with self._lock:
            if viewers > self.peaks.get(room_id, 0):
                self.peaks[room_id] = viewers

    def take(self) -> tuple[dict[Any, Any], dict[Any, int], dict[int, int], dict[int, int]]:
        with self._lock:
            taken = (self.viewers, self.clicks, self.likes, self.peaks)
            self.viewers, self.clicks, self.likes, self.peaks = {}, {}, {}, {}
        return taken

    def flush(self, db: Session) -> None:
        """Write what was counted since the last flush, in one transaction; commits."""
        viewers, clicks, likes, peaks = self.take()
        if not (viewers or clicks or likes or peaks):
            return
        try:
            _write(db, viewers, clicks, likes, peaks)
            db.commit()
        except Exception:
            db.rollback()
            log.exception("live: could not write statistics")


def _insert(db: Session) -> Any:
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


def _write(
    db: Session,
    viewers: dict[tuple[int, str], list[Any]],
    clicks: dict[tuple[int, int], int],
    likes: dict[int, int],
    peaks: dict[int, int],
) -> None:
    insert = _insert(db)
    now = clock.now()
    rooms = set(
        db.scalars(
            select(LiveRoom.id).where(
                LiveRoom.id.in_(
                    {r for r, _k in viewers} | {r for r, _p in clicks} | set(likes) | set(peaks)
                )
            )
        )
    )
    rows = [
        {
            "room_id": room_id,
            "viewer_key": key[:64],
            "user_id": user_id,
            "watch_seconds": round(seconds),
            "first_seen": now,
            "last_seen": now,
        }
        for (room_id, key), (user_id, seconds) in sorted(viewers.items())
        if room_id in rooms
    ]
    if rows:
        stmt = insert(LiveViewer)
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["room_id", "viewer_key"],
                set_={
                    "watch_seconds": LiveViewer.watch_seconds + stmt.excluded.watch_seconds,
                    "last_seen": stmt.excluded.last_seen,
                },
            ),
            rows,
        )
    click_rows = [
        {"room_id": r, "product_id": p, "clicks": n}
        for (r, p), n in sorted(clicks.items())
        if r in rooms
    ]
    if click_rows:
        stmt = insert(LiveProductStat)
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["room_id", "product_id"],
                set_={"clicks": LiveProductStat.clicks + stmt.excluded.clicks},
            ),
            click_rows,
        )
    for room_id, count in sorted(likes.items()):
        if room_id not in rooms:
            continue
        total = db.execute(
            update(LiveRoom)
            .where(LiveRoom.id == room_id)
            .values(likes=LiveRoom.likes + count)
            .returning(LiveRoom.likes)
            .execution_options(synchronize_session=False)
        ).scalar()
        realtime.publish(live_service.channel(room_id), {"type": "likes", "total": total}, db=db)
    for room_id, peak in sorted(peaks.items()):
        if room_id in rooms:
            db.execute(
                update(LiveRoom)
                .where(LiveRoom.id == room_id, LiveRoom.peak_viewers < peak)
                .values(peak_viewers=peak)
                .execution_options(synchronize_session=False)
            )


stats = LiveStats()


def record_click(room_id: int, product_id: int) -> None:
    stats.click(room_id, product_id)


def record_likes(room_id: int, count: int) -> int:
    count = max(1, min(int(count), MAX_LIKES_PER_CALL))
    stats.like(room_id, count)
    return count


# --------------------------------------------------------------------------- presence


class Presence:
    """Viewer counts per room: this process's connections plus the others' reports."""

    def __init__(self) -> None:
        self.remote: dict[str, tuple[float, dict[int, int]]] = {}
        self.shown: dict[int, int] = {}

    def on_message(self, message: realtime.Message) -> None:
        if message.channel != PRESENCE_CHANNEL:
            return
        origin = str(message.event.get("origin", ""))
        if origin == realtime.hub.origin:
            return
        counts = {int(k): int(v) for k, v in (message.event.get("counts") or {}).items()}
        self.remote[origin] = (time.monotonic(), counts)

    def local(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for name in realtime.hub.channels():
            if name.startswith("room:"):
                out[int(name[5:])] = realtime.hub.local_count(name)
        return out

    def total(self, room_id: int) -> int:
        now = time.monotonic()
        count = realtime.hub.local_count(live_service.channel(room_id))
        for seen, counts in self.remote.values():
            if now - seen < PRESENCE_SECONDS * 4:
                count += counts.get(room_id, 0)
        return count

    def rooms(self) -> set[int]:
        now = time.monotonic()
        out = set(self.local())
        for seen, counts in self.remote.values():
            if now - seen < PRESENCE_SECONDS * 4:
                out |= {r for r, n in counts.items() if n}
        return out


presence = Presence()


# --------------------------------------------------------------------------- snapshots


class _Snapshots:
    """A room's snapshot, cached until the next event on its channel (5,000 viewers
    reconnecting at once read the database once, not 5,000 times)."""

    def __init__(self) -> None:
        self.generation: dict[int, int] = {}
        self.cached: dict[int, tuple[int, float, dict[str, Any]]] = {}

    def on_message(self, message: realtime.Message) -> None:
        if message.channel.startswith("room:"):
            room_id = int(message.channel[5:])
            self.generation[room_id] = self.generation.get(room_id, 0) + 1
            self.cached.pop(room_id, None)

    async def get(self, database: Database, room_id: int) -> dict[str, Any]:
        generation = self.generation.get(room_id, 0)
        hit = self.cached.get(room_id)
        if hit is not None and hit[0] == generation and time.monotonic() - hit[1] < 5:
            data = hit[2]
        else:
            data = await asyncio.to_thread(_read_snapshot, database, room_id)
            if self.generation.get(room_id, 0) == generation:
                self.cached[room_id] = (generation, time.monotonic(), data)
        data = dict(data)
        data["viewers"] = presence.total(room_id)
        engine = flash_engine.engine
        if engine is not None:
            sales = []
            for sale in data.get("sales", []):
                state = engine.states.get(sale["id"])
                if state is not None and state.remaining < sale["remaining"]:
                    sale = {**sale, "remaining": state.remaining}
                    sale["sold_out"] = sale["status"] == "running" and state.remaining <= 0
                sales.append(sale)
            data["sales"] = sales
        return data


def _read_snapshot(database: Database, room_id: int) -> dict[str, Any]:
    with database.session(write=False) as db:
        return live_service.snapshot(db, room_id)


snapshots = _Snapshots()


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def stream(
    database: Database, room_id: int, *, viewer_key: str, user_id: int | None
) -> AsyncIterator[bytes]:
    """The body of ``GET /live/{room_id}/events``."""
    async with realtime.subscribe(live_service.channel(room_id)) as sub:
        stats.joined(room_id, viewer_key, user_id)
        started = time.monotonic()
        try:
            yield b"retry: 2000\n\n"
            yield sse("snapshot", await snapshots.get(database, room_id))
            while True:
                message = await sub.get(KEEPALIVE_SECONDS)
                if message is None:
                    yield b": keep-alive\n\n"
                elif message is realtime.RESYNC:
                    yield sse("snapshot", await snapshots.get(database, room_id))
                else:
                    yield message.sse
        finally:
            stats.left(room_id, viewer_key, time.monotonic() - started)


_CLOSED = realtime.Message("", {"type": "closed"})
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


async def serve(
    database: Database,
    room_id: int,
    *,
    viewer_key: str,
    user_id: int | None,
    send: Any,
    receive: Any,
) -> None:
    """The same stream as ``stream``, written straight to the ASGI connection (the fast
    path): no middleware between the events and the socket, the queued messages of a
    client joined into one write, no timer per client (the ticker sends keep-alives), and
    one task per client waiting for its disconnect.

    On a plain HTTP/1.1 connection of a server that shows its asyncio transport (uvicorn),
    the connection is handed to the fan-out thread once the snapshot is written
    (``handover``): the event loop then spends nothing on this viewer's events."""
    transport = detachable_transport(send)
    if (
        transport is not None
        and realtime.hub.fanout.running
        and await handover(
            database,
            room_id,
            viewer_key=viewer_key,
            user_id=user_id,
            transport=transport,
            send=send,
            receive=receive,
        )
    ):
        return
    async with realtime.subscribe(live_service.channel(room_id)) as sub:
        stats.joined(room_id, viewer_key, user_id)
        started = time.monotonic()
        closed = False

        async def watch() -> None:
            nonlocal closed
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    closed = True
                    sub.offer(_CLOSED)
                    return

        watcher = asyncio.ensure_future(watch())
        queue = sub.queue
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            first = sse("snapshot", await snapshots.get(database, room_id))
            await send(
                {
                    "type": "http.response.body",
                    "body": b"retry: 2000\n\n" + first,
                    "more_body": True,
                }
            )
            while not closed:
                messages = [await queue.get()]
                while not queue.empty():
                    messages.append(queue.get_nowait())
                if closed:
                    break
                chunks = []
                for message in messages:
                    if message is realtime.RESYNC:
                        chunks.append(sse("snapshot", await snapshots.get(database, room_id)))
                    elif message is not _CLOSED:
                        chunks.append(message.sse)
                if chunks:
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            watcher.cancel()
            stats.left(room_id, viewer_key, time.monotonic() - started)


_DETACHED_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _HEADERS)
    + b"connection: close\r\n\r\n"
)


def detachable_transport(send: Any) -> asyncio.Transport | None:
    """The plain TCP transport behind ``send`` when it can be handed over: ``send`` is the
    server's own (uvicorn's ``RequestResponseCycle.send``, no middleware wrapping it),
    nothing is written yet, no TLS in the server. None otherwise."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    # asyncio's transports or uvloop's (which are not asyncio.Transport subclasses).
    if not all(
        callable(getattr(transport, name, None))
        for name in ("get_extra_info", "abort", "is_closing", "get_write_buffer_size")
    ):
        return None
    assert transport is not None
    if transport.is_closing():
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or sock.fileno() < 0:
        return None
    if transport.get_write_buffer_size():
        return None
    return transport


async def handover(
    database: Database,
    room_id: int,
    *,
    viewer_key: str,
    user_id: int | None,
    transport: asyncio.Transport,
    send: Any,
    receive: Any,
) -> bool:
    """Write the response head and the snapshot, then give the connection to the fan-out
    thread (a duplicate of its socket) and let the server forget it. False when it cannot
    be handed over after all (nothing written: the caller serves the stream itself).

    The subscription is held while the snapshot is read, so nothing published meanwhile
    is lost: its queue goes out after the snapshot, and from ``adopt`` on the fan-out
    thread has every event (both happen on the loop thread with no ``await`` between,
    so no event falls between them). The response has no length and ends when the
    connection closes (``connection: close``), as HTTP/1.1 allows."""
    channel = live_service.channel(room_id)
    async with realtime.subscribe(channel) as sub:
        chunks = [_DETACHED_HEAD, b"retry: 2000\n\n"]
        snapshot = sse("snapshot", await snapshots.get(database, room_id))
        while True:
            queued = []
            while not sub.queue.empty():
                queued.append(sub.queue.get_nowait())
            if realtime.RESYNC not in queued:
                break
            snapshot = sse("snapshot", await snapshots.get(database, room_id))
        # From here to ``adopt``, no await: check again what the snapshot's read may
        # have changed.
        if transport.is_closing():  # the viewer left meanwhile
            await _forgotten(receive)
            return True
        protocol = transport.get_protocol()
        owner = getattr(send, "__self__", None)
        if getattr(protocol, "cycle", owner) is not owner or getattr(protocol, "pipeline", None):
            # The client sent another request behind this one (pipelining): the server
            # still has to answer it, so the connection stays the server's.
            return False
        if realtime.hub.fanout.full():
            return False
        try:
            sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        except OSError:  # closed meanwhile, or out of descriptors: serve it on the loop
            return False
        sock.setblocking(False)
        chunks.append(snapshot)
        chunks.extend(m.sse for m in queued if m is not realtime.KEEPALIVE)
        stats.joined(room_id, viewer_key, user_id)
        started = time.monotonic()

        def closed() -> None:
            stats.left(room_id, viewer_key, time.monotonic() - started)

        try:
            realtime.hub.fanout.adopt(sock, channel, b"".join(chunks), closed)
        except RuntimeError:  # the fan-out stopped meanwhile (shutting down)
            sock.close()
            closed()
    # The server closes its descriptor; the socket stays open through the duplicate.
    transport.abort()
    await _forgotten(receive)
    return True


async def _forgotten(receive: Any) -> None:
    """Wait (a few seconds at most) until the server has seen its side of the connection
    close, so that it does not answer this request itself."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass


_known_rooms: set[tuple[int, int]] = set()


async def known_room(database: Database, room_id: int) -> bool:
    """Whether the room exists (rooms are never deleted: a yes is remembered)."""
    key = (id(database), room_id)
    if key in _known_rooms:
        return True
    if room_id > 0 and await asyncio.to_thread(room_exists, database, room_id):
        if len(_known_rooms) > 100_000:
            _known_rooms.clear()
        _known_rooms.add(key)
        return True
    return False


def room_exists(database: Database, room_id: int) -> bool:
    with database.session(write=False) as db:
        return db.scalar(select(func.count(LiveRoom.id)).where(LiveRoom.id == room_id)) == 1


# --------------------------------------------------------------------------- the ticker


class _Runtime:
    def __init__(self) -> None:
        self.database: Database | None = None
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None


runtime = _Runtime()


async def _tick(database: Database) -> None:
    next_presence = 0.0
    next_flush = time.monotonic() + FLUSH_SECONDS
    next_keepalive = time.monotonic() + KEEPALIVE_SECONDS
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        try:
            if now >= next_keepalive:
                next_keepalive = now + KEEPALIVE_SECONDS
                realtime.hub.keepalive()
            if now >= next_presence:
                next_presence = now + PRESENCE_SECONDS
                local = presence.local()
                if realtime.hub.backend != "memory" and (local or presence.shown):
                    await asyncio.to_thread(
                        realtime.publish,
                        PRESENCE_CHANNEL,
                        {"type": "presence", "origin": realtime.hub.origin, "counts": local},
                    )
                for room_id in presence.rooms() | set(presence.shown):
                    total = presence.total(room_id)
                    stats.peak(room_id, total)
                    if presence.shown.get(room_id) != total:
                        presence.shown[room_id] = total
                        realtime.hub.publish_local(
                            live_service.channel(room_id), {"type": "viewers", "count": total}
                        )
                    if total == 0:
                        presence.shown.pop(room_id, None)
            if now >= next_flush:
                next_flush = now + FLUSH_SECONDS
                await asyncio.to_thread(flush_stats, database)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live: ticker failed")


def flush_stats(database: Database) -> None:
    with database.session() as db:
        stats.flush(db)


GC_GEN0 = 50_000


def _tune_gc() -> None:
    """Thousands of open event streams are hundreds of thousands of long-lived objects:
    with the default thresholds the collector walks them many times a second (measured:
    the loop spent most of a flash sale in ``gc_collect``). Collect young objects less
    often, and freeze what exists at start-up out of the collector's way."""
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 < GC_GEN0:
        gc.set_threshold(GC_GEN0, max(gen1, 20), max(gen2, 20))
    gc.freeze()


async def ensure_started(app: FastAPI) -> None:
    """Start the hub, the flash engine and the ticker for this app on this loop (idempotent;
    the lifespan calls it, and so do the endpoints for apps run without one)."""
    database: Database = app.state.db
    loop = asyncio.get_running_loop()
    if runtime.database is database and runtime.loop is loop:
        return
    if runtime.database is not None:  # another app's or another loop's runtime
        await stop_runtime()
    settings = app.state.settings
    _tune_gc()
    realtime.configure_for(database, settings.redis_url, settings.redis_prefix)
    await realtime.hub.start()
    realtime.hub.add_listener(presence.on_message)
    realtime.hub.add_listener(snapshots.on_message)
    flash_engine.start_engine(database)
    runtime.database, runtime.loop = database, loop
    runtime.task = asyncio.create_task(_tick(database))


async def stop_runtime() -> None:
    if runtime.task is not None:
        runtime.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception, RuntimeError):
            if runtime.loop is asyncio.get_running_loop():
                await runtime.task
        runtime.task = None
    flash_engine.stop_engine()
    # Close the handed-over streams first: their watch time is counted as they close.
    await asyncio.to_thread(realtime.hub.fanout.stop)
    if runtime.database is not None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(flush_stats, runtime.database)
    await realtime.hub.stop()
    runtime.database = runtime.loop = None
    presence.remote.clear()
    presence.shown.clear()
    snapshots.cached.clear()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await ensure_started(app)
    try:
        yield
    finally:
        await stop_runtime()

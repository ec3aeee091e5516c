"""Event streams written by a thread of their own.

A live room with thousands of viewers turns every event into thousands of socket writes.
Done on the event loop (a task and a queue per viewer), one event to 5,000 viewers holds
the loop for a hundred milliseconds or more while buyers wait for their answer. So once a
stream's first bytes (headers, snapshot) are ready, its connection is handed to this
thread (``adopt``): it writes each event to every socket of the channel with plain
non-blocking ``send`` calls, which release the GIL, so the kernel's share of the work
(most of it: on loopback a send also runs the receiver's side) goes on beside the event
loop; it notices closed connections; and it closes a connection whose reader falls
``MAX_PENDING`` bytes behind (a browser's EventSource reconnects and starts again from a
fresh snapshot, so nothing is silently lost).

Events queued between two wake-ups are joined: one ``send`` per connection per wake-up.

The sends hold the GIL. ``socket.send`` releases it around the system call, and getting it
back while the event loop is busy waits for the interpreter's switch interval: 5,000 sends
took seconds (measured: 2,000 sends to socket pairs, 3.6 ms with an idle main thread,
1,400 ms with a busy one). libc's ``send`` called through ``ctypes.PyDLL`` keeps the GIL
(11 ms for the same 2,000 with a busy main thread); the interpreter still hands the GIL
to the event loop every switch interval, so buyers are served between slices of a
fan-out instead of after all of it. Where libc's ``send`` cannot be found, ``socket.send``.

A pass over thousands of connections pauses every ``SLICE`` sends (see there).

The event loop only ever appends to the inbox and writes one byte to a socket pair; the
thread owns the connections. ``realtime.Hub`` feeds it (``publish``, ``broadcast``) and
counts its connections as the process's viewers.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_PENDING = 64 * 1024  # bytes a connection may lag behind before it is closed
# Connections one process takes over; beyond, streams are served on the event loop (the
# server's own limits apply to those). Handed-over connections are no longer counted by
# the server (uvicorn's --limit-concurrency).
MAX_CONNECTIONS = 20_000
# A pass over a channel's connections pauses after every SLICE sends, so the event loop
# (buyers) gets the GIL for a while: 5,000 viewers are 25 slices of ~4 ms, ~0.2 s in all.
# Measured (bench/live_flash_sale.py, 5,000 viewers): buyers' p99 206 ms without pauses,
# 49-77 ms with; the events' delay p99 156 ms without, 340-380 ms with. What is published
# during a pass waits for the next one, joined into one write per connection.
SLICE = 200
PAUSE = 0.005


_RETRY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


def _native_send() -> Callable[[int, bytes], int] | None:
    """libc's ``send(2)`` called with the GIL held: bytes sent (0 when the socket's buffer
    is full); raises OSError when the connection is gone."""
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        function = libc.send
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_ssize_t
    flags = getattr(socket, "MSG_DONTWAIT", 0) | getattr(socket, "MSG_NOSIGNAL", 0)

    def send(fd: int, data: bytes) -> int:
        sent = int(function(fd, data, len(data), flags))
        if sent >= 0:
            return sent
        code = ctypes.get_errno()
        if code in _RETRY:
            return 0
        raise OSError(code, os.strerror(code))

    return send


_send_holding_gil = _native_send()


class _Conn:
    __slots__ = ("channel", "closed", "fd", "on_close", "pending", "sock")

    def __init__(self, sock: socket.socket, channel: str, on_close: Callable[[], None]) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.channel = channel
        self.on_close = on_close
        self.pending = bytearray()
        self.closed = False


class Fanout:
    """One thread writing the events of adopted connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inbox: collections.deque[tuple[Any, ...]] = collections.deque()
        self._counts: dict[str, int] = {}  # adopted and not yet closed, per channel
        self._total = 0
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._channels: dict[str, set[_Conn]] = {}  # the thread's own
        self.closed_slow = 0  # connections closed because their reader fell behind

    # ------------------------------------------------------------------ any thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._inbox.clear()
        self._thread = threading.Thread(target=self._run, name="event-fanout", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every adopted connection and end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._post(("stop",))
        thread.join(timeout=5)
        if not thread.is_alive():  # else it still owns its state: no second thread yet
            self._thread = None

    def full(self) -> bool:
        return self._total >= MAX_CONNECTIONS

    def adopt(
        self, sock: socket.socket, channel: str, first: bytes, on_close: Callable[[], None]
    ) -> None:
        """Take over ``sock`` (non-blocking, already past the request): write ``first``,
        then every event of ``channel`` published after this call, until it closes;
        ``on_close`` is called once, on the fan-out thread, when it does. Raises
        ``RuntimeError`` when the thread is not running (the caller keeps the stream)."""
        if not self.running:
            raise RuntimeError("the fan-out thread is not running")
        with self._lock:
            self._counts[channel] = self._counts.get(channel, 0) + 1
            self._total += 1
        self._post(("add", _Conn(sock, channel, on_close), first))

    def publish(self, channel: str, data: bytes) -> None:
        if self._counts.get(channel):
            self._post(("msg", channel, data))

    def broadcast(self, data: bytes) -> None:
        """To every connection (keep-alives)."""
        if self._counts:
            self._post(("all", data))

    def count(self, channel: str) -> int:
        return self._counts.get(channel, 0)

    def channels(self) -> list[str]:
        with self._lock:
            return [name for name, n in self._counts.items() if n]

    def _post(self, item: tuple[Any, ...]) -> None:
        self._inbox.append(item)
        wake = self._wake_w
        if wake is not None:
            # A full buffer means a wake-up is pending already.
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        try:
            while True:
                for key, mask in selector.select():
                    conn = key.data
                    if conn is None:
                        self._drain_wake()
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(conn)
                    if mask & selectors.EVENT_WRITE and not conn.closed:
                        self._flush(conn)
                if not self._take_inbox():
                    break
        except Exception:
            log.exception("fanout: the thread failed")
        finally:
            self._close_all()

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _take_inbox(self) -> bool:
        """Handle what the other threads posted, in order; False on stop."""
        pending: dict[str, list[bytes]] = {}
        while True:
            try:
                item = self._inbox.popleft()
            except IndexError:
                break
            kind = item[0]
            if kind == "msg":
                pending.setdefault(item[1], []).append(item[2])
            elif kind == "add":
                conn: _Conn = item[1]
                # What was published before this connection was adopted is in its first
                # bytes already: send the channel's backlog to the others first.
                self._write_channel(conn.channel, pending.pop(conn.channel, None))
                self._add(conn, item[2])
            elif kind == "all":
                for name in self._channels:
                    pending.setdefault(name, []).append(item[1])
            elif kind == "stop":
                return False
        for name, chunks in pending.items():
            self._write_channel(name, chunks)
        return True

    def _write_channel(self, channel: str, chunks: list[bytes] | None) -> None:
        if not chunks:
            return
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        for i, conn in enumerate(tuple(self._channels.get(channel, ()))):
            if i and i % SLICE == 0:
                time.sleep(PAUSE)
            self._send(conn, data)

    def _add(self, conn: _Conn, first: bytes) -> None:
        assert self._selector is not None
        self._channels.setdefault(conn.channel, set()).add(conn)
        try:
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        except (OSError, ValueError):
            self._close(conn)
            return
        self._send(conn, first)

    def _send(self, conn: _Conn, data: bytes) -> None:
        if conn.closed:
            return
        if conn.pending:
            if len(conn.pending) + len(data) > MAX_PENDING:
                self.closed_slow += 1
                self._close(conn)
            else:
                conn.pending += data
            return
        try:
            if _send_holding_gil is not None:
                sent = _send_holding_gil(conn.fd, data)
            else:
                sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(data):
            conn.pending += data[sent:]
            self._watch(conn, write=True)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        del conn.pending[:sent]
        if not conn.pending:
            self._watch(conn, write=False)

    def _watch(self, conn: _Conn, *, write: bool) -> None:
        assert self._selector is not None
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
        try:
            self._selector.modify(conn.sock, events, conn)
        except (OSError, ValueError, KeyError):
            self._close(conn)

    def _read(self, conn: _Conn) -> None:
        """A viewer sends nothing after its request (EventSource never does): EOF or any
        data closes the connection, so a client cannot keep this thread busy reading."""
        try:
            conn.sock.recv(1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        if self._selector is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self._selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        members = self._channels.get(conn.channel)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._channels[conn.channel]
        with self._lock:
            self._total -= 1
            left = self._counts.get(conn.channel, 0) - 1
            if left > 0:
                self._counts[conn.channel] = left
            else:
                self._counts.pop(conn.channel, None)
        try:
            conn.on_close()
        except Exception:
            log.exception("fanout: on_close failed")

    def _close_all(self) -> None:
        for members in list(self._channels.values()):
            for conn in list(members):
                self._close(conn)
        while self._inbox:  # adopted, never reached the thread
            item = self._inbox.popleft()
            if item[0] == "add":
                self._close(item[1])
        if self._selector is not None:
            self._selector.close()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None
        self._selector = None

"""The fan-out thread that writes adopted event streams (``xiaodian.fanout``), on real
sockets: order, closing, slow readers, keep-alives, shutting down."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from xiaodian import fanout as fanout_module
from xiaodian import realtime
from xiaodian.fanout import Fanout

_peers: list[Peer] = []


@pytest.fixture(autouse=True)
def _close_peers() -> Iterator[None]:
    yield
    while _peers:
        _peers.pop().client.close()


@pytest.fixture
def fan() -> Iterator[Fanout]:
    f = Fanout()
    f.start()
    try:
        yield f
    finally:
        f.stop()


class Peer:
    """The viewer's end of a socket pair; the server's end is adopted."""

    def __init__(self, fan: Fanout, channel: str, first: bytes = b"hello\n") -> None:
        self.client, server = socket.socketpair()
        _peers.append(self)
        server.setblocking(False)
        self.client.settimeout(5)
        self.closed = threading.Event()
        self.close_calls = 0

        def on_close() -> None:
            self.close_calls += 1
            self.closed.set()

        fan.adopt(server, channel, first, on_close)

    def read_until(self, expected: bytes, seconds: float = 5.0) -> bytes:
        buf = b""
        deadline = time.monotonic() + seconds
        while expected not in buf:
            assert time.monotonic() < deadline, f"never got {expected!r}; got {buf!r}"
            chunk = self.client.recv(65536)
            assert chunk, f"closed before {expected!r}; got {buf!r}"
            buf += chunk
        return buf


def wait(test: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_first_bytes_then_the_channels_events_in_order(fan: Fanout) -> None:
    fan.publish("room:1", b"before\n")  # nobody adopted yet: dropped, not queued
    a = Peer(fan, "room:1", b"snapshot-a\n")
    b = Peer(fan, "room:2", b"snapshot-b\n")
    for i in range(50):
        fan.publish("room:1", f"e{i}\n".encode())
    fan.publish("room:2", b"other\n")
    got = a.read_until(b"e49\n")
    assert got.startswith(b"snapshot-a\n") and b"before" not in got
    assert [line for line in got.split(b"\n") if line.startswith(b"e")] == [
        f"e{i}".encode() for i in range(50)
    ]
    assert b"other" not in got
    assert b.read_until(b"other\n") == b"snapshot-b\nother\n"
    assert fan.count("room:1") == 1 and sorted(fan.channels()) == ["room:1", "room:2"]


def test_a_viewer_that_leaves_is_noticed_once(fan: Fanout) -> None:
    a = Peer(fan, "room:1")
    stays = Peer(fan, "room:1")
    a.read_until(b"hello\n")
    assert fan.count("room:1") == 2
    a.client.close()
    assert a.closed.wait(5)
    wait(lambda: fan.count("room:1") == 1)
    fan.publish("room:1", b"still here\n")
    assert stays.read_until(b"still here\n").endswith(b"still here\n")
    assert a.close_calls == 1 and not stays.closed.is_set()


def test_a_reader_too_far_behind_is_closed_and_the_others_go_on(
    fan: Fanout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout_module, "MAX_PENDING", 64 * 1024)
    slow = Peer(fan, "room:1")
    fast = Peer(fan, "room:1")
    reader_stop = threading.Event()
    received = bytearray()

    def read_fast() -> None:
        fast.client.settimeout(0.2)
        while not reader_stop.is_set():
            try:
                chunk = fast.client.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                return
            received.extend(chunk)

    thread = threading.Thread(target=read_fast, daemon=True)
    thread.start()
    try:
        block = b"x" * 16 * 1024 + b"\n"
        for _ in range(400):  # ~6.5 MB: far beyond the slow one's socket buffers
            fan.publish("room:1", block)
            if slow.closed.is_set():
                break
            time.sleep(0.001)
        assert slow.closed.wait(5), "the slow reader was never closed"
        assert fan.closed_slow >= 1
        fan.publish("room:1", b"end\n")
        wait(lambda: received.endswith(b"end\n"))
        assert not fast.closed.is_set()
    finally:
        reader_stop.set()
        thread.join(2)
    # the slow viewer sees the end of its stream once it reads what it was sent
    slow.client.settimeout(5)
    while slow.client.recv(1 << 20):
        pass


def test_keepalive_goes_to_every_channel(fan: Fanout) -> None:
    a, b = Peer(fan, "room:1", b""), Peer(fan, "room:2", b"")
    fan.broadcast(b": keep-alive\n\n")
    assert a.read_until(b"keep-alive") == b": keep-alive\n\n"
    assert b.read_until(b"keep-alive") == b": keep-alive\n\n"


def test_stop_closes_every_connection_and_adopting_after_raises() -> None:
    fan = Fanout()
    fan.start()
    peers = [Peer(fan, "room:1") for _ in range(3)]
    for peer in peers:
        peer.read_until(b"hello\n")
    fan.stop()
    for peer in peers:
        assert peer.closed.is_set() and peer.close_calls == 1
        assert peer.client.recv(10) == b""  # end of the stream
    assert fan.count("room:1") == 0 and not fan.running
    client, server = socket.socketpair()
    with pytest.raises(RuntimeError):
        fan.adopt(server, "room:1", b"", lambda: None)
    client.close()
    server.close()


def test_hub_counts_and_feeds_adopted_streams() -> None:
    asyncio.run(_hub_counts_and_feeds_adopted_streams())


async def _hub_counts_and_feeds_adopted_streams() -> None:
    hub = realtime.Hub()
    hub.configure(backend="memory")
    await hub.start()
    try:
        peer = Peer(hub.fanout, "room:9", b"")
        async with hub.subscribe("room:9") as sub:
            assert hub.local_count("room:9") == 2
            assert "room:9" in hub.channels()
            hub.publish("room:9", {"type": "pin", "n": 1})
            message = await sub.get(5)
            assert message is not None and message.event == {"type": "pin", "n": 1}
        got = peer.read_until(b"\n\n")
        assert got == b'event: pin\ndata: {"type": "pin", "n": 1}\n\n'
        hub.keepalive()
        assert peer.read_until(b"keep-alive") == b": keep-alive\n\n"
    finally:
        await hub.stop()
    assert peer.closed.is_set()

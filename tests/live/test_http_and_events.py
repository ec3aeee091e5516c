"""Live rooms over HTTP: pages, the JSON API, buying through the web engine, the event
stream on real server processes (two of them on one SQLite file: an event raised through
one reaches a viewer connected to the other)."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.live.conftest import Scene, add_address, sale_row, stock
from tests.servers import Server, bearer_token, free_port
from xiaodian.content.live.models import FlashSaleOrder, LiveProductStat, LiveViewer


def test_pages_render_for_viewer_host_and_stranger(
    db: Any, scene: Scene, login_client: Any, make_user: Any, client: Any
) -> None:
    r = client.get(f"/live/{scene.room_id}")
    assert r.status_code == 200
    for marker in ("flash-remaining", "flash-buy", "pinned-product", "viewer-count", "618 直播"):
        assert marker in r.text
    assert client.get("/live/999999").status_code == 404
    host = login_client(scene.host)
    page = host.get(f"/live/{scene.room_id}/host")
    assert page.status_code == 200 and 'id="go-live"' in page.text
    stranger = login_client(make_user())
    assert stranger.get(f"/live/{scene.room_id}/host").status_code == 404
    assert stranger.get(f"/live/{scene.room_id}/report").status_code == 404
    r = stranger.post(
        f"/live/{scene.room_id}/host/go-live",
        data={"csrf_token": stranger.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert r.status_code == 404
    assert client.get(f"/live/{scene.room_id}/host", follow_redirects=False).status_code == 303
    # the host goes live through the form; the console shows the sale form
    r = host.post(
        f"/live/{scene.room_id}/host/go-live",
        data={"csrf_token": host.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = host.post(
        f"/live/{scene.room_id}/host/sales",
        data={
            "csrf_token": host.cookies.get("xd_csrf", ""),
            "product_id": str(scene.product.id),
            "sku_id": str(scene.sku_id),
            "price": "19.90",  # not below the regular price
            "quantity": "5",
            "per_buyer_limit": "1",
            "duration_minutes": "5",
        },
    )
    assert r.status_code == 422 and "原价" in r.text
    r = host.post(
        f"/live/{scene.room_id}/host/sales",
        data={
            "csrf_token": host.cookies.get("xd_csrf", ""),
            "product_id": str(scene.product.id),
            "sku_id": str(scene.sku_id),
            "price": "9.90",
            "quantity": "5",
            "per_buyer_limit": "1",
            "duration_minutes": "5",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = host.get(f"/live/{scene.room_id}/host")
    assert 'id="start-sale"' in page.text
    assert host.get(f"/live/{scene.room_id}/report").status_code == 200
    studio = host.get("/studio/live")
    assert studio.status_code == 200 and "618 直播" in studio.text
    shop_page = host.get(f"/merchant/shops/{scene.shop.id}/live")
    assert shop_page.status_code == 200


@pytest.fixture
def bearer(app: Any, database: Any, db: Any) -> Iterator[Any]:
    """bearer(user) -> a started TestClient with the user's token (closed at the end)."""
    from fastapi.testclient import TestClient

    clients: list[Any] = []

    def _client(user: Any) -> Any:
        db.rollback()
        c = TestClient(app, headers={"Authorization": f"Bearer {bearer_token(database, user)}"})
        c.__enter__()
        clients.append(c)
        return c

    yield _client
    for c in clients:
        c.__exit__(None, None, None)


def test_api_room_flow_and_buy(
    db: Any, database: Any, scene: Scene, bearer: Any, make_user: Any, app: Any
) -> None:
    from fastapi.testclient import TestClient

    host = bearer(scene.host)
    base = f"/api/v1/live/rooms/{scene.room_id}"
    assert host.post(f"{base}/go-live").status_code == 200
    assert host.post(f"{base}/go-live").status_code == 409
    r = host.post(
        f"{base}/flash-sales",
        json={
            "product_id": scene.product.id,
            "sku_id": scene.sku_id,
            "price_fen": 990,
            "quantity": 3,
            "per_buyer_limit": 1,
            "duration_seconds": 600,
        },
    )
    assert r.status_code == 201, r.text
    sale_id = r.json()["id"]
    buyer = make_user()
    add_address(db, buyer)
    db.rollback()
    with TestClient(app, headers={"Authorization": f"Bearer {bearer_token(database, buyer)}"}) as c:
        buy = f"{base}/flash-sales/{sale_id}/buy"
        assert c.post(buy, json={"quantity": 1}).status_code == 409  # not started
        assert host.post(f"{base}/flash-sales/{sale_id}/start").status_code == 200
        for bad in (0, "x", -1, 1.5):
            assert c.post(buy, json={"quantity": bad}).status_code == 422
        assert (
            c.post(buy, content=b"nope", headers={"Content-Type": "application/json"}).status_code
            == 422
        )
        assert c.post(f"{base}/flash-sales/99999/buy", json={"quantity": 1}).status_code == 404
        r = c.post(buy, json={"quantity": 1})
        assert r.status_code == 201, r.text
        assert r.json()["pay_url"] == f"/pay?orders={r.json()['order_no']}"
        assert r.json()["remaining"] == 2
        again = c.post(buy, json={"quantity": 1})
        assert again.status_code == 409 and again.json()["error"]["code"] == "limit_reached"
        others = []
        for _ in range(3):
            u = make_user()
            add_address(db, u)
            db.rollback()
            others.append(bearer_token(database, u))
        codes = []
        for token in others:
            r = c.post(buy, json={"quantity": 1}, headers={"Authorization": f"Bearer {token}"})
            codes.append((r.status_code, r.json().get("error", {}).get("code")))
        assert codes == [(201, None), (201, None), (409, "sold_out")]
    assert sale_row(db, sale_id).remaining == 0
    assert db.scalar(select(func.count(FlashSaleOrder.id))) == 3
    assert stock(db, scene.sku_id) == (97, 3, 0, 100)
    with TestClient(app) as anonymous:
        r = anonymous.post(f"{base}/flash-sales/{sale_id}/buy", json={"quantity": 1})
        assert r.status_code == 401
    # others cannot drive the room
    stranger = bearer(make_user())
    assert stranger.post(f"{base}/end").status_code == 404
    assert stranger.post(f"{base}/pin", json={"product_id": scene.product.id}).status_code == 404
    assert stranger.get(f"{base}/report").status_code == 404
    assert stranger.post(f"{base}/comments", json={"body": "好看"}).status_code == 201
    assert stranger.post(f"{base}/comments", json={"body": ""}).status_code == 422
    assert host.post(f"{base}/pin", json={"product_id": 999999}).status_code == 404
    report = host.get(f"{base}/report").json()
    assert report["orders"] == 3 and report["paid_orders"] == 0 and report["comments"] == 1


def test_room_create_validation_over_api(db: Any, scene: Scene, bearer: Any) -> None:
    host = bearer(scene.host)
    body = {
        "title": "新直播",
        "scheduled_at": "2026-07-01T20:00:00+08:00",
        "shop_id": scene.shop.id,
        "stream_url": "rtmp://x/y",
        "product_ids": [scene.product.id],
    }
    assert host.post("/api/v1/live/rooms", json=body).status_code == 422
    body["stream_url"] = "https://cdn.example.com/a.m3u8"
    r = host.post("/api/v1/live/rooms", json=body)
    assert r.status_code == 201 and r.json()["status"] == "scheduled"
    body["shop_id"] = scene.shop.id + 100
    assert host.post("/api/v1/live/rooms", json=body).status_code == 404
    assert host.post("/api/v1/live/rooms", json={"title": "x"}).status_code == 422


def test_report_on_a_small_scripted_live(db: Any, scene: Scene, make_user: Any, clock: Any) -> None:
    from tests.live.conftest import actor_for
    from xiaodian.content.live import events, flash_purchase
    from xiaodian.content.live import service as live
    from xiaodian.orders import service as orders_service

    scene.live(db)
    sale_id = scene.sale(db, quantity=5, limit=1, duration=3600)
    viewers = [make_user() for _ in range(4)]
    for v in viewers:
        add_address(db, v)
    # 4 signed-in viewers and 1 anonymous one watch; 2 of them open the product card
    for i, v in enumerate(viewers):
        events.stats.joined(scene.room_id, f"u:{v.id}", v.id)
        events.stats.left(scene.room_id, f"u:{v.id}", 60.0 * (i + 1))
    events.stats.joined(scene.room_id, "a:abcdef0123", None)
    events.stats.left(scene.room_id, "a:abcdef0123", 30.0)
    events.stats.peak(scene.room_id, 5)
    events.record_click(scene.room_id, scene.product.id)
    events.record_click(scene.room_id, scene.product.id)
    events.record_likes(scene.room_id, 7)
    events.stats.flush(db)
    # the same viewer again later: still one distinct viewer, more watch time
    events.stats.left(scene.room_id, f"u:{viewers[0].id}", 60.0)
    events.stats.flush(db)
    paid = []
    for v in viewers[:3]:
        done = flash_purchase.buy(
            db, actor_for(v), room_id=scene.room_id, sale_id=sale_id, quantity=1
        )
        paid.append(done.order_no)
    for no in paid[:2]:
        order = orders_service.get_order_by_no(db, order_no=no)
        orders_service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref=no)
        db.commit()
    live.transition(db, scene.host_actor, scene.room_id, "end")
    report = live.report(db, scene.host_actor, scene.room_id)
    assert report.total_viewers == 5
    assert report.peak_viewers == 5
    assert report.watch_seconds == 60 + 120 + 180 + 240 + 30 + 60
    assert report.clicks == 2
    assert report.likes == 7
    assert (report.orders, report.paid_orders, report.buyers) == (3, 2, 2)
    assert report.gmv_fen == 2 * 990
    assert report.conversion == pytest.approx(2 / 5)
    row = report.rows[0]
    assert (row.product_id, row.clicks, row.orders, row.units, row.gmv_fen) == (
        scene.product.id,
        2,
        3,
        2,
        1980,
    )
    assert db.scalar(select(func.count(LiveViewer.id))) == 5
    assert db.scalar(select(LiveProductStat.clicks)) == 2


# --------------------------------------------------------------------------- real servers


class Viewer:
    """Reads a room's event stream in a thread, collecting the events."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        kind = "message"
        with httpx.Client(timeout=httpx.Timeout(5, read=30)) as c, c.stream("GET", url) as r:
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    with self.lock:
                        self.events.append((kind, json.loads(line[6:])))

    def wait_for(self, kind: str, test: Any = None, seconds: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                for k, data in self.events:
                    if k == kind and (test is None or test(data)):
                        return data
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event; got {[k for k, _d in self.events]}")

    def close(self) -> None:
        self._stop.set()


@pytest.fixture
def servers(
    backend: str, database: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Server]]:
    if backend != "sqlite":
        pytest.skip("the two-process test runs on the SQLite file (PostgreSQL: same code path)")
    redis = request.getfixturevalue("redis_target") if getattr(request, "param", "") else None
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            started.append(Server(tmp_path, database.url, name, redis))
        yield started
    finally:
        for server in started:
            server.stop()


def _two_process_events(
    db: Any, database: Any, scene: Scene, servers: list[Server], make_user: Any
) -> None:
    a, b = servers
    host = {"Authorization": f"Bearer {bearer_token(database, scene.host)}"}
    base = f"/api/v1/live/rooms/{scene.room_id}"
    viewer = Viewer(f"{b.url}/live/{scene.room_id}/events")
    try:
        snap = viewer.wait_for("snapshot")
        assert snap["room"]["status"] == "scheduled" and snap["pinned"] is None
        assert httpx.post(a.url + base + "/go-live", headers=host).status_code == 200
        viewer.wait_for("room", lambda d: d["room"]["status"] == "live")
        r = httpx.post(a.url + base + "/pin", json={"product_id": scene.product.id}, headers=host)
        assert r.status_code == 200
        pinned = viewer.wait_for("pin")
        assert pinned["product"]["id"] == scene.product.id
        r = httpx.post(
            a.url + base + "/flash-sales",
            json={
                "product_id": scene.product.id,
                "sku_id": scene.sku_id,
                "price_fen": 990,
                "quantity": 2,
                "per_buyer_limit": 1,
                "duration_seconds": 600,
            },
            headers=host,
        )
        sale_id = r.json()["id"]
        assert (
            httpx.post(f"{a.url}{base}/flash-sales/{sale_id}/start", headers=host).status_code
            == 200
        )
        viewer.wait_for("sale", lambda d: d["sale"]["status"] == "running")
        buyers = []
        for _ in range(3):
            u = make_user()
            add_address(db, u)
            db.rollback()
            buyers.append({"Authorization": f"Bearer {bearer_token(database, u)}"})
        results = [
            httpx.post(f"{a.url}{base}/flash-sales/{sale_id}/buy", json={"quantity": 1}, headers=h)
            for h in buyers[:2]
        ]
        assert [r.status_code for r in results] == [201, 201]
        viewer.wait_for("sale_progress", lambda d: d["remaining"] == 0)
        # process B learned the sale sold out from the event: answered from memory
        r = httpx.post(
            f"{b.url}{base}/flash-sales/{sale_id}/buy", json={"quantity": 1}, headers=buyers[2]
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "sold_out"
        # a viewer reconnecting gets the current state in its first event
        again = Viewer(f"{a.url}/live/{scene.room_id}/events")
        try:
            snap = again.wait_for("snapshot")
            assert snap["pinned"]["id"] == scene.product.id
            assert snap["sales"][0]["remaining"] == 0 and snap["sales"][0]["sold_out"]
        finally:
            again.close()
        viewer.wait_for("viewers", lambda d: d["count"] >= 1)
    finally:
        viewer.close()


def test_two_server_processes_share_events(
    db: Any, database: Any, scene: Scene, servers: list[Server], make_user: Any
) -> None:
    _two_process_events(db, database, scene, servers, make_user)


@pytest.mark.redis
@pytest.mark.parametrize("servers", ["redis"], indirect=True)
def test_two_server_processes_share_events_over_redis(
    db: Any, database: Any, scene: Scene, servers: list[Server], make_user: Any
) -> None:
    _two_process_events(db, database, scene, servers, make_user)


_ = timedelta


class RawViewer:
    """An event stream read from a plain socket: the response head is visible."""

    def __init__(self, url: str, path: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.buf = b""

    def read_until(self, expected: bytes, seconds: float = 10.0) -> bytes:
        deadline = time.monotonic() + seconds
        while expected not in self.buf:
            assert time.monotonic() < deadline, f"no {expected!r} in {self.buf[-500:]!r}"
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before {expected!r}"
            self.buf += chunk
        return self.buf

    def close(self) -> None:
        self.sock.close()


def test_streams_are_handed_to_the_fanout_thread_and_leaving_is_counted(
    db: Any, database: Any, scene: Scene, servers: list[Server]
) -> None:
    """On a real server the stream's connection is handed over after the snapshot (the
    head says ``connection: close``, no chunked framing); events still arrive, and a
    viewer who leaves is noticed (the count falls, the watch time is written)."""
    a = servers[0]
    path = f"/live/{scene.room_id}/events"
    first = RawViewer(a.url, path)
    second = RawViewer(a.url, path)
    try:
        head = first.read_until(b"event: snapshot").split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 200") and b"connection: close" in head
        assert b"transfer-encoding" not in head and b"text/event-stream" in head
        second.read_until(b"event: snapshot")
        host = {"Authorization": f"Bearer {bearer_token(database, scene.host)}"}
        r = httpx.post(f"{a.url}/api/v1/live/rooms/{scene.room_id}/go-live", headers=host)
        assert r.status_code == 200
        first.read_until(b'"status": "live"')
        second.read_until(b'"status": "live"')
        first.read_until(b'event: viewers\ndata: {"type": "viewers", "count": 2}')
        second.close()
        first.read_until(b'event: viewers\ndata: {"type": "viewers", "count": 1}')
    finally:
        first.close()
        second.close()
    # the statistics flush (every few seconds) records both viewers and the watch time of
    # the first (2 s or more: it saw a presence tick after the second one left)
    deadline = time.monotonic() + 15
    while True:
        db.rollback()
        rows = db.scalars(select(LiveViewer).where(LiveViewer.room_id == scene.room_id)).all()
        if len(rows) == 2 and max(row.watch_seconds for row in rows) >= 2:
            break
        assert time.monotonic() < deadline, [(r.viewer_key, r.watch_seconds) for r in rows]
        time.sleep(0.2)


def test_handed_over_streams_close_cleanly(
    db: Any, database: Any, scene: Scene, servers: list[Server]
) -> None:
    """A pipelined request behind the stream keeps the connection with the server (it
    must still answer it); a viewer that sends data after its request is closed; a server
    that stops closes the handed-over streams promptly and records their watch time."""
    server = servers[0]
    path = f"/live/{scene.room_id}/events"
    pipelined = RawViewer(server.url, path)
    pipelined.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = pipelined.read_until(b"event: snapshot").split(b"\r\n\r\n", 1)[0].lower()
    assert b"transfer-encoding: chunked" in head and b"connection: close" not in head
    pipelined.close()

    chatty = RawViewer(server.url, path)
    assert b"connection: close" in chatty.read_until(b"event: snapshot").lower()
    chatty.sock.sendall(b"hello?")
    chatty.sock.settimeout(5)
    with contextlib.suppress(ConnectionResetError):  # unread bytes make it a reset
        while chatty.sock.recv(65536):  # the server ends the stream
            pass
    chatty.close()

    watcher = RawViewer(server.url, path)
    assert b"connection: close" in watcher.read_until(b"event: snapshot").lower()
    time.sleep(2.5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5, "the server did not stop promptly"
    watcher.sock.settimeout(5)
    while watcher.sock.recv(65536):
        pass
    watcher.close()
    db.rollback()
    rows = db.scalars(select(LiveViewer).where(LiveViewer.room_id == scene.room_id)).all()
    assert max(row.watch_seconds for row in rows) >= 2, [r.watch_seconds for r in rows]


@pytest.fixture(params=["uvloop", "asyncio"])
def thread_server(request: Any, app: Any, backend: str) -> Iterator[tuple[str, int]]:
    """The app under uvicorn in a thread of this process (so a test can slow it down)."""
    import uvicorn

    if backend != "sqlite":
        pytest.skip("runs on the SQLite file (PostgreSQL: same code path)")
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    config.loop = request.param
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_viewer_leaving_during_the_snapshot_is_no_error(
    thread_server: tuple[str, int],
    scene: Scene,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from xiaodian.content.live import events

    original = events._read_snapshot

    def slow(database: Any, room_id: int) -> Any:
        time.sleep(0.5)
        return original(database, room_id)

    monkeypatch.setattr(events, "_read_snapshot", slow)
    caplog.set_level(logging.ERROR)
    sock = socket.create_connection(thread_server)
    sock.sendall(f"GET /live/{scene.room_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.1)
    sock.close()
    time.sleep(1.0)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []

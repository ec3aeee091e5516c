"""The sandbox's poster keeps one connection per thread alive, and a kept-alive connection
the server closed meanwhile is opened anew once: the notification still arrives, once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xiaodian.payments import delivery


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler says otherwise

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        server: _Server = self.server  # type: ignore[assignment]
        server.bodies.append(self.rfile.read(length))
        self.send_response(server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if server.drop_after_answer:
            # As a server's keep-alive timeout does: the connection closes after the answer
            # without a "Connection: close" the client could have seen.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    bodies: list[bytes]
    status: int
    drop_after_answer: bool


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.bodies, srv.status, srv.drop_after_answer = [], 204, False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    delivery.close_client()
    try:
        yield srv
    finally:
        delivery.close_client()
        srv.shutdown()
        srv.server_close()


def _url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/api/v1/payments/notify"


def test_posts_share_one_kept_alive_connection(server: _Server) -> None:
    url = _url(server)
    assert delivery.http_poster(url, {"Content-Type": "application/json"}, b'{"n":1}') == 204
    conn = delivery._local.connections[("http", f"127.0.0.1:{server.server_address[1]}")]
    sock = conn.sock
    assert sock is not None
    assert delivery.http_poster(url, {"Content-Type": "application/json"}, b'{"n":2}') == 204
    assert conn.sock is sock  # the same socket: kept alive
    assert server.bodies == [b'{"n":1}', b'{"n":2}']


def test_a_connection_the_server_closed_is_opened_anew_once(server: _Server) -> None:
    server.drop_after_answer = True
    url = _url(server)
    headers = {"Content-Type": "application/json"}
    statuses = [delivery.http_poster(url, headers, b'{"n":%d}' % n) for n in range(3)]
    assert statuses == [204, 204, 204]
    assert server.bodies == [b'{"n":0}', b'{"n":1}', b'{"n":2}']  # each posted once


def test_the_servers_answer_is_the_status_and_a_refused_connection_raises(
    server: _Server,
) -> None:
    server.status = 500
    assert delivery.http_poster(_url(server), {}, b"{}") == 500
    host, port = server.server_address[:2]
    server.shutdown()
    server.server_close()
    delivery.close_client()
    with pytest.raises(OSError):
        delivery.http_poster(f"http://{host!s}:{port}/x", {}, b"{}")
    with pytest.raises(ValueError):
        delivery.http_poster("ftp://example.invalid/x", {}, b"{}")

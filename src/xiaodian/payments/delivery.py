"""The sandbox's notification outbox: POST each notification until it is accepted.

Retried on WeChat Pay's schedule: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h,
3h, 6h, 6h after each failed attempt (a non-2xx answer or a connection error), then given
up. ``deliver_due`` is idempotent and safe beside itself: an attempt is claimed by a
conditional UPDATE that also schedules the next one, before the POST, and no transaction
is open while posting. The poster is injectable (tests post into their TestClient).
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.payments.models import DeliveryStatus, SandboxDelivery
from xiaodian.payments.providers import get_sandbox

log = logging.getLogger(__name__)

RETRY_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s)
    for s in (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)

# (url, headers, body) -> HTTP status; raises on connection errors
Poster = Callable[[str, dict[str, str], bytes], int]


# One kept-alive connection per delivery thread and server (http.client: a third of an
# httpx request's CPU, and a delivery is one small POST). A connection the server closed
# meanwhile is opened anew once; any other failure is the attempt's error.
_local = threading.local()
TIMEOUT = 10.0


def _connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    pool: dict[tuple[str, str], http.client.HTTPConnection] = _local.__dict__.setdefault(
        "connections", {}
    )
    conn = pool.get((scheme, netloc))
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=_tls())
        else:
            conn = http.client.HTTPConnection(netloc, timeout=TIMEOUT)
        pool[scheme, netloc] = conn
    return conn


_tls_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One TLS context for every connection (building one costs more than a payment)."""
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context()
    return _tls_context


def close_client() -> None:
    """Close this thread's kept-alive connections (a later delivery opens new ones)."""
    for conn in _local.__dict__.pop("connections", {}).values():
        conn.close()


def http_poster(url: str, headers: dict[str, str], body: bytes) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an HTTP URL: {url[:100]}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for retry in (False, True):
        conn = _connection(parts.scheme, parts.netloc)
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()
            return response.status
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()  # a kept-alive connection the server had closed: once more, anew
            if retry:
                raise
    raise AssertionError("unreachable")


_poster: Poster = http_poster


def use_poster(poster: Poster) -> Poster:
    """Install ``poster`` for deliveries; returns the previous one."""
    global _poster
    previous, _poster = _poster, poster
    return previous


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0  # this attempt failed, another is scheduled
    gave_up: int = 0


def deliver_due(
    db: Session, *, limit: int = 100, out_trade_no: str | None = None
) -> DeliveryReport:
    """Attempt every delivery that is due now. Commits (several short transactions).

    For one trade (the first attempt, right after the buyer paid) its due deliveries are
    claimed at once by one conditional UPDATE; the job's sweep finds the due ones first."""
    report = DeliveryReport()
    if out_trade_no is not None:
        for claimed in _claim(db, SandboxDelivery.out_trade_no == out_trade_no):
            _post(db, claimed, report)
        return report
    now = clock.now()
    query = select(SandboxDelivery.id).where(
        SandboxDelivery.status == DeliveryStatus.PENDING, SandboxDelivery.next_attempt_at <= now
    )
    ids = list(db.scalars(query.order_by(SandboxDelivery.next_attempt_at).limit(limit)))
    db.rollback()
    for delivery_id in ids:
        for claimed in _claim(db, SandboxDelivery.id == delivery_id):
            _post(db, claimed, report)
    return report


def _claim(db: Session, which: Any) -> list[Any]:
    """Claim the due pending deliveries ``which`` selects and schedule their next attempts,
    by ONE conditional UPDATE (another worker that claimed one first leaves nothing to
    claim), committed before anything is signed and posted."""
    now = clock.now()
    next_at = case(
        {attempt: now + delay for attempt, delay in enumerate(RETRY_SCHEDULE)},
        value=SandboxDelivery.attempts,
        else_=now + timedelta(hours=1),  # the last attempt: not due again while in flight
    )
    claimed = db.execute(
        update(SandboxDelivery)
        .where(
            which,
            SandboxDelivery.status == DeliveryStatus.PENDING,
            SandboxDelivery.next_attempt_at <= now,
        )
        .values(attempts=SandboxDelivery.attempts + 1, next_attempt_at=next_at)
        .returning(
            SandboxDelivery.id, SandboxDelivery.attempts, SandboxDelivery.url, SandboxDelivery.body
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.commit()
    return sorted(claimed, key=lambda row: row.id)


def _post(db: Session, claimed: Any, report: DeliveryReport) -> None:
    """One attempt of a claimed delivery: signed and posted with no transaction open, then
    its outcome in a second short transaction."""
    delivery_id, attempts, url, body = claimed.id, claimed.attempts - 1, claimed.url, claimed.body
    delay = RETRY_SCHEDULE[attempts] if attempts < len(RETRY_SCHEDULE) else None
    headers = get_sandbox(db).sign(body)  # no transaction open: signing needs no database
    error: str | None = None
    try:
        status = _poster(url, headers, body.encode())
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # connection refused, timeout, ...
        error = f"{type(exc).__name__}: {exc}"[:300]
    values: dict[str, object]
    if error is None:
        values = {
            "status": DeliveryStatus.DELIVERED,
            "delivered_at": clock.now(),
            "last_error": None,
        }
        report.delivered += 1
    elif delay is None:
        values = {"status": DeliveryStatus.FAILED, "last_error": error}
        report.gave_up += 1
        log.warning("sandbox notification %s given up: %s", delivery_id, error)
    else:
        values = {"last_error": error}
        report.failed += 1
    db.execute(
        update(SandboxDelivery)
        .where(SandboxDelivery.id == delivery_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.commit()


def next_due(db: Session, *, out_trade_no: str) -> datetime | None:
    """When the next pending delivery for this trade is due (to schedule a retry)."""
    return db.scalar(
        select(func.min(SandboxDelivery.next_attempt_at)).where(
            SandboxDelivery.out_trade_no == out_trade_no,
            SandboxDelivery.status == DeliveryStatus.PENDING,
        )
    )

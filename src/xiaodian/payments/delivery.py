"""The sandbox's notification outbox: POST each notification until it is accepted.

Retried on WeChat Pay's schedule: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h,
3h, 6h, 6h after each failed attempt (a non-2xx answer or a connection error), then given
up. ``deliver_due`` is idempotent and safe beside itself: an attempt is claimed by a
conditional UPDATE that also schedules the next one, before the POST, and no transaction
is open while posting. The poster is injectable (tests post into their TestClient).
"""

from __future__ import annotations

import functools
import http.client
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.payments.models import DeliveryStatus, SandboxDelivery
from xiaodian.payments.providers import get_sandbox
from xiaodian.payments.providers.sandbox import Queued

log = logging.getLogger(__name__)

RETRY_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s)
    for s in (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)

# (url, headers, body) -> HTTP status; raises on connection errors
Poster = Callable[[str, dict[str, str], bytes], int]


# One kept-alive connection per delivery thread and server (http.client: a third of an
# httpx request's CPU, and a delivery is one small POST). A kept-alive connection the
# server closed meanwhile is opened anew, once; any other failure is the attempt's error.
_local = threading.local()
TIMEOUT = 10.0
_tls_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One TLS context for every connection (building one costs more than a payment)."""
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context()
    return _tls_context


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


def close_client() -> None:
    """Close this thread's kept-alive connections (a later delivery opens new ones)."""
    for conn in _local.__dict__.pop("connections", {}).values():
        conn.close()


def http_poster(url: str, headers: dict[str, str], body: bytes) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an HTTP URL: {url[:100]}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for again in (False, True):
        conn = _connection(parts.scheme, parts.netloc)
        fresh = conn.sock is None
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()
            return response.status
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()  # a kept-alive connection the server had closed: once more, anew
            if again or fresh:
                raise
        except BaseException:
            conn.close()  # a timeout or a half-read answer: never reuse that connection
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


# Built once: the first delivery of every sandbox payment runs them.
_DELIVERIES = cast(Table, SandboxDelivery.__table__)
_DUE = (
    select(_DELIVERIES.c.id)
    .where(
        _DELIVERIES.c.status == DeliveryStatus.PENDING,
        _DELIVERIES.c.next_attempt_at <= bindparam("now", type_=_DELIVERIES.c.next_attempt_at.type),
    )
    .order_by(_DELIVERIES.c.next_attempt_at)
    .limit(bindparam("n"))
)
_DUE_OF_TRADE = _DUE.where(_DELIVERIES.c.out_trade_no == bindparam("no"))
# One attempt claimed, the next scheduled by ``attempts`` (:at0 ... for each retry, :last
# for the last attempt: not due again while in flight).
_CLAIM = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        _DELIVERIES.c.status == DeliveryStatus.PENDING,
        _DELIVERIES.c.next_attempt_at <= bindparam("now", type_=_DELIVERIES.c.next_attempt_at.type),
    )
    .values(
        attempts=_DELIVERIES.c.attempts + 1,
        next_attempt_at=case(
            {
                attempt: bindparam(f"at{attempt}", type_=_DELIVERIES.c.next_attempt_at.type)
                for attempt in range(len(RETRY_SCHEDULE))
            },
            value=_DELIVERIES.c.attempts,
            else_=bindparam("last", type_=_DELIVERIES.c.next_attempt_at.type),
        ),
    )
    .returning(_DELIVERIES.c.attempts, _DELIVERIES.c.url, _DELIVERIES.c.body)
)


def deliver_due(
    db: Session, *, limit: int = 100, out_trade_no: str | None = None
) -> DeliveryReport:
    """Attempt every delivery that is due now. Commits (several short transactions)."""
    now = clock.now()
    if out_trade_no is not None:
        ids = list(db.scalars(_DUE_OF_TRADE, {"now": now, "no": out_trade_no, "n": limit}))
    else:
        ids = list(db.scalars(_DUE, {"now": now, "n": limit}))
    db.rollback()
    report = DeliveryReport()
    for delivery_id in ids:
        _attempt(db, delivery_id, report)
    return report


def _attempt(db: Session, delivery_id: int, report: DeliveryReport) -> None:
    """One attempt: claimed and the next one scheduled by ONE conditional UPDATE (another
    worker that claimed it first leaves nothing to claim), committed before it is signed
    and posted, then its outcome in a second short transaction."""
    now = clock.now()
    params: dict[str, object] = {f"at{i}": now + delay for i, delay in enumerate(RETRY_SCHEDULE)}
    params.update(b_id=delivery_id, now=now, last=now + timedelta(hours=1))
    claimed = db.execute(_CLAIM, params).first()
    db.commit()
    if claimed is None:  # delivered, given up, not due, or another worker took it
        return
    _post(db, delivery_id, claimed.attempts - 1, claimed.url, claimed.body, report)


def first_retry_at(now: datetime) -> datetime:
    """When a first attempt claimed at ``now`` is due again if it never reports back."""
    return now + RETRY_SCHEDULE[0]


def post_claimed(db: Session, queued: Queued) -> DeliveryReport:
    """Post a notification whose first attempt was claimed as it was queued
    (``SandboxProvider.enqueue`` with ``claimed_until=first_retry_at(now)``), after the
    transaction that queued it committed: no read, no claim, only the post and its
    outcome (one short transaction). Its retries are ``deliver_due``'s. Commits.

    A post may take up to ``TIMEOUT``: one that could still be running when the claim runs
    out (the server was too busy to start it in time) is not sent blind, since the retry
    job could send it too; it is claimed as any due attempt is (``_attempt``), which finds
    nothing to do until the claim has run out, and then takes it unless the job did."""
    report = DeliveryReport()
    if queued.claimed_until is None:
        raise ValueError("only a notification claimed as it was queued is posted this way")
    if clock.now() + timedelta(seconds=TIMEOUT) >= queued.claimed_until:
        _attempt(db, queued.id, report)
        return report
    _post(db, queued.id, 0, queued.url, queued.body, report)
    return report


def _post(
    db: Session, delivery_id: int, attempts: int, url: str, body: str, report: DeliveryReport
) -> None:
    """Sign and post a claimed attempt (``attempts`` made before it), then record how it
    went in one short transaction."""
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
    bound = {f"v_{key}": value for key, value in values.items()}
    db.execute(_outcome_statement(tuple(sorted(values))), {"b_id": delivery_id, **bound})
    db.commit()


@functools.lru_cache(maxsize=8)
def _outcome_statement(keys: tuple[str, ...]) -> Any:
    return (
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id == bindparam("b_id"))
        .values({key: bindparam(f"v_{key}", type_=_DELIVERIES.c[key].type) for key in keys})
    )


def next_due(db: Session, *, out_trade_no: str) -> datetime | None:
    """When the next pending delivery for this trade is due (to schedule a retry)."""
    return db.scalar(
        select(func.min(SandboxDelivery.next_attempt_at)).where(
            SandboxDelivery.out_trade_no == out_trade_no,
            SandboxDelivery.status == DeliveryStatus.PENDING,
        )
    )

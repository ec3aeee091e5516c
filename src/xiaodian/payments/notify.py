"""Payment and refund notifications (``POST /api/v1/payments/notify``).

Verified and decrypted by the provider (signature against the platform key, AES-256-GCM,
timestamp within five minutes: else refused). Idempotent: the id of each processed
notification is recorded (unique), and every state change is conditional under the payment
row lock, so duplicates and retries answer success and change nothing. Every notification
is logged (``payment_notification_log``), accepted or refused and why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.payments import core
from xiaodian.payments.models import (
    NotificationLog,
    NotificationOutcome,
    ProcessedNotification,
    Refund,
)
from xiaodian.payments.providers import get_provider
from xiaodian.payments.providers.base import (
    BadNotification,
    Notification,
    PaymentProvider,
    RefundState,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
Outcome = NotificationOutcome
# refused for who sent it (401) rather than what it says (400)
_UNAUTHENTIC = frozenset({"bad_signature", "unknown_serial", "stale_timestamp", "undecryptable"})


@dataclass(frozen=True)
class NotifyResult:
    status_code: int  # 204: done (or already done); 4xx: refused; 500: try again later
    outcome: NotificationOutcome
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code < 300


def handle_notification(db: Session, *, headers: Mapping[str, str], body: bytes) -> NotifyResult:
    """Verify, decrypt, apply once, log. Public use case: commits."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    entry = NotificationLog(
        received_at=clock.now(),
        serial=(lowered.get("wechatpay-serial") or "")[:64] or None,
        body=body[:8000].decode("utf-8", "replace"),
    )
    if len(body) > MAX_BODY:
        return _finish(db, entry, Outcome.REFUSED, 413, "body too large")
    provider = get_provider(db)
    try:
        note = provider.parse_notification(lowered, body)
    except BadNotification as exc:
        status = 401 if exc.reason in _UNAUTHENTIC else 400
        log.warning("payment notification refused: %s", exc)
        return _finish(db, entry, Outcome.REFUSED, status, str(exc)[:200])
    entry.notification_id = note.id
    entry.event_type = note.event_type
    entry.out_trade_no = _str(note.resource.get("out_trade_no"), 32)
    entry.out_refund_no = _str(note.resource.get("out_refund_no"), 64)
    try:
        # Claimed first: on PostgreSQL the same notification delivered twice at once waits
        # on the unique index for the first to end, then finds it done.
        if not _claim(db, note):
            db.rollback()
            return _finish(db, entry, Outcome.DUPLICATE, 204, "already processed")
        outcome, reason = _apply(db, provider, note)
    except core.Rejected as exc:
        db.rollback()
        log.warning("payment notification %s refused: %s", note.id, exc)
        return _finish(db, entry, Outcome.REFUSED, 400, str(exc)[:200])
    except IntegrityError:
        db.rollback()  # the same notification, processed concurrently
        return _finish(db, entry, Outcome.DUPLICATE, 204, "processed concurrently")
    except Exception as exc:
        db.rollback()
        log.exception("payment notification %s failed", note.id)
        return _finish(db, entry, Outcome.ERROR, 500, f"{type(exc).__name__}: {exc}"[:200])
    return _finish(db, entry, outcome, 204, reason)


def _apply(db: Session, provider: PaymentProvider, note: Notification) -> tuple[Outcome, str]:
    if note.event_type == "TRANSACTION.SUCCESS":
        payment = core.apply_trade_success(db, provider, note.resource, source="notification")
        return Outcome.ACCEPTED, f"payment {payment.status}"
    if note.is_refund:
        return _refund_notification(db, provider, note.resource)
    return Outcome.IGNORED, f"event type {note.event_type} is not handled"


def _refund_notification(
    db: Session, provider: PaymentProvider, resource: dict[str, Any]
) -> tuple[Outcome, str]:
    out_refund_no = resource.get("out_refund_no")
    if not isinstance(out_refund_no, str) or not out_refund_no:
        raise core.Rejected("no out_refund_no")
    found = db.execute(
        select(Refund.id, Refund.payment_id).where(Refund.out_refund_no == out_refund_no)
    ).first()
    if found is None:
        raise core.Rejected(f"unknown out_refund_no {out_refund_no[:64]}")
    payment = core.lock_payment(db, found.payment_id)
    refund = core.lock_refund(db, found.id)
    core.check_refund_resource(provider, payment, refund, resource)
    state = RefundState(
        out_refund_no=out_refund_no,
        status=str(resource.get("refund_status") or ""),
        refund_id=_str(resource.get("refund_id"), 64),
        raw=resource,
    )
    core.apply_refund_state(db, refund, state, source="notification")
    return Outcome.ACCEPTED, f"refund {refund.status}"


def _claim(db: Session, note: Notification) -> bool:
    """Record the notification as processed (in this transaction); False when it already
    was. One statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING``)."""
    claimed = db.execute(
        _claim_statement(db.get_bind().dialect.name),
        {"notification_id": note.id, "event_type": note.event_type, "processed_at": clock.now()},
    ).scalar()
    return claimed is not None


@functools.cache
def _claim_statement(dialect: str) -> Any:
    """Built once per dialect (the hot path of every payment)."""
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, ProcessedNotification.__table__)
    return (
        insert_(table)
        .on_conflict_do_nothing(index_elements=["notification_id"])
        .returning(table.c.id)
    )


_INSERT_LOG = insert(cast(Table, NotificationLog.__table__))
_LOGGED = tuple(c.key for c in cast(Table, NotificationLog.__table__).columns if c.key != "id")


def _finish(
    db: Session, entry: NotificationLog, outcome: Outcome, status: int, reason: str
) -> NotifyResult:
    entry.outcome = outcome
    entry.http_status = status
    entry.reason = reason or None
    # One INSERT built once (the log entry is never read back here).
    db.execute(_INSERT_LOG, {key: getattr(entry, key) for key in _LOGGED})
    db.commit()
    return NotifyResult(status_code=status, outcome=outcome, message=reason)


def _str(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None

"""Order messages to the buyer in WeChat (模板消息 / 订阅消息).

The order lifecycle's listeners (paid, shipped, completed; after-sales opened and closed)
write one ``wechat_messages`` row per (order, event), in the change's transaction: unique,
so an event announced again queues nothing new. After the commit the rows are queued to the
worker (``jobs.wechat_send_message``), which sends them; the periodic job sends what is due
again (a failed attempt waits 1, 2, 4... minutes, up to ``MAX_ATTEMPTS``). A message is sent
only to a buyer who subscribed (asked again at sending: a refusal meanwhile stops it), who
has an openid, and at most ``wechat_messages_per_hour`` an hour (the rest waits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock, tasks
from xiaodian import settings as settings_module
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.clock import BUSINESS_TZ
from xiaodian.errors import DomainError
from xiaodian.money import format_fen
from xiaodian.orders import lifecycle as orders_lifecycle
from xiaodian.orders import service as orders_service
from xiaodian.wechat import jssdk, service
from xiaodian.wechat.models import Consent, MessageStatus, OrderMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
BATCH = 100
EVENTS = {  # order event -> (what the buyer reads, the template setting)
    "paid": ("已付款，商家正在备货", "wechat_template_paid"),
    "shipped": ("已发货", "wechat_template_shipped"),
    "completed": ("已签收，交易完成", "wechat_template_completed"),
    "aftersale_opened": ("售后申请已提交", "wechat_template_aftersale"),
    "aftersale_closed": ("售后已处理完毕", "wechat_template_aftersale"),
}
S = MessageStatus


# --------------------------------------------------------------------------- consent


def consent(db: Session, actor: Actor) -> bool | None:
    """True (subscribed), False (refused) or None (not asked yet)."""
    row = db.get(Consent, actor.require_user())
    return None if row is None else row.subscribed


def set_consent(db: Session, actor: Actor, *, subscribed: bool) -> bool:
    """The buyer subscribes to order messages or refuses them. Commits."""
    user_id = actor.require_user()
    row = db.get(Consent, user_id)
    if row is None:
        db.add(Consent(user_id=user_id, subscribed=subscribed, decided_at=clock.now()))
    else:
        row.subscribed = subscribed
        row.decided_at = clock.now()
    db.commit()
    return subscribed


# --------------------------------------------------------------------------- queueing


def _template(event: str) -> str:
    setting = getattr(settings_module.current(), EVENTS[event][1])
    return str(setting or f"sandbox-{event}")


def _data(order: Any, event: str) -> dict[str, Any]:
    return {
        "thing1": {"value": str(order.title)[:20]},
        "character_string2": {"value": order.order_no},
        "phrase3": {"value": EVENTS[event][0][:20]},
        "amount4": {"value": format_fen(order.total_fen)},
        "time5": {"value": clock.now().astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")},
    }


_CONSENTS = cast(Table, Consent.__table__)
# On the table: no ORM execution for one column (asked at every payment).
_SUBSCRIBED = select(_CONSENTS.c.user_id).where(
    _CONSENTS.c.user_id.in_(orders_service.BUYERS_OF_BOUND), _CONSENTS.c.subscribed.is_(True)
)


def _queue(db: Session, change: orders_lifecycle.Change) -> None:
    """One message per order of the change whose buyer subscribed, unless this (order,
    event) has one already. One statement when no buyer of the change subscribed (the
    consents of the orders' buyers, in one query with orders' own subquery); the orders are
    loaded only for buyers who did."""
    subscribed = set(db.scalars(_SUBSCRIBED, {"order_ids": list(change.order_ids)}))
    if not subscribed:
        return
    orders = orders_service.orders_by_ids(db, order_ids=list(change.order_ids))
    base = settings_module.current().public_base_url.rstrip("/")
    rows = [
        {
            "order_id": order.id,
            "event": change.event,
            "user_id": order.buyer_id,
            "openid": "",
            "template_id": _template(change.event),
            "url": f"{base}/orders/{order.order_no}",
            "data": _data(order, change.event),
            "status": S.QUEUED,
            "attempts": 0,
            "next_attempt_at": clock.now(),
            "last_error": "",
            "created_at": clock.now(),
        }
        for order in orders.values()
        if order.buyer_id in subscribed  # the others: nothing at all
    ]
    if not rows:
        return
    table: Any = OrderMessage.__table__
    insert_ = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    created = db.execute(
        insert_(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["order_id", "event"])
        .returning(table.c.id)
    ).scalars()
    _after_commit(db, list(created))


def _after_commit(db: Session, ids: list[int]) -> None:
    if "wechat_messages" not in db.info:
        db.info["wechat_messages"] = []
        sa_event.listen(db, "after_commit", _enqueue)
        sa_event.listen(db, "after_rollback", _forget)
    db.info["wechat_messages"].extend(ids)


def _enqueue(db: Session) -> None:
    ids, db.info["wechat_messages"] = db.info["wechat_messages"], []
    if not ids:
        return
    from xiaodian.wechat import jobs

    for message_id in ids:
        tasks.enqueue(jobs.wechat_send_message, message_id)


def _forget(db: Session) -> None:
    db.info["wechat_messages"] = []


def _listener(db: Session, change: orders_lifecycle.Change) -> None:
    _queue(db, change)


for _event in EVENTS:
    orders_lifecycle.on(_event)(_listener)


# --------------------------------------------------------------------------- sending


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0


def _sent_last_hour(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(OrderMessage)
            .where(
                OrderMessage.user_id == user_id,
                OrderMessage.status == S.SENT,
                OrderMessage.sent_at > clock.now() - timedelta(hours=1),
            )
        )
        or 0
    )


def _send_one(db: Session, message: OrderMessage, report: SendReport) -> None:
    choice = db.get(Consent, message.user_id)
    if choice is None or not choice.subscribed:  # refused since it was queued
        message.status, message.last_error = S.SKIPPED, "refused"
        report.skipped += 1
        return
    openid = accounts_service.openid_for(db, user_id=message.user_id, app_id=service.app_id())
    if openid is None:
        message.status, message.last_error = S.SKIPPED, "no openid"
        report.skipped += 1
        return
    if _sent_last_hour(db, message.user_id) >= settings_module.current().wechat_messages_per_hour:
        message.next_attempt_at = clock.now() + timedelta(minutes=10)
        report.deferred += 1
        return
    message.openid = openid
    body = {
        "touser": openid,
        "template_id": message.template_id,
        "url": message.url,
        "data": message.data,
    }
    try:
        token = jssdk.credential(db, "access_token")
        answer = service.servers(db).send_template(access_token=token, message=body)
        if answer.get("errcode") in (40001, 42001):
            jssdk.forget(db, "access_token")
        service.checked(answer)
    except DomainError as exc:
        message.attempts += 1
        message.last_error = exc.render(None)[:200]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = S.FAILED
        else:
            message.next_attempt_at = clock.now() + timedelta(minutes=2 ** (message.attempts - 1))
        report.failed += 1
        return
    message.status, message.sent_at = S.SENT, clock.now()
    report.sent += 1


def send_due(db: Session, *, message_id: int | None = None) -> SendReport:
    """Send the queued messages that are due (or just ``message_id``), each once: the row
    is locked and its status checked under the lock, so two workers never both send it.
    Commits (``db`` is a write session: the worker's)."""
    query = select(OrderMessage).where(
        OrderMessage.status == S.QUEUED, OrderMessage.next_attempt_at <= clock.now()
    )
    if message_id is not None:
        query = query.where(OrderMessage.id == message_id)
    report = SendReport()
    for message in db.scalars(query.order_by(OrderMessage.id).limit(BATCH).with_for_update()):
        _send_one(db, message, report)
    db.commit()
    return report


def messages_of_order(db: Session, *, order_id: int) -> list[OrderMessage]:
    return list(
        db.scalars(
            select(OrderMessage).where(OrderMessage.order_id == order_id).order_by(OrderMessage.id)
        )
    )

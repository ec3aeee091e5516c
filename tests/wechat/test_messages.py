"""Order messages: queued by the lifecycle, sent once, retried, rate limited, consent kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.orders.conftest import actor_for
from tests.payments.conftest import Shop, place
from xiaodian import clock as clock_module
from xiaodian.accounts import service as accounts_service
from xiaodian.orders import fulfilment
from xiaodian.orders import lifecycle as orders_lifecycle
from xiaodian.orders import service as orders_service
from xiaodian.wechat import messages, sandbox, service
from xiaodian.wechat.models import MessageStatus, OrderMessage, SandboxOutboxMessage
from xiaodian.wechat.sandbox import SandboxServers


@pytest.fixture
def buyer_in_wechat(database: Any, scene: Shop) -> str:
    """The scene's buyer with a sandbox WeChat user linked; returns the openid."""
    with database.session() as s:
        openid = sandbox.make_user(s, nickname="小满").openid
    who = accounts_service.WeChatUser(app_id=service.app_id(), openid=openid)
    with database.session() as s:
        accounts_service.link_wechat(s, who, login=scene.buyer.login_name, password="secret123")
        s.commit()
    return openid


def _consent(database: Any, user: Any, subscribed: bool) -> None:
    with database.session() as s:
        messages.set_consent(s, actor_for(user), subscribed=subscribed)


def _paid(database: Any, scene: Shop) -> Any:
    with database.session() as s:
        order = place(s, scene)
        orders_service.mark_paid(
            s, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="P1"
        )
        s.commit()
        return order


def _ship(database: Any, scene: Shop, order: Any) -> None:
    with database.session() as s:
        fulfilment.ship_order(
            s,
            actor_for(scene.owner, {scene.shop.id: "owner"}),
            scene.shop.id,
            order.order_no,
            carrier="SF",
            tracking_no="SF1234567890123",
        )


def _send(database: Any) -> messages.SendReport:
    with database.session() as s:
        return messages.send_due(s)


def _outbox(database: Any) -> list[Any]:
    with database.session() as s:
        return list(s.scalars(select(SandboxOutboxMessage).order_by(SandboxOutboxMessage.id)))


def _messages(database: Any) -> list[Any]:
    with database.session() as s:
        return list(s.scalars(select(OrderMessage).order_by(OrderMessage.id)))


def test_paid_and_shipped_reach_the_buyer_once(
    database: Any, scene: Shop, buyer_in_wechat: str
) -> None:
    _consent(database, scene.buyer, True)
    order = _paid(database, scene)
    _ship(database, scene, order)
    assert [m.event for m in _messages(database)] == ["paid", "shipped"]
    report = _send(database)
    assert (report.sent, report.failed) == (2, 0)
    outbox = _outbox(database)
    assert [m.openid for m in outbox] == [buyer_in_wechat] * 2
    assert outbox[1].data["phrase3"]["value"] == "已发货"
    assert outbox[1].data["character_string2"]["value"] == order.order_no
    assert outbox[1].url.endswith(f"/orders/{order.order_no}")
    # the same event announced again, and the senders run again: nothing new
    with database.session() as s:
        change = orders_lifecycle.Change("shipped", (order.id,), clock_module.now())
        orders_lifecycle.announce(s, change)
        s.commit()
    assert _send(database).sent == 0
    assert len(_outbox(database)) == 2 and len(_messages(database)) == 2


def test_a_buyer_who_refused_is_sent_nothing(
    database: Any, scene: Shop, buyer_in_wechat: str
) -> None:
    _consent(database, scene.buyer, False)
    _paid(database, scene)
    assert _messages(database) == []
    assert _send(database).sent == 0 and _outbox(database) == []


def test_a_refusal_after_queueing_stops_the_message(
    database: Any, scene: Shop, buyer_in_wechat: str
) -> None:
    _consent(database, scene.buyer, True)
    _paid(database, scene)
    _consent(database, scene.buyer, False)
    report = _send(database)
    assert (report.sent, report.skipped) == (0, 1)
    assert _outbox(database) == []
    assert _messages(database)[0].status == MessageStatus.SKIPPED


def test_never_asked_means_no_message(database: Any, scene: Shop, buyer_in_wechat: str) -> None:
    _paid(database, scene)
    assert _messages(database) == []


def test_a_failed_send_is_retried_later(
    database: Any,
    scene: Shop,
    buyer_in_wechat: str,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _consent(database, scene.buyer, True)
    _paid(database, scene)
    real = SandboxServers.send_template
    monkeypatch.setattr(
        SandboxServers,
        "send_template",
        lambda self, **kw: {"errcode": 45009, "errmsg": "api freq out of limit"},
    )
    assert _send(database).failed == 1
    (message,) = _messages(database)
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert "45009" in message.last_error
    monkeypatch.setattr(SandboxServers, "send_template", real)
    assert _send(database).sent == 0  # not due yet
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _send(database).sent == 1
    assert len(_outbox(database)) == 1


def test_per_user_rate_limit(
    database: Any, scene: Shop, buyer_in_wechat: str, settings: Any, clock: Any
) -> None:
    settings.__dict__["wechat_messages_per_hour"] = 1
    _consent(database, scene.buyer, True)
    _paid(database, scene)
    _paid(database, scene)
    report = _send(database)
    assert (report.sent, report.deferred) == (1, 1)
    clock.advance(timedelta(hours=1, minutes=1))
    assert _send(database).sent == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(SandboxOutboxMessage)) == 2


def test_the_consent_page(login_client: Any, scene: Shop, db: Any) -> None:
    browser = login_client(scene.buyer)
    page = browser.get("/wechat/messages")
    assert page.status_code == 200
    token = browser.cookies.get("xd_csrf", "")
    answer = browser.post("/wechat/messages", data={"subscribe": "1", "csrf_token": token})
    assert answer.status_code == 200
    assert messages.consent(db, actor_for(scene.buyer)) is True
    assert (
        browser.post("/wechat/messages", data={"subscribe": "7", "csrf_token": token}).status_code
        == 422
    )


def test_the_outbox_shows_a_buyer_only_their_own(
    database: Any, scene: Shop, buyer_in_wechat: str, login_client: Any
) -> None:
    _consent(database, scene.buyer, True)
    _paid(database, scene)
    _send(database)
    mine = login_client(scene.buyer).get("/sandbox/wechat/outbox")
    assert "已付款" in mine.text
    theirs = login_client(scene.owner).get("/sandbox/wechat/outbox")
    assert "已付款" not in theirs.text

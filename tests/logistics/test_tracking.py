"""Tracking pushes in Kuaidi100's format: signed, idempotent, refused when forged; the
buyer's timeline; a signature restarts the confirmation countdown; the merchant's
parcels needing attention. All on the frozen clock."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.logistics.conftest import PUSH, shipped_order
from tests.orders.conftest import Scene
from xiaodian import clock as clock_module
from xiaodian.logistics import kuaidi100, sandbox, service
from xiaodian.logistics.models import Parcel, TrackingEvent
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order, OrderEvent, OrderStatus


def _param(state: str, *events: tuple[timedelta, str, str], nu: str = "SF1234567890123") -> str:
    now = clock_module.now()
    return kuaidi100.build_param(
        carrier="SF",
        tracking_no=nu,
        state=state,
        events=[kuaidi100.Event(now + d, text, "杭州市", word) for d, text, word in events],
    )


def _signed(param: str) -> str:
    return kuaidi100.sign(param, service.push_salt())


def _counts(db: Session) -> tuple[int, int]:
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(TrackingEvent)) or 0,
        db.scalar(select(func.count()).select_from(Parcel).where(Parcel.state.is_not(None))) or 0,
    )


def _order(db: Session, order_no: str) -> Order:
    db.rollback()
    order = db.scalar(select(Order).where(Order.order_no == order_no))
    assert order is not None
    return order


def test_the_sign_is_md5_of_param_and_salt_in_upper_case() -> None:
    param = '{"lastResult":{}}'
    expected = hashlib.md5((param + "s3cret").encode()).hexdigest().upper()
    assert kuaidi100.sign(param, "s3cret") == expected
    kuaidi100.verify(param, expected.lower(), "s3cret")  # case does not matter


def test_shipping_makes_a_parcel_and_a_push_builds_the_timeline(
    db: Session, scene: Scene, send: Callable[..., Any]
) -> None:
    order_no = shipped_order(db, scene)
    param = _param(
        "0",
        (timedelta(hours=1), "【杭州市】快递员已揽收", "揽收"),
        (timedelta(hours=5), "【杭州转运中心】已发出", "在途"),
    )
    r = send(param, _signed(param))
    assert r.status_code == 200, r.text
    assert r.json() == {"result": True, "returnCode": "200", "message": "成功"}
    tracking = service.tracking_for_order(db, _order(db, order_no).id)
    assert tracking is not None
    assert tracking.state_name == "在途"
    assert [e.context for e in tracking.entries] == [
        "【杭州转运中心】已发出",
        "【杭州市】快递员已揽收",
    ]


def test_a_forged_or_missing_sign_is_refused_and_writes_nothing(
    db: Session, scene: Scene, send: Callable[..., Any]
) -> None:
    shipped_order(db, scene)
    param = _param("3", (timedelta(hours=1), "已签收", "签收"))
    forged = kuaidi100.sign(param, "not-our-salt")
    for sign in (forged, "A" * 32, _signed(param + " "), "½", "签名" * 8):
        r = send(param, sign)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "bad_push_signature"
    # a param changed after signing
    tampered = param.replace("已签收", "已签收了")
    assert send(tampered, _signed(param)).status_code == 403
    assert _counts(db) == (0, 0)


def test_a_replayed_push_changes_nothing(
    db: Session, scene: Scene, send: Callable[..., Any]
) -> None:
    shipped_order(db, scene)
    param = _param("1", (timedelta(hours=1), "【杭州市】快递员已揽收", "揽收"))
    for _ in range(3):
        assert send(param, _signed(param)).status_code == 200
    assert _counts(db) == (1, 1)


def test_a_late_older_push_does_not_move_the_state_back(
    db: Session, scene: Scene, send: Callable[..., Any]
) -> None:
    order_no = shipped_order(db, scene)
    first = (timedelta(hours=1), "【杭州市】快递员已揽收", "揽收")
    newer = _param("5", first, (timedelta(hours=9), "快递员正在派件", "派件"))
    older = _param("1", first)
    assert send(newer, _signed(newer)).status_code == 200
    assert send(older, _signed(older)).status_code == 200
    tracking = service.tracking_for_order(db, _order(db, order_no).id)
    assert tracking is not None and tracking.state_name == "派件"


@pytest.mark.parametrize(
    "param",
    [
        "not json",
        "[]",
        json.dumps({"lastResult": {"com": "dhl", "nu": "1", "state": "0", "data": []}}),
        json.dumps({"lastResult": {"com": "shunfeng", "nu": "", "state": "0", "data": []}}),
        json.dumps({"lastResult": {"com": "shunfeng", "nu": "SF1", "state": "99", "data": []}}),
        json.dumps(
            {
                "lastResult": {
                    "com": "shunfeng",
                    "nu": "SF1234567890123",
                    "state": "0",
                    "data": [{"time": "yesterday", "context": "x"}],
                }
            }
        ),
    ],
)
def test_a_signed_but_malformed_push_is_422_and_writes_nothing(
    db: Session, scene: Scene, send: Callable[..., Any], param: str
) -> None:
    shipped_order(db, scene)
    r = send(param, _signed(param))
    assert r.status_code == 422, r.text
    assert _counts(db) == (0, 0)


def test_a_push_for_an_unknown_parcel_is_404(
    db: Session, scene: Scene, send: Callable[..., Any], client: Any
) -> None:
    shipped_order(db, scene)
    param = _param("0", (timedelta(hours=1), "在途", "在途"), nu="SF9999999999999")
    r = send(param, _signed(param))
    assert r.status_code == 404 and r.json()["error"]["code"] == "parcel_not_found"
    assert client.post(PUSH, data={"param": param}).status_code == 422  # no sign at all
    assert _counts(db) == (0, 0)


def test_signing_for_the_parcel_restarts_the_confirmation_countdown(
    db: Session, scene: Scene, send: Callable[..., Any], clock: clock_module.FrozenClock
) -> None:
    days = 10  # order_auto_complete_days
    order_no = shipped_order(db, scene)
    clock.advance(days=3)
    signed_at = clock.now() - timedelta(hours=1)
    param = kuaidi100.build_param(
        carrier="SF",
        tracking_no="SF1234567890123",
        state="3",
        events=[kuaidi100.Event(signed_at, "已签收，签收人：本人", "上海市", "签收")],
    )
    assert send(param, _signed(param)).status_code == 200
    order = _order(db, order_no)
    assert order.delivered_at == signed_at
    db.rollback()
    # ten days after shipping the order would have completed; now it waits for ten days
    # after the signature
    clock.set(order.shipped_at + timedelta(days=days, minutes=1))
    assert orders_service.auto_complete_orders(db) == 0
    assert _order(db, order_no).status == OrderStatus.SHIPPED
    clock.set(signed_at + timedelta(days=days, minutes=1))
    assert orders_service.auto_complete_orders(db) == 1
    assert _order(db, order_no).status == OrderStatus.COMPLETED
    # a replayed 签收 neither moves the time nor writes a second event row
    assert send(param, _signed(param)).status_code == 200
    db.rollback()
    delivered = db.scalar(
        select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "delivered")
    )
    assert delivered == 1


def test_an_order_never_signed_for_completes_after_shipping_as_before(
    db: Session, scene: Scene, clock: clock_module.FrozenClock
) -> None:
    order_no = shipped_order(db, scene)
    clock.advance(days=10, minutes=1)
    assert orders_service.auto_complete_orders(db) == 1
    assert _order(db, order_no).status == OrderStatus.COMPLETED


def test_parcels_needing_attention_silent_72_hours_or_in_trouble(
    db: Session, scene: Scene, send: Callable[..., Any], clock: clock_module.FrozenClock
) -> None:
    silent = shipped_order(db, scene, "SF1000000000001")
    trouble = shipped_order(db, scene, "SF1000000000002")
    moving = shipped_order(db, scene, "SF1000000000003")
    param = _param("2", (timedelta(0), "地址不详，联系不上收件人", "疑难"), nu="SF1000000000002")
    assert send(param, _signed(param)).status_code == 200
    clock.advance(hours=71)
    param = _param("0", (timedelta(0), "【上海转运中心】已到达", "在途"), nu="SF1000000000003")
    assert send(param, _signed(param)).status_code == 200
    db.rollback()
    owner = scene.owner_actor
    assert [a.order_no for a in service.parcels_needing_attention(db, owner, scene.shop.id)] == [
        trouble
    ]
    clock.advance(hours=1, minutes=1)
    items = service.parcels_needing_attention(db, owner, scene.shop.id)
    assert [(a.order_no, a.reason) for a in items] == [(silent, "stale"), (trouble, "trouble")]
    assert items[0].age >= timedelta(hours=72)
    assert moving not in [a.order_no for a in items]


def test_parcels_in_trouble_or_silent_become_cases_to_chase_until_they_move(
    db: Session,
    scene: Scene,
    send: Callable[..., Any],
    clock: clock_module.FrozenClock,
    database: Any,
) -> None:
    from xiaodian.cases import views
    from xiaodian.cases.models import Case

    shipped_order(db, scene, "SF1000000000011")  # goes silent
    shipped_order(db, scene, "SF1000000000012")  # in trouble, then moves on
    param = _param("2", (timedelta(0), "地址不详，联系不上收件人", "疑难"), nu="SF1000000000012")
    assert send(param, _signed(param)).status_code == 200

    def chase() -> list[str]:
        db.rollback()
        rows = db.scalars(
            select(Case).where(Case.queue == "parcels", Case.closed_at.is_(None)).order_by(Case.id)
        )
        return [c.title.split(" ")[1] for c in rows]

    assert chase() == ["SF1000000000012"]
    clock.advance(hours=73)
    with database.session() as jobs:
        assert service.open_stale_cases(jobs) == 2
    assert chase() == ["SF1000000000012", "SF1000000000011"]
    param = _param("5", (timedelta(0), "快递员正在派件", "派件"), nu="SF1000000000012")
    assert send(param, _signed(param)).status_code == 200
    param = _param("0", (timedelta(0), "【上海转运中心】已到达", "在途"), nu="SF1000000000011")
    assert send(param, _signed(param)).status_code == 200
    assert chase() == []
    db.rollback()
    assert views.merchant_counts(db, scene.owner_actor, scene.shop.id).get("parcels") is None


def test_the_sandbox_plays_a_journey_through_the_endpoint(
    db: Session, scene: Scene, send: Callable[..., Any], clock: clock_module.FrozenClock
) -> None:
    order_no = shipped_order(db, scene)

    def post(param: str, sign: str) -> None:
        assert send(param, sign).status_code == 200

    db.rollback()
    assert sandbox.play_due(db, post) == 0  # nothing is due at the moment of shipping
    clock.advance(hours=7)
    assert sandbox.play_due(db, post) == 2  # 揽收 at +2 h, 在途 at +7 h
    clock.advance(days=2)
    assert sandbox.play_due(db, post) == 3
    assert sandbox.play_due(db, post) == 0  # over
    order = _order(db, order_no)
    tracking = service.tracking_for_order(db, order.id)
    assert tracking is not None and tracking.state_name == "签收"
    assert [e.status for e in tracking.entries] == ["签收", "派件", "在途", "在途", "揽收"]
    assert order.delivered_at == tracking.entries[0].at


def test_the_buyer_sees_the_timeline_on_the_order_page(
    db: Session, scene: Scene, send: Callable[..., Any], login_client: Any, make_user: Any
) -> None:
    order_no = shipped_order(db, scene)
    param = _param("5", (timedelta(hours=1), "快递员正在派件，请保持电话畅通", "派件"))
    assert send(param, _signed(param)).status_code == 200
    page = login_client(scene.buyer).get(f"/orders/{order_no}")
    assert page.status_code == 200
    assert (
        "快递员正在派件，请保持电话畅通" in page.text
        and 'data-testid="parcel-tracking"' in page.text
    )
    stranger = login_client(make_user())
    assert stranger.get(f"/orders/{order_no}").status_code == 404


def test_the_merchant_page_and_its_sandbox_buttons(
    db: Session, scene: Scene, login_client: Any, make_user: Any
) -> None:
    order_no = shipped_order(db, scene)
    db.rollback()
    parcel_id = db.scalar(select(Parcel.id))
    owner = login_client(scene.owner)
    base = f"/merchant/shops/{scene.shop.id}/parcels"
    assert owner.get(base).status_code == 200
    csrf = {"csrf_token": owner.cookies.get("xd_csrf", "")}
    r = owner.post(f"{base}/{parcel_id}/sandbox/trouble", data=csrf, follow_redirects=False)
    assert r.status_code == 303
    page = owner.get(base)
    assert order_no in page.text and "疑难" in page.text
    # strangers: 404 for the page and the buttons, nothing written
    stranger = login_client(make_user())
    assert stranger.get(base).status_code == 404
    csrf = {"csrf_token": stranger.cookies.get("xd_csrf", "")}
    r = stranger.post(f"{base}/{parcel_id}/sandbox/step", data=csrf, follow_redirects=False)
    assert r.status_code == 404
    assert owner.post(f"{base}/999999/sandbox/step", data=csrf).status_code in (403, 404)
    assert _counts(db) == (1, 1)


def test_racing_copies_of_one_push_store_each_event_once(
    database: Any, db: Session, scene: Scene
) -> None:
    """Kuaidi100 retries: four copies of one 签收 push at once, on four connections."""
    order_no = shipped_order(db, scene)
    param = _param(
        "3",
        (timedelta(hours=1), "【杭州市】快递员已揽收", "揽收"),
        (timedelta(hours=30), "已签收，签收人：本人", "签收"),
    )
    sign = _signed(param)
    db.rollback()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            barrier.wait()
            with database.session() as session:
                service.receive_push(session, param=param, sign=sign)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert _counts(db) == (2, 1)
    delivered = db.scalar(
        select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "delivered")
    )
    assert delivered == 1
    assert _order(db, order_no).delivered_at is not None

"""Live rooms and flash sales through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.factories import make_product, make_shop
from tests.live.conftest import Scene, actor_for, add_address, sale_row, stock
from xiaodian import clock
from xiaodian.catalog.models import Sku
from xiaodian.content.live import flash, flash_engine, flash_gate, flash_purchase, flash_returns
from xiaodian.content.live import service as live
from xiaodian.content.live.models import (
    FlashOrderState,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    LiveRoomEvent,
    RoomStatus,
)
from xiaodian.db import Database
from xiaodian.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from xiaodian.orders import lifecycle as orders_lifecycle
from xiaodian.orders import service as orders_service
from xiaodian.orders import states as order_states
from xiaodian.orders.service import OrderStatus


def test_room_state_machine_and_events(db: Any, scene: Scene) -> None:
    with pytest.raises(IllegalTransition):
        live.transition(db, scene.host_actor, scene.room_id, "end")
    room = live.transition(db, scene.host_actor, scene.room_id, "go_live")
    assert room.status == RoomStatus.LIVE and room.started_at is not None
    with pytest.raises(IllegalTransition):
        live.transition(db, scene.host_actor, scene.room_id, "go_live")
    room = live.transition(db, scene.host_actor, scene.room_id, "end")
    assert room.status == RoomStatus.ENDED
    with pytest.raises(IllegalTransition):
        live.transition(db, scene.host_actor, scene.room_id, "go_live")
    kinds = [(e.kind, e.from_status, e.to_status) for e in live.room_events(db, scene.room_id)]
    assert kinds == [
        ("created", None, "scheduled"),
        ("go_live", "scheduled", "live"),
        ("end", "live", "ended"),
    ]
    assert all(e.actor_id == scene.host.id for e in live.room_events(db, scene.room_id))


def test_other_hosts_and_viewers_cannot_control(db: Any, scene: Scene, make_user: Any) -> None:
    stranger = make_user()
    other_shop_owner = make_user()
    other_shop = make_shop(db, other_shop_owner)
    for actor in (
        actor_for(stranger),
        actor_for(other_shop_owner, {other_shop.id: "owner"}),
        actor_for(stranger, creator=True),
    ):
        with pytest.raises(NotFound):
            live.transition(db, actor, scene.room_id, "go_live")
        with pytest.raises(NotFound):
            live.pin_product(db, actor, scene.room_id, scene.product.id)
        with pytest.raises(NotFound):
            flash.open_sale(
                db, actor, scene.room_id, flash.SaleInput(scene.product.id, scene.sku_id, 990, 1)
            )
        with pytest.raises(NotFound):
            live.report(db, actor, scene.room_id)
    assert live.get_room(db, scene.room_id).status == RoomStatus.SCHEDULED
    # The shop's staff may read the report but not drive the room.
    staff = make_user()
    staff_actor = actor_for(staff, {scene.shop.id: "staff"})
    assert live.report(db, staff_actor, scene.room_id).orders == 0
    with pytest.raises(NotFound):
        live.transition(db, staff_actor, scene.room_id, "go_live")


def test_who_may_host(db: Any, scene: Scene, make_user: Any) -> None:
    buyer = make_user()
    data = live.RoomInput(title="我的直播", scheduled_at=clock.now())
    with pytest.raises(PermissionDenied):
        live.create_room(db, actor_for(buyer), data)
    creator = make_user()
    # creators may list any on-sale product
    room = live.create_room(
        db,
        actor_for(creator, creator=True),
        live.RoomInput(title="达人专场", scheduled_at=clock.now(), product_ids=[scene.product.id]),
    )
    assert [p.id for p in live.room_products(db, room.id)] == [scene.product.id]
    # a merchant may only list its own shop's products
    owner = make_user()
    shop = make_shop(db, owner)
    with pytest.raises(NotFound):
        live.create_room(
            db,
            actor_for(owner, {shop.id: "owner"}),
            live.RoomInput(
                title="x", scheduled_at=clock.now(), shop_id=shop.id, product_ids=[scene.product.id]
            ),
        )
    with pytest.raises(NotFound):  # not their shop
        live.create_room(
            db,
            actor_for(owner, {shop.id: "owner"}),
            live.RoomInput(title="x", scheduled_at=clock.now(), shop_id=scene.shop.id),
        )


@pytest.mark.parametrize(
    "url",
    [
        "rtmp://live.example.com/app",
        "javascript:alert(1)",
        "ftp://x/y.m3u8",
        "http://",
        "not a url",
        "//evil.example.com/media/a.m3u8",
        "/media/../private/a.m3u8",
        "/static/live/a.m3u8",
    ],
)
def test_stream_url_must_be_http(db: Any, scene: Scene, url: str) -> None:
    with pytest.raises(InvalidInput):
        live.check_stream_url(url)
    creator_room = live.RoomInput(
        title="t", scheduled_at=clock.now(), stream_url=url, shop_id=scene.shop.id
    )
    with pytest.raises(InvalidInput):
        live.create_room(db, scene.host_actor, creator_room)


def test_stream_url_accepts_http_and_https(db: Any) -> None:
    assert live.check_stream_url(" https://cdn.example.com/live/a.m3u8 ") == (
        "https://cdn.example.com/live/a.m3u8"
    )
    assert live.check_stream_url("http://10.0.0.2:8080/hls/room") == "http://10.0.0.2:8080/hls/room"
    assert live.check_stream_url("") is None
    # the demo's stream, generated into this deployment's media directory
    assert live.check_stream_url("/media/live/demo/index.m3u8") == "/media/live/demo/index.m3u8"


def test_pin_comment_announce(db: Any, scene: Scene, make_user: Any) -> None:
    with pytest.raises(IllegalTransition):
        live.pin_product(db, scene.host_actor, scene.room_id, scene.product.id)
    scene.live(db)
    room = live.pin_product(db, scene.host_actor, scene.room_id, scene.product.id)
    assert room.pinned_product_id == scene.product.id
    other = make_product(db, scene.shop)
    with pytest.raises(NotFound):
        live.pin_product(db, scene.host_actor, scene.room_id, other.id)
    viewer = make_user(display_name="小王")
    comment = live.post_comment(db, actor_for(viewer), scene.room_id, "  好看  ")
    assert comment.body == "好看" and comment.author == "小王"
    with pytest.raises(InvalidInput):
        live.post_comment(db, actor_for(make_user()), scene.room_id, "x" * 201)
    from xiaodian.errors import RateLimited

    with pytest.raises(RateLimited):
        live.post_comment(db, actor_for(viewer), scene.room_id, "再来一条")
    live.announce(db, scene.host_actor, scene.room_id, "下单立减 10 元")
    snap = live.snapshot(db, scene.room_id)
    assert snap["pinned"]["id"] == scene.product.id
    assert [c["body"] for c in snap["comments"]] == ["好看"]
    kinds = [e.kind for e in live.room_events(db, scene.room_id)]
    assert "pin" in kinds and "announcement" in kinds


def test_flash_sale_validation(db: Any, scene: Scene) -> None:
    def open_(**kw: Any) -> Any:
        data = {
            "product_id": scene.product.id,
            "sku_id": scene.sku_id,
            "price_fen": 990,
            "quantity": 10,
            "per_buyer_limit": 1,
            "duration_seconds": 300,
        }
        data.update(kw)
        return flash.open_sale(db, scene.host_actor, scene.room_id, flash.SaleInput(**data))

    for bad in ({"price_fen": 1990}, {"price_fen": 0}, {"price_fen": 5000}):
        with pytest.raises(InvalidInput):
            open_(**bad)
    with pytest.raises(InvalidInput):
        open_(quantity=101)  # more than on hand
    with pytest.raises(InvalidInput):
        open_(quantity=0)
    with pytest.raises(InvalidInput):
        open_(per_buyer_limit=0)
    with pytest.raises(InvalidInput):
        open_(per_buyer_limit=11)
    with pytest.raises(InvalidInput):
        open_(duration_seconds=1)
    with pytest.raises(InvalidInput):
        open_(quantity="10")
    other = make_product(db, scene.shop)
    with pytest.raises(NotFound):
        open_(product_id=other.id, sku_id=other.skus[0].id)
    with pytest.raises(NotFound):
        open_(sku_id=other.skus[0].id)
    sale = open_()
    assert sale.remaining == 10 and stock(db, scene.sku_id) == (100, 0, 0, 100)
    with pytest.raises(IllegalTransition):  # the room is not live yet
        flash.start_sale(db, scene.host_actor, scene.room_id, sale.id)


def test_start_reserves_once_and_stop_releases(db: Any, scene: Scene, make_user: Any) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=10, limit=2)
    assert stock(db, scene.sku_id) == (90, 10, 0, 100)
    with pytest.raises(IllegalTransition):
        flash.start_sale(db, scene.host_actor, scene.room_id, sale_id)
    buyer = make_user()
    add_address(db, buyer)
    done = flash_purchase.buy(
        db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=2
    )
    assert done.remaining == 8 and done.amount_fen == 2 * 990
    order = orders_service.get_order_by_no(db, order_no=done.order_no)
    assert order.channel == "live" and order.channel_ref_id == scene.room_id
    assert order.lines[0].unit_price_fen == 990
    db.rollback()
    assert stock(db, scene.sku_id) == (90, 10, 0, 100)  # no second reservation
    flash.stop_sale(db, scene.host_actor, scene.room_id, sale_id)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)  # 8 unsold back on hand
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (2, 8)
    with pytest.raises(IllegalTransition):
        flash.stop_sale(db, scene.host_actor, scene.room_id, sale_id)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)


def test_buy_refusals(db: Any, scene: Scene, make_user: Any, clock: Any) -> None:
    buyer = make_user()
    add_address(db, buyer)
    actor = actor_for(buyer)
    sale_id = scene.sale(db, start=False)
    with pytest.raises(IllegalTransition):  # room not live
        flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=1)
    scene.live(db)
    with pytest.raises(IllegalTransition):  # not started
        flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=1)
    flash.start_sale(db, scene.host_actor, scene.room_id, sale_id)
    for bad in (0, -1, "1", 1.5, True, 10000):
        with pytest.raises(InvalidInput):
            flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=bad)
    with pytest.raises(Conflict) as limit:
        flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=2)
    assert limit.value.code == "limit_reached"
    with pytest.raises(NotFound):
        flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=99999, quantity=1)
    with pytest.raises(NotFound):  # the sale of another room
        flash_purchase.buy(db, actor, room_id=scene.room_id + 1, sale_id=sale_id, quantity=1)
    no_address = actor_for(make_user())
    with pytest.raises(InvalidInput) as addr:
        flash_purchase.buy(db, no_address, room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert addr.value.code == "address_required"
    flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=1)
    with pytest.raises(Conflict) as again:
        flash_purchase.buy(db, actor, room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert again.value.code == "limit_reached"
    clock.advance(minutes=11)  # past its end
    other = make_user()
    add_address(db, other)
    with pytest.raises(IllegalTransition):
        flash_purchase.buy(db, actor_for(other), room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert flash.expire_sales(db) == 1
    assert flash.expire_sales(db) == 0
    assert stock(db, scene.sku_id) == (99, 1, 0, 100)
    live.transition(db, scene.host_actor, scene.room_id, "end")
    with pytest.raises(IllegalTransition):
        flash_purchase.buy(db, actor_for(other), room_id=scene.room_id, sale_id=sale_id, quantity=1)


def test_ending_the_room_stops_its_sales(db: Any, scene: Scene) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=5)
    draft_id = scene.sale(db, quantity=3, start=False)
    live.transition(db, scene.host_actor, scene.room_id, "end")
    assert sale_row(db, sale_id).status == "stopped"
    assert sale_row(db, draft_id).quantity == 0
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)


def test_timeout_returns_units_to_the_sale_in_its_transaction_exactly_once(
    db: Any, scene: Scene, make_user: Any, clock: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1, duration=3600)
    buyers = [make_user() for _ in range(2)]
    for b in buyers:
        add_address(db, b)
    first = flash_purchase.buy(
        db, actor_for(buyers[0]), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    flash_purchase.buy(db, actor_for(buyers[1]), room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert sale_row(db, sale_id).remaining == 0
    late = make_user()
    add_address(db, late)
    with pytest.raises(Conflict) as sold_out:
        flash_purchase.buy(db, actor_for(late), room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert sold_out.value.code == "sold_out"
    clock.advance(minutes=16)  # the sale still runs past the payment timeout
    assert orders_service.cancel_expired_orders(db) == 2  # commits: no job after it
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 2, 2)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)  # reserved for the sale again
    assert orders_service.cancel_expired_orders(db) == 0  # again: nothing moves twice
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 2, 2)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)
    # the buyer's limit is free again
    again = flash_purchase.buy(
        db, actor_for(buyers[0]), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    assert again.order_no != first.order_no
    assert sale_row(db, sale_id).remaining == 1
    states = db.scalars(select(FlashSaleOrder.state).order_by(FlashSaleOrder.id)).all()
    assert states == [FlashOrderState.RETURNED, FlashOrderState.RETURNED, FlashOrderState.LIVE]


def test_buyer_cancel_returns_the_units_before_its_commit_once(
    db: Any, database: Database, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, limit=2)
    buyer = make_user()
    add_address(db, buyer)
    done = flash_purchase.buy(
        db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=2
    )
    order_id = orders_service.get_order_by_no(db, order_no=done.order_no).id
    db.rollback()
    with database.session() as session:  # the cancel's own transaction, not committed
        order_states.advance(session, [order_id], "cancel", actor_id=buyer.id)
        inside = session.get(FlashSale, sale_id)
        assert inside is not None and (inside.sold, inside.remaining) == (0, 3)
        session.rollback()
    assert (sale_row(db, sale_id).sold, sale_row(db, sale_id).remaining) == (2, 1)
    orders_service.cancel_order(db, actor_for(buyer), done.order_no)
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 3, 3)
    assert stock(db, scene.sku_id) == (97, 3, 0, 100)
    with pytest.raises(IllegalTransition):  # a second cancel moves nothing
        orders_service.cancel_order(db, actor_for(buyer), done.order_no)
    db.rollback()
    with database.session() as session:  # nor does the listener heard again
        flash_returns.return_units(
            session, orders_lifecycle.Change("cancelled", (order_id,), clock.now())
        )
        session.commit()
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 3, 3)
    assert db.scalar(select(FlashSaleBuyer.bought)) == 0
    assert stock(db, scene.sku_id) == (97, 3, 0, 100)


def test_a_failing_return_rolls_the_cancel_back(
    db: Any, scene: Scene, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1)
    buyer = make_user()
    add_address(db, buyer)
    done = flash_purchase.buy(
        db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )

    def fail(*_args: Any) -> None:
        raise RuntimeError("the sale's row cannot take the units back")

    monkeypatch.setattr(flash_returns, "_back_to_sale", fail)
    with pytest.raises(RuntimeError):
        orders_service.cancel_order(db, actor_for(buyer), done.order_no)
    db.rollback()
    order = orders_service.get_order_by_no(db, order_no=done.order_no)
    assert order.status == OrderStatus.PENDING_PAYMENT  # the cancel did not happen
    db.rollback()
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (1, 1)
    assert stock(db, scene.sku_id) == (98, 2, 0, 100)  # nothing released either
    assert db.scalar(select(FlashSaleOrder.state)) == FlashOrderState.LIVE
    db.rollback()
    monkeypatch.undo()
    orders_service.cancel_order(db, actor_for(buyer), done.order_no)
    assert sale_row(db, sale_id).remaining == 2


def test_paid_order_keeps_its_unit(db: Any, scene: Scene, make_user: Any, clock: Any) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, limit=1)
    buyer = make_user()
    add_address(db, buyer)
    done = flash_purchase.buy(
        db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    order = orders_service.get_order_by_no(db, order_no=done.order_no)
    orders_service.mark_paid(db, order_ids=[order.id], paid_at=clock.now(), payment_ref="T1")
    db.commit()
    assert db.scalar(select(FlashSaleOrder.state)) == FlashOrderState.PAID  # heard "paid"
    db.rollback()
    assert stock(db, scene.sku_id) == (97, 2, 1, 100)
    clock.advance(minutes=30)
    assert orders_service.cancel_expired_orders(db) == 0
    assert sale_row(db, sale_id).sold == 1
    flash.stop_sale(db, scene.host_actor, scene.room_id, sale_id)
    assert stock(db, scene.sku_id) == (99, 0, 1, 100)
    report = live.report(db, scene.host_actor, scene.room_id)
    assert (report.orders, report.paid_orders, report.gmv_fen) == (1, 1, 990)


def test_return_after_stop_counts_as_unsold(
    db: Any, scene: Scene, make_user: Any, clock: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1)
    buyer = make_user()
    add_address(db, buyer)
    flash_purchase.buy(db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=1)
    flash.stop_sale(db, scene.host_actor, scene.room_id, sale_id)
    clock.advance(minutes=20)
    assert orders_service.cancel_expired_orders(db) == 1
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 2, 2)
    assert stock(db, scene.sku_id) == (100, 0, 0, 100)


def test_cancelled_units_go_back_to_the_sale_before_the_shelf_can_sell_them(
    db: Any, scene: Scene, make_user: Any, clock: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=2, duration=3600)
    buyer = make_user()
    add_address(db, buyer)
    flash_purchase.buy(db, actor_for(buyer), room_id=scene.room_id, sale_id=sale_id, quantity=2)
    db.execute(update(Sku).where(Sku.id == scene.sku_id).values(stock_on_hand=0, stock_sold=98))
    db.commit()  # the shelf sold everything it had
    clock.advance(minutes=16)
    assert orders_service.cancel_expired_orders(db) == 1
    sale = sale_row(db, sale_id)  # released and reserved again in one transaction
    assert (sale.sold, sale.remaining, sale.quantity) == (0, 2, 2)
    assert stock(db, scene.sku_id) == (0, 2, 98, 100)


def _race(
    database: Database, scene: Scene, users: list[Any], sale_id: int, tries: int
) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(users))

    def run(user: Any) -> None:
        barrier.wait()
        for _ in range(tries):
            with database.session() as session:
                try:
                    flash_purchase.buy(
                        session, actor_for(user), room_id=scene.room_id, sale_id=sale_id, quantity=1
                    )
                    key = "ok"
                except (Conflict, IllegalTransition) as exc:
                    key = exc.code
            with lock:
                outcomes[key] = outcomes.get(key, 0) + 1

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_the_race_60_buyers_10_units(
    db: Any, database: Database, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=10, limit=1)
    users = [make_user() for _ in range(60)]
    for u in users:
        add_address(db, u)
    db.rollback()
    outcomes = _race(database, scene, users, sale_id, tries=2)
    assert outcomes["ok"] == 10
    assert sum(outcomes.values()) == 120
    assert set(outcomes) <= {"ok", "sold_out", "limit_reached"}
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (10, 0, 10)
    per_buyer = db.execute(
        select(FlashSaleOrder.buyer_id, func.sum(FlashSaleOrder.quantity)).group_by(
            FlashSaleOrder.buyer_id
        )
    ).all()
    assert len(per_buyer) == 10 and all(n == 1 for _b, n in per_buyer)
    assert db.scalar(select(func.max(FlashSaleBuyer.bought))) == 1
    assert db.scalar(select(func.sum(FlashSaleBuyer.bought))) == 10
    assert stock(db, scene.sku_id) == (90, 10, 0, 100)
    assert db.scalar(select(func.count(LiveRoomEvent.id))) >= 3


@pytest.mark.redis
def test_the_race_through_the_redis_gate(
    db: Any, database: Database, scene: Scene, make_user: Any, redis_settings: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=10, limit=1)
    gate = flash_gate.redis_gate()
    assert gate is not None and gate.prefix == redis_settings.redis_prefix
    assert int(gate.client.get(gate.keys(sale_id)[0])) == 10
    users = [make_user() for _ in range(60)]
    for u in users:
        add_address(db, u)
    db.rollback()
    outcomes = _race(database, scene, users, sale_id, tries=2)
    assert outcomes["ok"] == 10
    assert sum(outcomes.values()) == 120
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (10, 0)
    assert gate.client.zcard(gate.keys(sale_id)[2]) == 0  # every admission settled
    # A heal racing the last commit may leave the gate generous (never short): the
    # database refuses the extra press, and the periodic heal makes the gate true.
    assert int(gate.client.get(gate.keys(sale_id)[0])) in (0, 1)
    gate.heal(db, sale_id)
    db.rollback()
    assert int(gate.client.get(gate.keys(sale_id)[0])) == 0
    assert db.scalar(select(func.max(FlashSaleBuyer.bought))) == 1
    assert stock(db, scene.sku_id) == (90, 10, 0, 100)
    # the gate is rebuilt from the database, the record
    gate.client.set(gate.keys(sale_id)[0], 5)
    assert flash_gate.reconcile_gates(db) == 1
    assert int(gate.client.get(gate.keys(sale_id)[0])) == 0


@pytest.mark.redis
def test_processes_share_one_progress_update_per_interval(
    database: Database, redis_settings: Any, monkeypatch: Any
) -> None:
    """Two engines (two server processes) with the same sale's progress to tell: one of
    them publishes per interval, the other keeps it for later; a sell-out goes at once."""
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        flash_engine.realtime, "publish", lambda ch, ev, **_k: sent.append((ch, ev))
    )
    sale_id = 9
    info = flash.SaleInfo(
        id=sale_id, room_id=7, product_id=1, sku_id=1, price_fen=990, per_buyer_limit=1
    )
    engines = [flash_engine.FlashEngine(database), flash_engine.FlashEngine(database)]
    for remaining, engine in zip((40, 38), engines, strict=True):
        engine.states[sale_id] = flash_engine.SaleState(
            info=info, status="running", ends_at=None, remaining=remaining, room_status="live"
        )
        engine._dirty[sale_id] = 7
        engine._flush_events(force=False)
    assert [ev["remaining"] for _ch, ev in sent] == [40]
    assert sale_id in engines[1]._dirty  # kept, not lost
    engines[1]._flush_events(force=True)  # its writer idles: the last state goes
    assert [ev["remaining"] for _ch, ev in sent] == [40, 38]
    engines[1].states[sale_id].remaining = 0  # sold out: not held back
    engines[1]._dirty[sale_id] = 7
    engines[1]._flush_events(force=False)
    assert [ev["remaining"] for _ch, ev in sent] == [40, 38, 0]


@pytest.mark.redis
def test_the_gate_answers_a_batch_as_it_answers_one_by_one(redis_target: Any) -> None:
    """``take_many`` (one Lua call per sale) gives what ``take`` gives one at a time: buyers
    repeated within the batch, over the limit, the sale running out midway, two sales, and
    a sale the gate does not know (-3)."""
    import random

    gate = flash_gate.RedisGate(redis_target.url, redis_target.prefix)
    sales = [
        flash.SaleInfo(id=n, room_id=1, product_id=1, sku_id=1, price_fen=1, per_buyer_limit=2)
        for n in (1, 2, 3)
    ]
    rng = random.Random(5)
    asks = [(rng.choice(sales), rng.randint(1, 6), rng.randint(1, 3)) for _ in range(60)]
    answers = []
    for take in ("one by one", "batch"):
        for sale in sales[:2]:
            gate.open(sale.id, 9)
        gate.client.delete(*gate.keys(sales[2].id))  # never opened
        if take == "batch":
            answers.append([t.left for t in gate.take_many(asks)])
        else:
            answers.append([gate.take(info, buyer, q).left for info, buyer, q in asks])
        left = [int(gate.client.get(gate.keys(s.id)[0])) for s in sales[:2]]
        answers.append(left)
    one_by_one, left_one, batch, left_batch = answers
    assert batch == one_by_one and left_batch == left_one
    assert {-1, -2, -3} <= set(batch) and any(v >= 0 for v in batch)


def test_a_live_price_above_the_30_day_lowest_is_flagged(db: Any, scene: Scene, clock: Any) -> None:
    from sqlalchemy import select

    from xiaodian.catalog.models import PriceFlag, Sku

    sku = db.get(Sku, scene.sku_id)
    regular = sku.price_fen
    sku.price_fen = 500  # a day at ¥5.00 ...
    db.commit()
    clock.advance(timedelta(days=1))
    sku = db.get(Sku, scene.sku_id)
    sku.price_fen = regular  # ... then back up, and "live price ¥9.90"
    db.commit()
    scene.live(db)
    sale_id = scene.sale(db, price_fen=990, start=False)
    flags = list(db.scalars(select(PriceFlag)))
    assert [(f.source, f.ref_id, f.price_fen, f.lowest_fen) for f in flags] == [
        ("flash", sale_id, 990, 500)
    ]
    db.rollback()

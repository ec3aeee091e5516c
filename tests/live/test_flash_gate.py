"""The Redis gate after a crash: admissions never written come back (a process that starts
rebuilds the gates, a lease gives back those of a process that died while others sell, a
gate short of the database is rebuilt when nothing is in flight), and no admission is
counted twice. Every key under the test's own prefix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.live.conftest import Scene, actor_for, add_address, sale_row, stock
from xiaodian.content.live import flash, flash_engine, flash_gate, flash_purchase
from xiaodian.content.live.models import FlashSaleBuyer, FlashSaleOrder
from xiaodian.errors import DomainError

pytestmark = pytest.mark.redis


def _info(database: Any, sale_id: int) -> flash.SaleInfo:
    with database.session(write=False) as session:
        return flash.load_info(session, sale_id)[0]


def _buy(engine: flash_engine.FlashEngine, scene: Scene, sale_id: int, user: Any) -> str:
    """One press through a process's engine: "ok" or the refusal's code."""

    async def press() -> str:
        try:
            await engine.buy(actor_for(user), room_id=scene.room_id, sale_id=sale_id, quantity=1)
        except DomainError as exc:
            return exc.code
        return "ok"

    return asyncio.run(press())


def _gate_left(gate: flash_gate.RedisGate, sale_id: int) -> tuple[int, int]:
    """(remaining, pending admissions) in the gate."""
    remaining_key, _buyers, pending_key = gate.keys(sale_id)
    return int(gate.client.get(remaining_key)), int(gate.client.zcard(pending_key))


def _users(db: Any, make_user: Any, n: int) -> list[Any]:
    users = [make_user() for _ in range(n)]
    for u in users:
        add_address(db, u)
    db.rollback()
    return users


def _sold_exactly(db: Any, scene: Scene, sale_id: int, quantity: int, limit: int) -> None:
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (quantity, 0)
    per_buyer = db.execute(
        select(FlashSaleOrder.buyer_id, func.sum(FlashSaleOrder.quantity)).group_by(
            FlashSaleOrder.buyer_id
        )
    ).all()
    assert sum(n for _b, n in per_buyer) == quantity
    assert max(n for _b, n in per_buyer) <= limit
    assert db.scalar(select(func.max(FlashSaleBuyer.bought))) <= limit
    assert stock(db, scene.sku_id) == (100 - quantity, quantity, 0, 100)


def test_a_process_that_starts_sells_what_a_crashed_one_admitted_but_never_wrote(
    db: Any, database: Any, scene: Scene, make_user: Any, redis_settings: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=6, limit=1)
    users = _users(db, make_user, 7)
    gate = flash_gate.redis_gate()
    assert gate is not None
    # The crashed process: its gate admitted four buyers, its writer never wrote them.
    crashed = flash_gate.RedisGate(redis_settings.redis_url, redis_settings.redis_prefix)
    taken = crashed.take_many([(_info(database, sale_id), u.id, 1) for u in users[:4]])
    assert [t.left for t in taken] == [5, 4, 3, 2]
    assert _gate_left(gate, sale_id) == (2, 4)
    engine = flash_engine.FlashEngine(database)
    engine.start()  # the restarted process, at the same moment (no lease has run out)
    try:
        assert _gate_left(gate, sale_id) == (6, 0)
        answers = [_buy(engine, scene, sale_id, u) for u in users]
    finally:
        engine.stop()
    # the four the crashed process had admitted can buy too: the gate counts nobody twice
    assert answers == ["ok"] * 6 + ["sold_out"]
    _sold_exactly(db, scene, sale_id, 6, 1)
    assert _gate_left(gate, sale_id) == (0, 0)


def test_what_a_dead_process_admitted_returns_after_its_lease_while_another_sells(
    db: Any,
    database: Any,
    scene: Scene,
    make_user: Any,
    redis_settings: Any,
    clock: Any,
    monkeypatch: Any,
) -> None:
    """Two processes share the gate; one dies with four admissions in flight and is not
    restarted. The other sells the rest at once and those four within ``LEASE``."""
    monkeypatch.setattr(flash_engine, "VIEW_TTL", 0.0)  # read the sale afresh every press
    scene.live(db)
    sale_id = scene.sale(db, quantity=6, limit=1)
    users = _users(db, make_user, 7)
    survivor = flash_engine.FlashEngine(database)
    survivor.start()
    try:
        dead = flash_gate.RedisGate(redis_settings.redis_url, redis_settings.redis_prefix)
        dead.take_many([(_info(database, sale_id), u.id, 1) for u in users[:4]])
        assert [_buy(survivor, scene, sale_id, u) for u in users[4:]] == ["ok", "ok", "sold_out"]
        clock.advance(seconds=flash_gate.LEASE - 1)
        assert _buy(survivor, scene, sale_id, users[6]) == "sold_out"  # still in flight
        clock.advance(seconds=1)
        answers = [_buy(survivor, scene, sale_id, u) for u in users]
    finally:
        survivor.stop()
    assert answers == ["ok"] * 4 + ["sold_out"] * 3
    _sold_exactly(db, scene, sale_id, 6, 1)


def test_a_gate_short_of_the_database_is_rebuilt_when_nothing_is_in_flight(
    db: Any, database: Any, scene: Scene, make_user: Any, redis_settings: Any
) -> None:
    """A gate saying "sold out" (a lost return, a Redis hiccup) while the database has the
    units: the writer rebuilds it and the buyer gets the unit; also on the one-by-one path
    (``flash_purchase.buy``), and for a gate that lost the sale's keys."""
    scene.live(db)
    sale_id = scene.sale(db, quantity=4, limit=1)
    users = _users(db, make_user, 5)
    gate = flash_gate.redis_gate()
    assert gate is not None
    engine = flash_engine.FlashEngine(database)
    engine.start()
    try:
        assert _buy(engine, scene, sale_id, users[0]) == "ok"
        gate.client.set(gate.keys(sale_id)[0], 0)
        assert _buy(engine, scene, sale_id, users[1]) == "ok"
        gate.client.delete(*gate.keys(sale_id))  # Redis lost the sale
        assert _buy(engine, scene, sale_id, users[2]) == "ok"
    finally:
        engine.stop()  # the writer settles an admission just after answering its buyer
    assert _gate_left(gate, sale_id) == (1, 0)
    gate.client.set(gate.keys(sale_id)[0], 0)
    done = flash_purchase.buy(
        db, actor_for(users[3]), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    assert done.remaining == 0
    with pytest.raises(DomainError) as refused:
        flash_purchase.buy(
            db, actor_for(users[4]), room_id=scene.room_id, sale_id=sale_id, quantity=1
        )
    assert refused.value.code == "sold_out"
    _sold_exactly(db, scene, sale_id, 4, 1)
    assert _gate_left(gate, sale_id) == (0, 0)


def test_settling_counts_each_admission_once(redis_target: Any, clock: Any) -> None:
    """Written: it leaves the pending set. Not written: its units and the buyer's count go
    back, once. Its lease run out: given back by the next admission, and settling it
    later changes nothing (no second give-back)."""
    gate = flash_gate.RedisGate(redis_target.url, redis_target.prefix)
    info = flash.SaleInfo(id=5, room_id=1, product_id=1, sku_id=1, price_fen=1, per_buyer_limit=2)
    gate.open(info.id, 5)
    remaining_key, buyers_key, pending_key = gate.keys(info.id)
    assert all(key.startswith(redis_target.prefix) for key in gate.keys(info.id))

    def held(buyer: int) -> int:
        return int(gate.client.hget(buyers_key, str(buyer)) or 0)

    first, second = gate.take_many([(info, 1, 1), (info, 2, 2)])
    assert (first.left, second.left) == (4, 2) and first.ticket and second.ticket
    gate.settle([(info.id, first.ticket, True), (info.id, second.ticket, False)])
    assert _gate_left(gate, info.id) == (4, 0) and (held(1), held(2)) == (1, 0)
    gate.settle([(info.id, second.ticket, False)])  # again: nothing moves
    assert _gate_left(gate, info.id) == (4, 0) and held(2) == 0

    late = gate.take(info, 3, 2)
    assert late.left == 2 and held(3) == 2
    clock.advance(seconds=flash_gate.LEASE)
    assert gate.take(info, 4, 1).left == 3  # 2 given back by the lease, 1 taken
    assert held(3) == 0 and int(gate.client.zcard(pending_key)) == 1
    gate.settle([(info.id, late.ticket, False)])  # too late: given back already
    assert int(gate.client.get(remaining_key)) == 3 and held(3) == 0
    assert gate.take(info, 1, 2).left == flash_gate.LIMIT_REACHED  # holds 1 of 2
    assert gate.client.ttl(buyers_key) > 0 and gate.client.ttl(pending_key) > 0

    gate.close(info.id)
    assert _gate_left(gate, info.id) == (0, 0)
    assert gate.take(info, 9, 1).left == flash_gate.SOLD_OUT


def test_a_rebuild_racing_a_purchase_never_sells_more_than_the_sale(
    db: Any, database: Any, scene: Scene, make_user: Any, redis_settings: Any
) -> None:
    """A process starts (rebuilds the gate) while another's admission is in flight: read
    before that purchase commits, the gate is left one unit too generous; the database
    still sells exactly the quantity and refuses the one too many."""
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, limit=1)
    users = _users(db, make_user, 4)
    gate = flash_gate.redis_gate()
    assert gate is not None
    info = _info(database, sale_id)
    engine = flash_engine.FlashEngine(database)
    engine.start()
    try:
        in_flight = gate.take(info, users[0].id, 1)  # another process admits users[0]
        with database.session(write=False) as session:  # a third one starts: it reads
            assert gate.rebuild(session) == 1
        with database.session() as session:  # then users[0]'s purchase commits
            flash_purchase.purchase_in_tx(session, info, actor_for(users[0]), 1)
            session.commit()
        gate.settle([(sale_id, in_flight.ticket, True)])
        assert _gate_left(gate, sale_id) == (3, 0)  # one too generous, never short
        answers = [_buy(engine, scene, sale_id, u) for u in users[1:]]
        assert answers == ["ok", "ok", "sold_out"]
    finally:
        engine.stop()
    _sold_exactly(db, scene, sale_id, 3, 1)
    gate.client.set(gate.keys(sale_id)[0], 1)
    assert flash_gate.reconcile_gates(db) == 1  # nothing in flight: back to the record
    assert _gate_left(gate, sale_id) == (0, 0)


def test_a_cancel_gives_the_gate_its_units_back_after_its_commit_only(
    db: Any, database: Any, scene: Scene, make_user: Any, redis_settings: Any
) -> None:
    from xiaodian.orders import service as orders_service
    from xiaodian.orders import states as order_states

    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1)
    (user,) = _users(db, make_user, 1)
    gate = flash_gate.redis_gate()
    assert gate is not None
    done = flash_purchase.buy(
        db, actor_for(user), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    assert _gate_left(gate, sale_id) == (1, 0)
    order_id = orders_service.get_order_by_no(db, order_no=done.order_no).id
    db.rollback()
    with database.session() as session:  # rolled back: the gate hears nothing
        order_states.advance(session, [order_id], "cancel")
        assert _gate_left(gate, sale_id) == (1, 0)  # not before the commit either
        session.rollback()
    assert _gate_left(gate, sale_id) == (1, 0)
    orders_service.cancel_order(db, actor_for(user), done.order_no)
    assert _gate_left(gate, sale_id) == (2, 0)
    buyers_key = gate.keys(sale_id)[1]
    assert int(gate.client.hget(buyers_key, str(user.id)) or 0) == 0  # may buy again
    again = flash_purchase.buy(
        db, actor_for(user), room_id=scene.room_id, sale_id=sale_id, quantity=1
    )
    assert again.remaining == 1 and _gate_left(gate, sale_id) == (1, 0)


def test_every_key_and_channel_starts_with_the_configured_prefix(
    db: Any, scene: Scene, make_user: Any, redis_settings: Any, redis_target: Any
) -> None:
    from xiaodian import realtime

    def default_keys() -> dict[bytes, Any]:
        """Keys under the default prefix with their values: a shared server may hold
        some from elsewhere; this test must neither add nor change one."""
        client = redis_target.client
        return {key: client.dump(key) for key in client.scan_iter(match="xd:*")}

    before = default_keys()
    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1)
    (user,) = _users(db, make_user, 1)
    flash_purchase.buy(db, actor_for(user), room_id=scene.room_id, sale_id=sale_id, quantity=1)
    assert realtime.hub.backend == "redis"
    assert realtime.hub.redis_channels == redis_target.prefix + "rt:"
    gate = flash_gate.redis_gate()
    assert gate is not None and gate.claim_progress(sale_id, 1.0)
    ours = {key.decode() for key in redis_target.client.scan_iter(match=redis_target.prefix + "*")}
    assert ours == {
        f"{redis_target.prefix}flash:{sale_id}:{name}"
        for name in ("remaining", "buyers", "progress")
    }
    assert default_keys() == before

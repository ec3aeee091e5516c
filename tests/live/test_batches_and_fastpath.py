"""The buy path's batch work: one set-based purchase for many buyers, batched token
lookups, and the bearer fast path answering exactly like the documented route."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from tests.factories import make_shop
from tests.live.conftest import Scene, actor_for, add_address, sale_row, stock
from xiaodian.accounts import authcache
from xiaodian.accounts import service as accounts_service
from xiaodian.content.live import flash, flash_purchase
from xiaodian.content.live.models import FlashSaleBuyer, FlashSaleOrder
from xiaodian.errors import Conflict, DomainError, IllegalTransition, InvalidInput
from xiaodian.orders.models import Order


def _token(database: Any, user: Any) -> str:
    with database.session() as session:
        return accounts_service.issue_token(session, user_id=user.id)


def _info(database: Any, sale_id: int) -> flash.SaleInfo:
    with database.session(write=False) as session:
        return flash.load_info(session, sale_id)[0]


def test_batch_purchase_sells_exactly_what_is_left(
    db: Any, database: Any, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=5, limit=2)
    users = [make_user() for _ in range(6)]
    for u in users[:5]:
        add_address(db, u)  # the last one has no address
    db.rollback()
    info = _info(database, sale_id)
    # u0 takes 2, u1 takes 2 (4 of 5), u2 wants 2 but 1 is left -> refused, its count back;
    # u3 wants 3 > limit; u4 takes the last 1; u5 has no address.
    wanted = [2, 2, 2, 3, 1, 1]
    with database.session() as session:
        out = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(u), q) for u, q in zip(users, wanted, strict=True)]
        )
        session.commit()
    assert [type(o).__name__ for o in out] == [
        "Purchased",
        "Purchased",
        "Conflict",
        "Conflict",
        "Purchased",
        "InvalidInput",
    ]
    assert isinstance(out[2], Conflict) and out[2].code == "sold_out"
    assert isinstance(out[3], Conflict) and out[3].code == "limit_reached"
    assert isinstance(out[5], InvalidInput) and out[5].code == "address_required"
    assert [o.remaining for o in out if isinstance(o, flash.Purchased)] == [3, 1, 0]
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining, sale.quantity) == (5, 0, 5)
    bought = dict(
        db.execute(
            select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                FlashSaleBuyer.sale_id == sale_id
            )
        ).all()
    )
    assert bought == {users[0].id: 2, users[1].id: 2, users[2].id: 0, users[4].id: 1}
    orders = db.execute(select(Order.buyer_id, Order.total_fen, Order.channel)).all()
    assert sorted(orders) == sorted(
        [(users[0].id, 1980, "live"), (users[1].id, 1980, "live"), (users[4].id, 990, "live")]
    )
    assert db.scalar(select(func.count(FlashSaleOrder.id))) == 3
    assert stock(db, scene.sku_id) == (95, 5, 0, 100)
    # the per-buyer limit holds across batches: u0 is at 2
    with database.session() as session:
        again = flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(users[0]), 1)])
        session.rollback()
    assert isinstance(again[0], DomainError)


def test_optimistic_batch_writes_first_and_backs_off_when_units_are_short(
    db: Any, database: Any, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, limit=1)
    users = [make_user() for _ in range(5)]
    for u in users:
        add_address(db, u)
    db.rollback()
    info = _info(database, sale_id)
    # enough units: everyone counted gets one, the sale row moves once
    with database.session() as session:
        out = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(u), 1) for u in users[:2]], optimistic=True
        )
        session.commit()
    assert [o.remaining for o in out if isinstance(o, flash.Purchased)] == [2, 1]
    # three more buyers for the last unit: nothing of the optimistic try survives
    with database.session() as session:
        try:
            flash_purchase.purchase_batch_in_tx(
                session, info, [(actor_for(u), 1) for u in users[2:]], optimistic=True
            )
        except flash.SaleMoved:
            session.rollback()
        else:
            raise AssertionError("an optimistic batch over the remaining units must back off")
        assert session.scalar(select(func.count(FlashSaleOrder.id))) == 2
        out = flash_purchase.purchase_batch_in_tx(
            session, info, [(actor_for(u), 1) for u in users[2:]]
        )
        session.commit()
    assert [type(o).__name__ for o in out] == ["Purchased", "Conflict", "Conflict"]
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (3, 0)
    assert db.scalar(select(func.count(FlashSaleOrder.id))) == 3
    assert db.scalar(select(func.count(Order.id))) == 3
    assert db.scalar(select(func.sum(FlashSaleBuyer.bought))) == 3


def test_batch_purchase_refuses_when_not_running_and_needs_distinct_buyers(
    db: Any, database: Any, scene: Scene, make_user: Any
) -> None:
    scene.live(db)
    sale_id = scene.sale(db, quantity=3, start=False)
    buyer = make_user()
    add_address(db, buyer)
    db.rollback()
    info = _info(database, sale_id)
    with database.session() as session:
        out = flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)])
        session.rollback()
    assert isinstance(out[0], IllegalTransition) and out[0].code == "sale_not_running"
    with database.session() as session:
        try:
            flash_purchase.purchase_batch_in_tx(session, info, [(actor_for(buyer), 1)] * 2)
        except ValueError:
            pass
        else:
            raise AssertionError("duplicate buyers must be refused")
        finally:
            session.rollback()
    assert sale_row(db, sale_id).remaining == 3


def test_actors_for_tokens_resolves_many_in_few_queries(
    db: Any, database: Any, scene: Scene, make_user: Any, count_queries: Any
) -> None:
    users = [make_user() for _ in range(20)]
    tokens = [_token(database, u) for u in users]
    host_token = _token(database, scene.host)
    second = make_shop(db, make_user(), name="第二家店", staff=scene.host)  # two roles
    db.commit()
    with database.session() as session:
        accounts_service.logout(session, token=tokens[0])

    def is_select(statement: str) -> bool:
        return statement.lstrip().upper().startswith("SELECT")

    with count_queries(only=is_select) as counter, database.session(write=False) as session:
        found = accounts_service.actors_for_tokens(
            session, [*tokens, host_token, "nope", "x" * 300]
        )
    assert counter.count == 1, counter.statements  # roles included
    assert set(found) == {*tokens[1:], host_token}
    assert found[tokens[3]].user_id == users[3].id
    assert found[host_token].shop_roles == {scene.shop.id: "owner", second.id: "staff"}
    assert found[tokens[3]].shop_roles == {}


def test_authcache_batches_concurrent_misses(database: Any, make_user: Any) -> None:
    users = [make_user() for _ in range(30)]
    tokens = [_token(database, u) for u in users]
    authcache.clear()

    async def many() -> list[Any]:
        batcher = authcache._Batcher()
        authcache._batcher, before = batcher, authcache._batcher
        try:
            actors = await asyncio.gather(
                *(authcache.actor_for_token(database, t) for t in [*tokens, *tokens, "bad"])
            )
            return [actors, batcher.lookups]
        finally:
            authcache._batcher = before

    actors, lookups = asyncio.run(many())
    assert [a.user_id for a in actors[:30]] == [u.id for u in users]
    assert [a.user_id for a in actors[30:60]] == [u.id for u in users]
    assert actors[60].user_id is None
    assert lookups <= 2  # the misses went out together, not 31 lookups


def test_fast_path_answers_like_the_route(
    db: Any, database: Any, scene: Scene, make_user: Any, app: Any
) -> None:
    from fastapi.testclient import TestClient

    scene.live(db)
    sale_id = scene.sale(db, quantity=1, limit=1)
    buyer, late = make_user(), make_user()
    add_address(db, buyer)
    add_address(db, late)
    db.rollback()
    path = f"/api/v1/live/rooms/{scene.room_id}/flash-sales/{sale_id}/buy"
    with TestClient(app) as c:
        auth = {"Authorization": f"Bearer {_token(database, buyer)}"}
        # bad input: body, quantity, address, unknown ids, a stranger's token
        assert c.post(path, content=b"[]", headers=auth).status_code == 422
        assert c.post(path, json={"quantity": "2"}, headers=auth).status_code == 422
        bad_address = c.post(path, json={"address_id": True}, headers=auth)
        assert bad_address.status_code == 422
        assert bad_address.json()["error"]["code"] == "bad_address"
        other_room = f"/api/v1/live/rooms/{scene.room_id + 999}/flash-sales/{sale_id}/buy"
        assert c.post(other_room, json={}, headers=auth).status_code == 404
        assert c.post(path, json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post(path, content=b"x" * 5000, headers=auth).status_code == 413
        chinese = c.post(
            path, json={"quantity": 5}, headers={**auth, "Accept-Language": "zh-CN,zh;q=0.9"}
        )
        assert chinese.status_code == 409 and chinese.json()["error"]["code"] == "limit_reached"
        assert chinese.json()["error"]["message"] != "You can buy at most 1 of this flash sale."
        ok = c.post(path, json={"quantity": 1}, headers=auth)
        assert ok.status_code == 201, ok.text
        assert set(ok.json()) == {"order_no", "pay_url", "quantity", "amount_fen", "remaining"}
        assert ok.json()["remaining"] == 0 and ok.json()["amount_fen"] == 990
        again = c.post(path, json={"quantity": 1}, headers=auth)
        assert again.status_code == 409
        sold = c.post(path, json={}, headers={"Authorization": f"Bearer {_token(database, late)}"})
        assert sold.status_code == 409 and sold.json()["error"]["code"] == "sold_out"
        assert sold.headers["content-type"] == "application/json"
        # a browser (no bearer) still goes through the app: CSRF applies to its form posts
        browser = c.post(path, data={"quantity": "1"})
        assert browser.status_code in (401, 403)
        # the documented route is still there
        documented = "/api/v1/live/rooms/{room_id}/flash-sales/{sale_id}/buy"
        assert documented in c.get("/openapi.json").json()["paths"]
    assert sale_row(db, sale_id).remaining == 0
    assert db.scalar(select(func.count(FlashSaleOrder.id))) == 1


def test_ids_out_of_range_are_answered_like_the_route(
    db: Any, database: Any, scene: Scene, make_user: Any, app: Any, login_client: Any
) -> None:
    """Ids no row can have (0, past the INTEGER columns, an address id too) are 404 on the
    bearer fast path exactly as on the documented route (a browser's JSON buy), and a
    spelling the fast path does not take (0, 007) goes to the route."""
    from fastapi.testclient import TestClient

    scene.live(db)
    sale_id = scene.sale(db, quantity=5, limit=1)
    buyer = make_user()
    add_address(db, buyer)
    db.rollback()
    room = scene.room_id
    calls = [
        (f"/api/v1/live/rooms/0/flash-sales/{sale_id}/buy", {}),
        (f"/api/v1/live/rooms/{room}/flash-sales/0/buy", {}),
        (f"/api/v1/live/rooms/{2**31}/flash-sales/{sale_id}/buy", {}),
        (f"/api/v1/live/rooms/{room}/flash-sales/{2**63}/buy", {}),
        (f"/api/v1/live/rooms/{room}/flash-sales/{sale_id}/buy", {"address_id": 2**31}),
        (f"/api/v1/live/rooms/{room}/flash-sales/{sale_id}/buy", {"address_id": -1}),
        (f"/api/v1/live/rooms/{room}/flash-sales/{sale_id}/buy", {"address_id": 0}),
        (f"/api/v1/live/rooms/{room}/flash-sales/{sale_id}/buy", {"address_id": "1"}),
    ]
    browser = login_client(buyer)
    with TestClient(app) as c:
        auth = {"Authorization": f"Bearer {_token(database, buyer)}", "Accept-Language": "en"}
        for path, body in calls:
            fast = c.post(path, json=body, headers=auth)
            routed = browser.post(path, json=body, headers={"Accept-Language": "en"})
            assert (fast.status_code, fast.json()) == (routed.status_code, routed.json()), path
            assert fast.status_code == (422 if body.get("address_id") == "1" else 404), path
        leading_zero = f"/api/v1/live/rooms/{room:03d}/flash-sales/{sale_id:03d}/buy"
        assert c.post(leading_zero, json={}, headers=auth).status_code == 201
    assert sale_row(db, sale_id).remaining == 4


def test_a_first_press_is_identified_by_the_writer(
    db: Any, database: Any, scene: Scene, make_user: Any, app: Any
) -> None:
    """A bearer token the process has not seen goes to the writer, which finds the buyer
    inside its batch: the purchase is made, the buyer is cached for the next press, and
    an unknown token still gets the 401 (also when the sale has sold out meanwhile)."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    scene.live(db)
    sale_id = scene.sale(db, quantity=2, limit=1)
    first, racer, stranger = make_user(), make_user(), make_user()
    for user in (first, racer, stranger):
        add_address(db, user)
    db.rollback()
    path = f"/api/v1/live/rooms/{scene.room_id}/flash-sales/{sale_id}/buy"
    authcache.clear()
    with TestClient(app) as c:
        token = _token(database, first)
        assert authcache.cached(token) is None
        ok = c.post(path, json={"quantity": 1}, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 201, ok.text
        cached = authcache.cached(token)
        assert cached is not None and cached.user_id == first.id
        again = c.post(path, json={}, headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "limit_reached"
        # one new buyer pressing twice at once: one unit, the other press refused
        racer_auth = {"Authorization": f"Bearer {_token(database, racer)}"}
        with ThreadPoolExecutor(2) as pool:
            codes = sorted(
                r.status_code
                for r in pool.map(lambda _i: c.post(path, json={}, headers=racer_auth), range(2))
            )
        assert codes == [201, 409]
        # sold out now: a new token that is nobody's gets 401, a real one the 409
        assert c.post(path, json={}, headers={"Authorization": "Bearer nobody"}).status_code == 401
        late = c.post(
            path, json={}, headers={"Authorization": f"Bearer {_token(database, stranger)}"}
        )
        assert late.status_code == 409 and late.json()["error"]["code"] == "sold_out"
    assert sale_row(db, sale_id).remaining == 0
    buyers = db.scalars(select(FlashSaleOrder.buyer_id).where(FlashSaleOrder.sale_id == sale_id))
    assert sorted(buyers) == sorted([first.id, racer.id])


def test_two_engines_race_their_writers_for_a_sale(
    db: Any, database: Any, scene: Scene, make_user: Any, monkeypatch: Any
) -> None:
    """Two processes' engines (two writer threads each on PostgreSQL, one on SQLite) take
    120 presses for 37 units at once, half of them first presses by bearer token: batches
    overlap, the one-statement batches back off to the locked path near the sell-out, and
    still exactly 37 units are sold, nobody past the limit, every press answered once."""
    from xiaodian.content.live import flash_engine

    monkeypatch.setattr(flash_engine, "BATCH", 5)  # many small batches: more of them overlap
    scene.live(db)
    sale_id = scene.sale(db, quantity=37, limit=2)
    users = [make_user() for _ in range(40)]
    for u in users:
        add_address(db, u)
    db.rollback()
    tokens = {u.id: _token(database, u) for u in users[::2]}
    authcache.clear()
    engines = [flash_engine.FlashEngine(database), flash_engine.FlashEngine(database)]
    for engine in engines:
        engine.start()

    async def press(n: int, user: Any) -> Any:
        engine = engines[n % 2]
        quantity = 2 if n % 7 == 0 else 1
        wanted = {"room_id": scene.room_id, "sale_id": sale_id, "quantity": quantity}
        try:
            if user.id in tokens and n < len(users):  # a first press, by token
                return await engine.buy_by_token(tokens[user.id], **wanted)
            return await engine.buy(actor_for(user), **wanted)
        except DomainError as exc:
            return exc

    async def crowd() -> list[Any]:
        presses = [*users, *users, *users]  # each buyer presses three times
        return await asyncio.gather(*(press(n, u) for n, u in enumerate(presses)))

    try:
        answers = asyncio.run(crowd())
    finally:
        for engine in engines:
            engine.stop()
        authcache.clear()
    assert len(answers) == 120
    bought = [a for a in answers if isinstance(a, flash.Purchased)]
    refused = [a for a in answers if not isinstance(a, flash.Purchased)]
    assert sum(p.quantity for p in bought) == 37
    assert {getattr(r, "code", None) for r in refused} <= {"sold_out", "limit_reached"}
    sale = sale_row(db, sale_id)
    assert (sale.sold, sale.remaining) == (37, 0)
    assert db.scalar(select(func.sum(FlashSaleOrder.quantity))) == 37
    assert db.scalar(select(func.count(Order.id))) == len(bought)
    per_buyer = dict(
        db.execute(
            select(FlashSaleOrder.buyer_id, func.sum(FlashSaleOrder.quantity)).group_by(
                FlashSaleOrder.buyer_id
            )
        ).all()
    )
    assert max(per_buyer.values()) <= 2
    counted = dict(
        db.execute(
            select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                FlashSaleBuyer.sale_id == sale_id, FlashSaleBuyer.bought > 0
            )
        ).all()
    )
    assert counted == per_buyer  # no count left behind by a batch that backed off
    assert stock(db, scene.sku_id) == (63, 37, 0, 100)

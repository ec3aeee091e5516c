"""Cases: opened and closed by their domains in the same transaction, claimed by exactly
one of two racing operators, worked by the roles their queue names, counted and paged in
a fixed number of statements, breached by the clock."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.ledger.conftest import Trade
from xiaodian.actor import Actor
from xiaodian.cases import service, views
from xiaodian.cases.models import Case, CaseLog
from xiaodian.db import Database
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def _open(database: Database, queue: str, key: str, **extra: Any) -> int:
    with database.session() as db:
        service.open_case(db, queue, key, title=key, link="/ops", **extra)
        db.commit()
        return int(db.scalar(select(Case.id).where(Case.queue == queue, Case.key == key)) or 0)


def _case(database: Database, case_id: int) -> Case:
    with database.session(write=False) as db:
        found = db.get(Case, case_id)
        assert found is not None
        db.expunge(found)
        return found


def test_a_paid_order_waits_for_its_shop_to_ship_it(trade: Trade, clock: Any) -> None:
    shop, owner, sku = trade.shop()
    buyer = trade.buyer()
    (order_no,) = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, [order_no])
    with trade.database.session(write=False) as db:
        (row,) = db.scalars(select(Case).where(Case.queue == "orders_to_ship"))
        order = trade.order(order_no)
        assert row.key == f"order:{order.id}" and row.shop_id == shop.id
        assert row.due_at == order.paid_at + timedelta(hours=48) and row.closed_at is None
    with trade.database.session(write=False) as db:
        due = views.merchant_due(db, owner, shop.id)
        assert [r.case.title for r in due] == [order_no]
        assert views.merchant_counts(db, owner, shop.id) == {"orders_to_ship": (1, 0)}
    clock.advance(timedelta(hours=49))
    with trade.database.session(write=False) as db:
        assert views.merchant_counts(db, owner, shop.id) == {"orders_to_ship": (1, 1)}
        assert views.merchant_due(db, owner, shop.id)[0].breached
    trade.ship(owner, shop.id, order_no)
    with trade.database.session(write=False) as db:
        (row,) = db.scalars(select(Case).where(Case.queue == "orders_to_ship"))
        assert row.closed_at is not None and row.outcome == "shipped"
        assert views.merchant_due(db, owner, shop.id) == []


def test_opening_twice_keeps_one_case_and_closing_logs_who(
    database: Database, operators: list[Actor]
) -> None:
    first = _open(database, "withdrawals", "withdrawal:1", shop_id=None)
    assert _open(database, "withdrawals", "withdrawal:1") == first
    with database.session() as db:
        service.close_case(
            db, "withdrawals", "withdrawal:1", outcome="approved", actor_id=operators[0].user_id
        )
        service.close_case(db, "withdrawals", "withdrawal:unknown", outcome="approved")
        db.commit()
    with database.session(write=False) as db:
        actions = [(e.action, e.actor_id) for e in db.scalars(select(CaseLog).order_by(CaseLog.id))]
    assert actions == [("opened", None), ("closed", operators[0].user_id)]
    assert _case(database, first).outcome == "approved"


@pytest.mark.parametrize("attempts", [2, 8])
def test_of_operators_racing_to_claim_exactly_one_holds_the_case(
    database: Database, operators: list[Actor], attempts: int
) -> None:
    case_id = _open(database, "product_reviews", "product:1")
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []

    def race(actor: Actor) -> None:
        barrier.wait()
        try:
            with database.session() as db:
                service.claim(db, actor, case_id)
            outcomes.append(f"won:{actor.user_id}")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=race, args=(operators[i % 2],)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = {o for o in outcomes if o.startswith("won:")}
    assert len(winners) == 1, outcomes  # the same operator may "win" again: a no-op
    assert sorted(set(outcomes) - winners) in ([], ["case_claimed"]), outcomes
    assert "case_claimed" in outcomes
    holder = _case(database, case_id).owner_id
    assert winners == {f"won:{holder}"}
    with database.session(write=False) as db:
        claims = db.scalars(select(CaseLog).where(CaseLog.action == "claimed")).all()
        assert len(claims) == 1


def test_release_and_hand_over_need_the_holder(
    database: Database, operators: list[Actor], make_user: Any
) -> None:
    a, b, c = operators
    case_id = _open(database, "product_reviews", "product:2")
    with database.session() as db:
        service.set_roles(db, a, b.user_id, ["reviewer"])
        service.set_roles(db, a, c.user_id, ["reviewer"])
        service.claim(db, b, case_id)
    with database.session() as db, pytest.raises(Conflict) as held:
        service.release(db, c, case_id)
    assert held.value.code == "case_claimed" and "运营1" in held.value.render(None)
    buyer = make_user()
    with database.session() as db, pytest.raises(InvalidInput):
        service.hand_over(db, b, case_id, buyer.id)  # not an operator
    with database.session() as db:
        service.hand_over(db, b, case_id, c.user_id)
    assert _case(database, case_id).owner_id == c.user_id
    with database.session() as db:
        service.release(db, c, case_id)
    assert _case(database, case_id).owner_id is None


def test_each_queue_knows_who_may_act(database: Database, operators: list[Actor]) -> None:
    admin, finance, reviewer = operators
    with database.session() as db:
        service.set_roles(db, admin, finance.user_id, ["finance"])
        service.set_roles(db, admin, reviewer.user_id, ["reviewer"])
    review = _open(database, "product_reviews", "product:3")
    money = _open(database, "withdrawals", "withdrawal:3")
    with database.session() as db, pytest.raises(PermissionDenied):
        service.claim(db, finance, review)
    with database.session() as db, pytest.raises(PermissionDenied):
        service.claim(db, reviewer, money)
    with database.session() as db, pytest.raises(PermissionDenied):
        service.set_roles(db, finance, reviewer.user_id, ["admin"])  # only admins give roles
    with database.session() as db, pytest.raises(InvalidInput):
        service.set_roles(db, admin, reviewer.user_id, ["janitor"])
    with database.session() as db:
        service.claim(db, finance, money)
        service.claim(db, reviewer, review)
        counts = {q.queue.name: q for q in views.home(db, finance)}
    assert counts["withdrawals"].may_act and not counts["product_reviews"].may_act
    assert (counts["withdrawals"].open, counts["withdrawals"].mine) == (1, 1)


def test_bulk_claim_leaves_others_cases_alone(database: Database, operators: list[Actor]) -> None:
    a, b, _c = operators
    ids = [_open(database, "appeals", f"appeal:{i}") for i in range(4)]
    with database.session() as db:
        service.claim(db, b, ids[0])
    with database.session() as db:
        assert service.claim_many(db, a, [*ids, 2**31, -1]) == 3
    owners = [_case(database, i).owner_id for i in ids]
    assert owners == [b.user_id, a.user_id, a.user_id, a.user_id]


def test_counts_and_pages_cost_the_same_statements_however_many_cases(
    database: Database, operators: list[Actor], count_queries: Any, clock: Any
) -> None:
    def costs() -> tuple[int, int]:
        with database.session(write=False) as db, count_queries() as home:
            views.home(db, operators[0])
        with database.session(write=False) as db, count_queries() as page:
            views.queue_page(db, operators[0], "appeals", views.Filters())
        return home.count, page.count

    first = _open(database, "appeals", "appeal:first")
    with database.session() as db:
        service.claim(db, operators[0], first)  # a page with a holder names them: one query
    few = costs()
    with database.session() as db:
        for queue in ("appeals", "withdrawals", "shop_applications"):
            service.open_cases(
                db,
                queue,
                ({"key": f"k{i}", "title": "t", "link": "/", "shop_id": i} for i in range(120)),
            )
        db.commit()
    for case_id in (2, 3, 4):
        with database.session() as db:
            service.claim(db, operators[case_id - 2], case_id)
    assert costs() == few


def test_pages_run_oldest_deadline_first_and_filter(
    database: Database, operators: list[Actor], clock: Any
) -> None:
    now = clock.now()
    for i, hours in enumerate((5, -3, 30, 1)):
        _open(database, "appeals", f"appeal:{i}", due_at=now + timedelta(hours=hours), shop_id=i)
    me = operators[0]
    with database.session() as db:
        _rule, rows, cursor = views.queue_page(db, me, "appeals", views.Filters())
        assert [r.case.key for r in rows] == ["appeal:1", "appeal:3", "appeal:0", "appeal:2"]
        assert [r.breached for r in rows] == [True, False, False, False] and cursor is None
        _rule, breached, _ = views.queue_page(db, me, "appeals", views.Filters(breached=True))
        assert [r.case.key for r in breached] == ["appeal:1"]
        text = views.export_csv(db, me, "appeals", views.Filters(shop_id=2))
        assert text.count("\n") == 2 and "appeal:2" in text
    with database.session() as db:
        for bad in (("nobody", "", None, None), ("all", "", "x", None), ("all", "", None, "z_1")):
            with pytest.raises(InvalidInput):
                views.check_filters(*bad)
        with pytest.raises(NotFound):
            views.queue_page(db, me, "no_such_queue", views.Filters())
        with pytest.raises(NotFound):
            views.queue_page(db, me, "orders_to_ship", views.Filters())  # the merchants'
        with pytest.raises(NotFound):
            service.claim(db, me, 2**31)


def test_a_paused_case_keeps_its_time_left(database: Database, clock: Any) -> None:
    _open(database, "aftersales_escalations", "aftersale:9")
    with database.session() as db:
        service.pause_case(db, "aftersales_escalations", "aftersale:9")
        db.commit()
    clock.advance(timedelta(hours=100))
    with database.session() as db:
        service.resume_case(db, "aftersales_escalations", "aftersale:9")
        db.commit()
    with database.session(write=False) as db:
        found = db.scalar(select(Case).where(Case.key == "aftersale:9"))
        assert found is not None and found.paused_at is None
        assert views._left(found, clock.now()) == timedelta(hours=72)
    with database.session() as db, pytest.raises(Conflict):
        service.pause_case(db, "withdrawals", "withdrawal:1")

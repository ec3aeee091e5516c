"""Group buying (拼团): a buyer opens a 3-person group and pays, two others join and pay, it
succeeds and the orders (held until then: not shippable) go to the merchant; a group whose
time runs out first refunds every member in full and the stock comes back; the last place
goes to exactly one of two payers racing for it (threads against the database); bad input
of every kind writes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.ledger.conftest import Trade
from xiaodian.campaigns import groups
from xiaodian.campaigns.models import Group, GroupMember, GroupOffer
from xiaodian.cases.models import Case
from xiaodian.catalog.models import Sku
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order
from xiaodian.payments import service as payments_service


def _scene(trade: Trade, *, size: int = 3) -> dict[str, Any]:
    shop, owner, sku_id = trade.shop(price=10000)
    with trade.session() as db:
        offer = groups.create_offer(
            db, owner, shop.id, groups.OfferInput(sku_id=sku_id, price_fen=6900, size=size)
        )
    return {"shop": shop, "owner": owner, "sku": sku_id, "offer": offer.id}


def _buyers(trade: Trade, n: int) -> list[Any]:
    return [trade.buyer() for _ in range(n)]


def _order(trade: Trade, no: str) -> Any:
    return trade.order(no)


def _to_ship(trade: Trade) -> set[str]:
    """The order numbers in the merchant's "orders to ship" queue."""
    with trade.session() as db:
        open_cases = select(Case.title).where(
            Case.queue == "orders_to_ship", Case.closed_at.is_(None)
        )
        return set(db.scalars(open_cases))


def test_a_group_fills_and_its_orders_go_to_the_merchant(trade: Trade) -> None:
    s = _scene(trade)
    leader, second, third = _buyers(trade, 3)
    with trade.session() as db:
        opened = groups.open_group(db, leader[0], s["offer"])
    trade.pay(leader, [opened.order_no])
    first = _order(trade, opened.order_no)
    assert (first.total_fen, first.held, first.channel) == (6900, True, "group")
    assert _to_ship(trade) == set()  # paid but held: nothing to ship yet
    with pytest.raises(Conflict) as held:
        trade.ship(s["owner"], s["shop"].id, opened.order_no)
    assert held.value.code == "order_held"
    joined = []
    for buyer in (second, third):
        with trade.session() as db:
            joined.append(groups.join_group(db, buyer[0], opened.group_id))
    with trade.session() as db, pytest.raises(Conflict):
        groups.join_group(db, second[0], opened.group_id)  # in it already
    for buyer, j in zip((second, third), joined, strict=True):
        trade.pay(buyer, [j.order_no])
    with trade.session() as db:
        view = groups.group_view(db, opened.group_id)
        assert (view.group.status, view.group.paid, view.places_left) == ("succeeded", 3, 0)
    for no in (opened.order_no, *[j.order_no for j in joined]):
        assert _order(trade, no).held is False
    assert _to_ship(trade) == {opened.order_no, *[j.order_no for j in joined]}
    trade.ship(s["owner"], s["shop"].id, opened.order_no)  # shippable now
    with trade.session() as db, pytest.raises(IllegalTransition):
        groups.join_group(db, trade.buyer()[0], opened.group_id)  # full


def test_a_group_whose_time_runs_out_refunds_everyone(trade: Trade) -> None:
    s = _scene(trade)
    leader, second = _buyers(trade, 2)
    with trade.session() as db:
        stock_before = db.get(Sku, s["sku"]).stock_on_hand
        opened = groups.open_group(db, leader[0], s["offer"])
    trade.pay(leader, [opened.order_no])
    with trade.session() as db:
        joined = groups.join_group(db, second[0], opened.group_id)
    trade.pay(second, [joined.order_no])
    trade.clock.advance(timedelta(hours=25))
    with trade.session() as db:
        assert groups.due(db) == 2
    with trade.session() as db:
        payments_service.submit_refunds(db)
    with trade.session() as db:
        assert db.get(Group, opened.group_id).status == "expired"
        assert db.get(Sku, s["sku"]).stock_on_hand == stock_before
    for no in (opened.order_no, joined.order_no):
        order = _order(trade, no)
        assert (order.status, order.refunded_fen) == ("closed", 6900)
    with trade.session() as db:
        assert groups.due(db) == 0  # once


def test_the_last_place_goes_to_exactly_one_payer(trade: Trade, backend: str) -> None:
    s = _scene(trade, size=2)
    leader, a, b = _buyers(trade, 3)
    with trade.session() as db:
        opened = groups.open_group(db, leader[0], s["offer"])
    trade.pay(leader, [opened.order_no])
    orders = []
    for buyer in (a, b):
        with trade.session() as db:
            orders.append(groups.join_group(db, buyer[0], opened.group_id).order_no)
    ids = [_order(trade, no).id for no in orders]
    barrier = threading.Barrier(2)

    def pay(order_id: int, ref: str) -> None:
        barrier.wait()
        with trade.session() as db:
            orders_service.mark_paid(
                db, order_ids=[order_id], paid_at=trade.clock.now(), payment_ref=ref
            )
            db.commit()

    threads = [
        threading.Thread(target=pay, args=(order_id, f"XDRACE{i}"))
        for i, order_id in enumerate(ids)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with trade.session() as db:
        group = db.get(Group, opened.group_id)
        statuses = sorted(
            db.scalars(select(GroupMember.status).where(GroupMember.order_id.in_(ids)))
        )
        assert (group.status, group.paid) == ("succeeded", 2)
        assert statuses == ["late", "paid"]


def test_bad_offers_and_joins_write_nothing(trade: Trade, make_user: Any) -> None:
    shop, owner, sku_id = trade.shop(price=10000)
    _other_shop, _other_owner, other_sku = trade.shop(price=5000)
    bad = [
        groups.OfferInput(sku_id=sku_id, price_fen=6900, size=1),
        groups.OfferInput(sku_id=sku_id, price_fen=6900, size=11),
        groups.OfferInput(sku_id=sku_id, price_fen=10000, size=3),
        groups.OfferInput(sku_id=sku_id, price_fen=0, size=3),
        groups.OfferInput(sku_id=sku_id, price_fen=6900, size=3, hours=0),
        groups.OfferInput(sku_id=other_sku, price_fen=1000, size=3),
        groups.OfferInput(sku_id=2**31, price_fen=1000, size=3),
    ]
    for data in bad:
        with trade.session() as db, pytest.raises(InvalidInput):
            groups.create_offer(db, owner, shop.id, data)
    with trade.session() as db:
        assert db.scalar(select(func.count()).select_from(GroupOffer)) == 0
    with trade.session() as db:
        offer = groups.create_offer(
            db,
            owner,
            shop.id,
            groups.OfferInput(sku_id=sku_id, price_fen=6900, size=3, per_buyer_limit=2),
        )
    buyer = trade.buyer()
    with trade.session() as db, pytest.raises(InvalidInput):
        groups.open_group(db, buyer[0], offer.id, quantity=3)  # above the limit
    with trade.session() as db:
        opened = groups.open_group(db, buyer[0], offer.id, quantity=2)
    trade.clock.advance(timedelta(hours=25))
    with trade.session() as db, pytest.raises(IllegalTransition):
        groups.join_group(db, trade.buyer()[0], opened.group_id)  # expired
    with trade.session() as db:
        groups.stop_offer(db, owner, offer.id)
    with trade.session() as db, pytest.raises(IllegalTransition):
        groups.open_group(db, trade.buyer()[0], offer.id)
    with trade.session() as db:
        assert db.scalar(select(func.count()).select_from(Order)) == 1


def test_the_limit_per_buyer_counts_every_group_of_the_offer(trade: Trade) -> None:
    s = _scene(trade)
    buyer = trade.buyer()
    with trade.session() as db:
        groups.open_group(db, buyer[0], s["offer"])
    with trade.session() as db, pytest.raises(Conflict) as refused:
        groups.open_group(db, buyer[0], s["offer"])  # a second group: over the limit of 1
    assert refused.value.code == "group_limit"


def test_a_group_opens_with_its_leaders_payment(trade: Trade) -> None:
    s = _scene(trade)
    leader, friend = _buyers(trade, 2)
    with trade.session() as db:
        opened = groups.open_group(db, leader[0], s["offer"])
    with trade.session() as db, pytest.raises(IllegalTransition) as refused:
        groups.join_group(db, friend[0], opened.group_id)
    assert refused.value.code == "group_not_open_yet"


def test_a_member_refunded_in_full_gives_the_place_back(trade: Trade) -> None:
    s = _scene(trade)
    leader, second, third, fourth = _buyers(trade, 4)
    with trade.session() as db:
        opened = groups.open_group(db, leader[0], s["offer"])
    trade.pay(leader, [opened.order_no])
    with trade.session() as db:
        second_no = groups.join_group(db, second[0], opened.group_id).order_no
    trade.pay(second, [second_no])
    trade.refund(second_no, 6900)  # an operator refunds the second member in full
    assert _order(trade, second_no).status == "closed"
    with trade.session() as db:
        assert db.get(Group, opened.group_id).paid == 1
    for buyer in (third, fourth):
        with trade.session() as db:
            no = groups.join_group(db, buyer[0], opened.group_id).order_no
        trade.pay(buyer, [no])
    with trade.session() as db:
        group = db.get(Group, opened.group_id)
        assert (group.status, group.paid) == ("succeeded", 3)


def test_a_refund_in_flight_does_not_stop_the_job_and_unpaid_orders_are_cancelled(
    trade: Trade,
) -> None:
    s = _scene(trade)
    a, b, waiting = _buyers(trade, 3)
    with trade.session() as db:
        first = groups.open_group(db, a[0], s["offer"])
    trade.pay(a, [first.order_no])
    with trade.session() as db:
        unpaid = groups.join_group(db, waiting[0], first.group_id).order_no  # never pays
    with trade.session() as db:  # an operator's partial refund, not sent yet
        payments_service.operator_refund(
            db, trade.operator, order_no=first.order_no, amount_fen=100, reason="差价"
        )
    trade.clock.advance(timedelta(minutes=1))
    with trade.session() as db:
        second = groups.open_group(db, b[0], s["offer"])
    trade.pay(b, [second.order_no])
    trade.clock.advance(timedelta(hours=25))
    with trade.session() as db:
        assert groups.due(db) == 2  # both groups, the first despite the refund in flight
    assert _order(trade, unpaid).status == "cancelled"  # never paid: cancelled, stock back
    with trade.session() as db:
        payments_service.submit_refunds(db)
    for no in (first.order_no, second.order_no):
        order = _order(trade, no)
        assert (order.status, order.refunded_fen) == ("closed", 6900)


def test_a_payment_racing_the_expiry_is_never_kept(trade: Trade) -> None:
    """The job expires a group while a member's payment arrives (threads): whichever wins,
    the group is expired, nobody keeps a place and nothing can ship."""
    s = _scene(trade)
    leader, friend = _buyers(trade, 2)
    with trade.session() as db:
        opened = groups.open_group(db, leader[0], s["offer"])
    trade.pay(leader, [opened.order_no])
    with trade.session() as db:
        friend_no = groups.join_group(db, friend[0], opened.group_id).order_no
    friend_id = _order(trade, friend_no).id
    trade.clock.advance(timedelta(hours=24, seconds=1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def expire() -> None:
        barrier.wait()
        try:
            with trade.session() as db:
                groups.due(db)
        except BaseException as exc:
            errors.append(exc)

    def pay() -> None:
        barrier.wait()
        try:
            with trade.session() as db:
                orders_service.mark_paid(
                    db, order_ids=[friend_id], paid_at=trade.clock.now(), payment_ref="XDLATE1"
                )
                db.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=expire), threading.Thread(target=pay)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with trade.session() as db:
        groups.due(db)  # the next run: a late payer is refunded
    with trade.session() as db:
        assert db.get(Group, opened.group_id).status == "expired"
        kept = db.scalars(
            select(GroupMember.status).where(GroupMember.group_id == opened.group_id)
        ).all()
        assert set(kept) <= {"refunding"}
        shippable = db.scalars(
            select(Order.order_no).where(Order.status == "paid", Order.held.is_(False))
        ).all()
        assert shippable == []

"""Samples (寄样): a creator asks for a sample of a product in a plan; the shop approves (a
zero-price order of one unit, paid at once, that ships as any order, with no money moved)
or declines with a reason; the shop's ``samples`` case opens with the request and closes
with the answer; the funnel moves through shipped, received and the first sale credited to
the creator after the sample shipped; bad input is refused and writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import actor_for, make_address, make_product, make_shop
from tests.ledger.conftest import Trade, assert_books_balance
from xiaodian.actor import Actor
from xiaodian.affiliates import links, plans, samples
from xiaodian.affiliates.models import Commission, SampleRequest, Touch
from xiaodian.cases.models import Case
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from xiaodian.ledger.models import LedgerTransfer
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service


@pytest.fixture
def shop(database: Any, make_user: Any, clock: Any) -> dict[str, Any]:
    owner = make_user()
    creator = make_user(creator=True, display_name="茶小白")
    with database.session() as db:
        shop = make_shop(db, owner, name="山野茶铺")
        tea = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
        cup = make_product(db, shop, title="青瓷杯", skus=[("单只", 5800, 5)])
        owner_actor = actor_for(owner, {shop.id: "owner"})
        plans.create_plan(
            db,
            owner_actor,
            shop.id,
            product_id=tea.id,
            terms=plans.PlanTerms("open", 10, clock.now() - timedelta(days=1)),
        )
        address_id = make_address(db, creator.id)
        return {
            "owner": owner_actor,
            "shop_id": shop.id,
            "creator": actor_for(creator, creator=True),
            "creator_id": creator.id,
            "address_id": address_id,
            "tea": tea.id,
            "tea_sku": tea.skus[0].id,
            "cup": cup.id,
        }


def _request(database: Any, s: dict[str, Any], **kw: Any) -> int:
    kw.setdefault("product_id", s["tea"])
    kw.setdefault("address_id", s["address_id"])
    with database.session() as db:
        return samples.request_sample(db, s["creator"], note="想做一期开箱", **kw).id


def _case(database: Any, sample_id: int) -> Any:
    with database.session(write=False) as db:
        row = db.scalar(
            select(Case).where(Case.queue == "samples", Case.key == f"sample:{sample_id}")
        )
        if row is not None:
            db.expunge(row)
        return row


def _count(database: Any, model: Any) -> int:
    with database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def _view(database: Any, s: dict[str, Any], sample_id: int) -> samples.SampleView:
    with database.session() as db:
        found = samples.shop_samples(db, s["owner"], s["shop_id"])
    return next(v for v in found.samples if v.id == sample_id)


def test_approved_sample_is_a_paid_zero_order_that_ships(
    database: Any, shop: dict[str, Any], clock: Any
) -> None:
    s = shop
    sample_id = _request(database, s)
    case = _case(database, sample_id)
    assert case is not None and case.closed_at is None and case.shop_id == s["shop_id"]
    assert case.due_at == clock.now() + timedelta(hours=48)
    assert _view(database, s, sample_id).stage == "requested"

    with database.session() as db:
        row = samples.approve(db, s["owner"], s["shop_id"], sample_id)
        assert row.status == "approved" and row.order_id is not None
        order_id = row.order_id
    assert _case(database, sample_id).outcome == "approved"
    with database.session() as db:
        order = orders_service.orders_by_ids(db, order_ids=[order_id])[order_id]
        assert order.status == orders_service.OrderStatus.PAID
        assert (order.total_fen, order.paid_fen, order.shipping_fen) == (0, 0, 0)
        assert order.channel == "sample" and order.payment_ref == f"sample:{sample_id}"
        assert order.buyer_id == s["creator_id"] and order.address["name"] == "张三"
        assert [(line.sku_id, line.quantity) for line in order.lines] == [(s["tea_sku"], 1)]
        order_no = order.order_no
        # no money moved, no commission, and the books balance
        assert db.scalar(select(func.count()).where(LedgerTransfer.order_id == order_id)) == 0
        assert db.scalar(select(func.count()).where(Commission.order_id == order_id)) == 0
        assert_books_balance(db)
        # it waits in the shop's orders to ship
        assert db.scalar(
            select(Case.id).where(Case.key == f"order:{order_id}", Case.closed_at.is_(None))
        )
    assert _view(database, s, sample_id).stage == "approved"

    clock.advance(timedelta(hours=3))
    with database.session() as db:
        fulfilment.ship_order(
            db, s["owner"], s["shop_id"], order_no, carrier="SF", tracking_no="SF1234567890123"
        )
    view = _view(database, s, sample_id)
    assert view.stage == "shipped" and view.shipped_at == clock.now()

    clock.advance(timedelta(days=2))
    with database.session() as db:
        orders_service.confirm_receipt(db, Actor(user_id=s["creator_id"]), order_no)
    assert _view(database, s, sample_id).stage == "received"
    with database.session() as db:
        mine = samples.my_samples(db, s["creator"])
    assert [(v.id, v.stage, v.product_title) for v in mine] == [(sample_id, "received", "明前龙井")]


def test_the_first_sale_after_shipping_ends_the_funnel(
    trade: Trade, database: Any, clock: Any
) -> None:
    shop, owner, sku_id = trade.shop(price=10000)
    creator = trade.make_user(creator=True)
    creator_actor = actor_for(creator, creator=True)
    with trade.session() as db:
        from xiaodian.catalog import service as catalog_service

        product_id = catalog_service.get_sku(db, sku_id).product_id
        plans.create_plan(
            db,
            owner,
            shop.id,
            product_id=product_id,
            terms=plans.PlanTerms("open", 10, clock.now() - timedelta(days=1)),
        )
        address_id = make_address(db, creator.id)
    with trade.session() as db:
        sample_id = samples.request_sample(
            db, creator_actor, product_id=product_id, address_id=address_id
        ).id
    with trade.session() as db:
        order_id = samples.approve(db, owner, shop.id, sample_id).order_id
        assert order_id is not None
        order_no = orders_service.orders_by_ids(db, order_ids=[order_id])[order_id].order_no
    # a sale credited to the creator before the sample shipped does not count
    with trade.session() as db:
        link = links.get_or_create_link(db, Actor(user_id=creator.id), product_id=product_id)
    early = trade.buyer()
    with trade.session() as db:
        links.follow(db, early[0], code=link.code, touch="", user_agent="Mozilla/5.0")
    trade.pay(early, trade.buy(early, [(sku_id, 1)]))
    clock.advance(timedelta(hours=1))
    trade.ship(owner, shop.id, order_no)
    with trade.session() as db:
        result = samples.shop_samples(db, owner, shop.id)
    assert result.samples[0].stage == "shipped" and result.counts["first_sale"] == 0

    clock.advance(timedelta(days=1))
    buyer = trade.buyer()
    with trade.session() as db:
        links.follow(db, buyer[0], code=link.code, touch="", user_agent="Mozilla/5.0")
    trade.pay(buyer, trade.buy(buyer, [(sku_id, 1)]))
    with trade.session() as db:
        result = samples.shop_samples(db, owner, shop.id)
        # the sample's own line credited nobody
        touch = db.scalar(select(Touch).where(Touch.order_id == order_id))
        assert touch is not None and touch.promoter_id is None
        assert_books_balance(db)
    view = result.samples[0]
    assert view.stage == "first_sale" and view.first_sale_at is not None
    assert result.counts == {
        "requested": 1,
        "approved": 1,
        "declined": 0,
        "shipped": 1,
        "received": 0,
        "first_sale": 1,
    }


def test_decline_closes_the_case_and_a_new_request_may_follow(
    database: Any, shop: dict[str, Any]
) -> None:
    s = shop
    sample_id = _request(database, s)
    with database.session() as db, pytest.raises(InvalidInput):
        samples.decline(db, s["owner"], s["shop_id"], sample_id, reason="  ")
    with database.session() as db:
        row = samples.decline(db, s["owner"], s["shop_id"], sample_id, reason="库存紧张")
        assert (row.status, row.reason) == ("declined", "库存紧张")
    assert _case(database, sample_id).outcome == "declined"
    for call in (
        lambda db: samples.decline(db, s["owner"], s["shop_id"], sample_id, reason="again"),
        lambda db: samples.approve(db, s["owner"], s["shop_id"], sample_id),
    ):
        with database.session() as db, pytest.raises(Conflict):
            call(db)
    assert _count(database, orders_service.Order) == 0
    again = _request(database, s)  # declined: no longer open
    with database.session() as db:
        result = samples.shop_samples(db, s["owner"], s["shop_id"])
    assert [v.id for v in result.samples] == [again, sample_id]
    assert result.counts["requested"] == 2 and result.counts["declined"] == 1


def test_bad_requests_are_refused_and_write_nothing(
    database: Any, shop: dict[str, Any], make_user: Any
) -> None:
    s = shop
    plain = make_user()
    other_creator = make_user(creator=True)
    with database.session() as db:
        others_address = make_address(db, other_creator.id)
    cases = [
        (actor_for(plain), {}, PermissionDenied),
        (s["creator"], {"product_id": s["cup"]}, Conflict),  # outside every plan
        (s["creator"], {"address_id": others_address}, NotFound),
        (s["creator"], {"product_id": 2**31}, NotFound),
        (s["creator"], {"product_id": 2**63}, NotFound),
        (s["creator"], {"address_id": 2**63}, NotFound),
        (s["creator"], {"product_id": "1"}, NotFound),
        (s["creator"], {"product_id": True}, NotFound),
        (s["creator"], {"sku_id": 2**31}, NotFound),
        (s["creator"], {"note": "长" * 201}, InvalidInput),
        (s["creator"], {"note": 5}, InvalidInput),
    ]
    for actor, overrides, error in cases:
        body = {"product_id": s["tea"], "address_id": s["address_id"], "note": "", **overrides}
        with database.session() as db, pytest.raises(error):
            samples.request_sample(db, actor, **body)
    assert _count(database, SampleRequest) == 0 and _count(database, Case) == 0

    first = _request(database, s)
    with database.session() as db, pytest.raises(Conflict):  # a second open request
        samples.request_sample(db, s["creator"], product_id=s["tea"], address_id=s["address_id"])
    assert _count(database, SampleRequest) == 1

    # another shop's staff, and ids past the range
    stranger = make_user()
    with database.session() as db:
        other_shop = make_shop(db, stranger)
    stranger_actor = actor_for(stranger, {other_shop.id: "owner"})
    for actor, shop_id, sample_id in (
        (stranger_actor, other_shop.id, first),
        (stranger_actor, s["shop_id"], first),
        (s["owner"], s["shop_id"], 2**31),
        (s["owner"], s["shop_id"], 2**63),
    ):
        with database.session() as db, pytest.raises((NotFound, PermissionDenied)):
            samples.approve(db, actor, shop_id, sample_id)
        with database.session() as db, pytest.raises((NotFound, PermissionDenied)):
            samples.decline(db, actor, shop_id, sample_id, reason="no")
    assert _view(database, s, first).status == "requested"
    assert _count(database, orders_service.Order) == 0


def test_out_of_stock_approval_writes_nothing(database: Any, shop: dict[str, Any]) -> None:
    s = shop
    sample_id = _request(database, s)
    from xiaodian.catalog.models import Sku

    with database.session() as db:
        db.get(Sku, s["tea_sku"]).stock_on_hand = 0
        db.commit()
    with database.session() as db, pytest.raises(Conflict):
        samples.approve(db, s["owner"], s["shop_id"], sample_id)
    assert _view(database, s, sample_id).status == "requested"
    assert _case(database, sample_id).closed_at is None
    assert _count(database, orders_service.Order) == 0


def test_a_buyer_cannot_claim_the_sample_channel(database: Any, shop: dict[str, Any]) -> None:
    from xiaodian.orders.checkout import Channel, checkout

    s = shop
    with database.session() as db, pytest.raises(InvalidInput):
        checkout(
            db,
            Actor(user_id=s["creator_id"]),
            lines=[(s["tea_sku"], 1)],
            address_id=s["address_id"],
            channel=Channel("sample"),
            from_cart=False,
        )
    assert _count(database, orders_service.Order) == 0

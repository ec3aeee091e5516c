"""Random carts with coupons and limited-time discounts, through the real services and the
ledger (hypothesis): shops with random prices, a shop coupon of a random kind and scope, a
platform coupon, a limited-time discount on a random SKU, a random cart checked out with
them, paid, then refunds of random amounts (some more than is left).

After every example, for every order:

- nothing is negative, the lines add up to the order (amounts, discounts, the platform's
  part), each line is its price times its quantity less its discount, and the discount on
  the line never passes what the line cost;
- a refund past what is left is refused and changes nothing; what was refunded never
  passes what was paid;
- the ledger: every transfer sums to zero; the provider holds paid - refunded for the
  order; the platform's subsidy account carries the order's subsidy less what refunds gave
  back (all of it after a full refund, never more than it gave); the shop's pending income
  is paid + subsidy less what the refunds took back, and equals its hold's amount less
  what was voided.

A checkout the coupons do not fit (a threshold not met, a coupon for other products) is
refused with a DomainError and writes no order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for, make_address, make_product, make_shop
from tests.ledger.conftest import assert_books_balance
from xiaodian import clock
from xiaodian.campaigns import claims, discounts, templates
from xiaodian.errors import Conflict, DomainError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import LedgerAccount, LedgerHold, LedgerPosting, LedgerTransfer
from xiaodian.orders import checkout as checkout_module
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order, OrderLine

prices = st.integers(min_value=1, max_value=60_000)
shop_coupons = st.one_of(
    st.none(),
    st.builds(
        lambda off, spend: {"kind": "threshold", "off_fen": off, "min_spend_fen": spend},
        st.integers(1, 8000),
        st.integers(10_000, 40_000),
    ),
    st.builds(
        lambda rate, cap: {"kind": "percent", "rate_percent": rate, "cap_fen": cap},
        st.integers(20, 99),
        st.integers(1, 20_000),
    ),
    st.builds(lambda off: {"kind": "no_threshold", "off_fen": off}, st.integers(1, 20_000)),
)
platform_coupons = st.one_of(
    st.none(),
    st.builds(lambda off: {"kind": "no_threshold", "off_fen": off}, st.integers(1, 20_000)),
    st.builds(
        lambda rate, cap: {"kind": "percent", "rate_percent": rate, "cap_fen": cap},
        st.integers(20, 99),
        st.integers(1, 20_000),
    ),
)
examples = st.fixed_dictionaries(
    {
        "shops": st.lists(st.lists(prices, min_size=1, max_size=3), min_size=1, max_size=2),
        "cart": st.lists(
            st.tuples(st.integers(0, 5), st.integers(1, 3)),
            min_size=1,
            max_size=4,
            unique_by=lambda t: t[0],
        ),
        "shop_coupon": shop_coupons,
        "product_scope": st.booleans(),
        "platform_coupon": platform_coupons,
        "discount": st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(20, 99))),
        "refunds": st.lists(st.integers(1, 250_000), max_size=4),
    }
)


@hsettings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples)
def test_coupons_discounts_and_refunds_keep_the_money_whole(
    scene: Scene, make_user: Any, example: dict[str, Any]
) -> None:
    claims.forget_spent()
    now = clock.now()
    window = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=7)}
    skus: list[tuple[int, int, int, Any]] = []  # (sku, product, shop, merchant)
    with scene.database.session() as db:
        for shop_prices in example["shops"]:
            owner = make_user()
            shop = make_shop(db, owner)
            merchant = actor_for(owner, {shop.id: "owner"})
            for price in shop_prices:
                product = make_product(db, shop, skus=[("标准", price, 1000)])
                skus.append((product.skus[0].id, product.id, shop.id, merchant))
    if example["discount"] is not None:
        index, rate = example["discount"]
        sku_id, _product, shop_id, merchant = skus[index % len(skus)]
        with scene.database.session() as db:
            discounts.create_discount(
                db,
                merchant,
                shop_id,
                discounts.DiscountInput(
                    name="限时",
                    items=[discounts.ItemInput(sku_id=sku_id, rate_percent=rate)],
                    **window,
                ),
            )

    buyer = make_user()
    coupon_ids: list[int] = []
    if example["shop_coupon"] is not None:
        _sku, product_id, shop_id, merchant = skus[0]
        scoped = example["product_scope"]
        data = templates.TemplateInput(
            name="店铺券",
            level="product" if scoped else "shop",
            quantity=10,
            scope="products" if scoped else "all",
            scope_ids=[product_id] if scoped else [],
            **window,
            **example["shop_coupon"],
        )
        with scene.database.session() as db:
            template = templates.create_shop_template(db, merchant, shop_id, data)
        coupon_ids.append(_claim(scene, buyer, template.id))
    if example["platform_coupon"] is not None:
        data = templates.TemplateInput(
            name="平台券", level="platform", quantity=10, **window, **example["platform_coupon"]
        )
        with scene.database.session() as db:
            template = templates.create_platform_template(db, scene.operator, data)
        coupon_ids.append(_claim(scene, buyer, template.id))

    lines = [(skus[index % len(skus)][0], quantity) for index, quantity in example["cart"]]
    lines = list(dict(lines).items())  # one line per SKU
    before = _orders(scene)
    try:
        with scene.database.session() as db:
            address_id = make_address(db, buyer.id)
            result = checkout_module.checkout(
                db,
                actor_for(buyer),
                lines=lines,
                address_id=address_id,
                coupons=coupon_ids,
                from_cart=False,
            )
            order_ids = [o.id for o in result.orders]
    except DomainError as exc:
        assert _orders(scene) == before  # refused: nothing written
        event(f"checkout refused: {exc.code}")
        return
    event(f"paid: {len(order_ids)} orders, {len(coupon_ids)} coupons")

    with scene.database.session() as db:
        orders_service.mark_paid(
            db, order_ids=order_ids, paid_at=clock.now(), payment_ref=f"pay-{order_ids[0]}"
        )
        db.commit()
    for step, amount in enumerate(example["refunds"]):
        # even steps ask for the amount as drawn (refused past what is left), odd steps for
        # at most what is left
        order_id = order_ids[step % len(order_ids)]
        with scene.database.session() as db:
            order = db.get(Order, order_id)
            assert order is not None
            left = order.paid_fen - order.refunded_fen
            asked = min(amount, left) if step % 2 else amount
            if asked == 0:
                continue
            try:
                orders_service.apply_refund(
                    db, order_id=order_id, amount_fen=asked, refund_ref=f"r{step}"
                )
                db.commit()
                assert asked <= left
            except Conflict:
                db.rollback()
                assert asked > left
    if example["refunds"]:  # and one refund of everything left, on the first order
        with scene.database.session() as db:
            order = db.get(Order, order_ids[0])
            assert order is not None
            left = order.paid_fen - order.refunded_fen
            if left:
                orders_service.apply_refund(
                    db, order_id=order.id, amount_fen=left, refund_ref="the-rest"
                )
                db.commit()

    with scene.database.session(write=False) as db:
        for order_id in order_ids:
            _check_order(db, order_id)
    with scene.database.session(write=False) as db:
        assert_books_balance(db)


def _claim(scene: Scene, buyer: Any, template_id: int) -> int:
    with scene.database.session() as db:
        coupon, _template = claims.claim(db, actor_for(buyer), template_id)
        return int(coupon.id)


def _orders(scene: Scene) -> int:
    with scene.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(Order)) or 0


def _check_order(db: Any, order_id: int) -> None:
    order = db.get(Order, order_id)
    lines = list(db.scalars(select(OrderLine).where(OrderLine.order_id == order_id)))
    assert lines and order.total_fen == order.items_fen + order.shipping_fen
    assert all(line.amount_fen >= 0 and line.discount_fen >= 0 for line in lines)
    assert all(0 <= line.subsidy_fen <= line.discount_fen for line in lines)
    assert sum(line.amount_fen for line in lines) == order.items_fen >= 0
    assert sum(line.discount_fen for line in lines) == order.discount_fen
    assert sum(line.subsidy_fen for line in lines) == order.subsidy_fen
    for line in lines:
        assert line.amount_fen == line.unit_price_fen * line.quantity - line.discount_fen
    assert order.paid_fen == order.total_fen
    assert 0 <= order.refunded_fen <= order.paid_fen

    sums = dict(
        db.execute(
            select(LedgerAccount.kind, func.sum(LedgerPosting.amount_fen))
            .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .where(LedgerTransfer.order_id == order_id)
            .group_by(LedgerAccount.kind)
        ).all()
    )
    if order.paid_fen == 0:
        assert sums == {}
        return
    assert sums.get(ledger.CLEARING, 0) == order.paid_fen - order.refunded_fen
    subsidy_left = sums.get(ledger.SUBSIDY, 0)
    assert 0 <= subsidy_left <= order.subsidy_fen
    if order.refunded_fen == order.paid_fen:
        assert subsidy_left == 0  # a full refund gave all of the platform's part back
    returned = order.subsidy_fen - subsidy_left
    pending = -sums.get(ledger.PENDING, 0)
    assert pending == order.paid_fen + order.subsidy_fen - order.refunded_fen - returned
    hold = db.scalar(select(LedgerHold).where(LedgerHold.order_id == order_id))
    assert hold is not None and hold.amount_fen - hold.voided_fen == pending

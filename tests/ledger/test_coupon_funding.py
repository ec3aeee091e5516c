"""Who pays for a coupon: a shop's coupon lowers what the buyer paid and so the merchant's
income; a platform coupon is posted from ``platform:subsidy``, so the merchant is paid as
if the buyer had paid it, and refunds give the subsidy back in proportion; the books
balance throughout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.ledger.conftest import Trade, assert_books_balance, balance
from xiaodian import clock as clock_module
from xiaodian.campaigns import claims, templates
from xiaodian.campaigns.models import Coupon, CouponStatus
from xiaodian.ledger.service import CLEARING, PENDING, SUBSIDY
from xiaodian.orders.checkout import checkout


def _template(trade: Trade, owner: Any, shop_id: int | None, **fields: Any) -> int:
    now = clock_module.now()
    data: dict[str, Any] = {
        "name": "满100减20",
        "kind": "threshold",
        "level": "shop" if shop_id else "platform",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7),
        "quantity": 10,
        "off_fen": 2000,
        "min_spend_fen": 10000,
        **fields,
    }
    with trade.session() as db:
        if shop_id is None:
            made = templates.create_platform_template(
                db, trade.operator, templates.TemplateInput(**data)
            )
        else:
            made = templates.create_shop_template(
                db, owner, shop_id, templates.TemplateInput(**data)
            )
        return int(made.id)


def test_shop_and_platform_coupons_are_funded_by_their_owners(trade: Trade, db: Any) -> None:
    shop, owner, sku = trade.shop(price=20000)
    shop_t = _template(trade, owner, shop.id)
    platform_t = _template(trade, owner, None, name="平台满100减30", off_fen=3000)
    actor, address_id = trade.buyer()
    with trade.session() as s:
        ids = [int(claims.claim(s, actor, t)[0].id) for t in (shop_t, platform_t)]
    with trade.session() as s:
        (order,) = checkout(
            s, actor, lines=[(sku, 1)], address_id=address_id, coupons=ids, from_cart=False
        ).orders
        no = order.order_no
    trade.pay((actor, address_id), [no])
    paid = trade.order(no)
    assert (paid.paid_fen, paid.discount_fen, paid.subsidy_fen) == (15000, 5000, 3000)

    # the buyer paid ¥150; the merchant is owed ¥180 (its own ¥20 coupon is its cost)
    assert balance(db, CLEARING) == 15000
    assert balance(db, SUBSIDY) == 3000
    assert balance(db, PENDING, shop.id) == 18000
    assert_books_balance(db)

    # a third refunded: a third of the subsidy goes back, and comes off the merchant
    trade.refund(no, 5000)
    assert trade.order(no).refunded_fen == 5000
    assert balance(db, SUBSIDY) == 2000
    assert balance(db, PENDING, shop.id) == 12000
    assert balance(db, CLEARING) == 10000
    assert_books_balance(db)

    # the rest: nothing left anywhere, and both coupons are the buyer's again
    trade.refund(no, 10000)
    assert balance(db, SUBSIDY) == 0
    assert balance(db, PENDING, shop.id) == 0
    assert balance(db, CLEARING) == 0
    assert_books_balance(db)
    with trade.session() as s:
        assert {s.get(Coupon, i).status for i in ids} == {CouponStatus.UNUSED}

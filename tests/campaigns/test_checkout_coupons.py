"""Coupons at checkout: the lines keep their discount and the platform's part, the coupons
are used in the same transaction, bad coupons write nothing, refunds return the lines'
own share and a fully refunded order gives its coupon back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian.campaigns import claims
from xiaodian.campaigns.models import Coupon, CouponRedemption, CouponStatus
from xiaodian.errors import Conflict, DomainError, NotFound
from xiaodian.merchants.models import Shop
from xiaodian.orders import checkout as checkout_module
from xiaodian.orders import service as orders_service
from xiaodian.orders.models import Order, OrderLine


def _claim(scene: Scene, buyer: Any, template_id: int) -> int:
    with scene.database.session() as db:
        coupon, _template = claims.claim(db, actor_for(buyer), template_id)
        return int(coupon.id)


def _checkout(scene: Scene, buyer: Any, lines: list[tuple[int, int]], coupons: list[int]) -> Any:
    with scene.database.session() as db:
        address_id = make_address(db, buyer.id)
        return checkout_module.checkout(
            db,
            actor_for(buyer),
            lines=lines,
            address_id=address_id,
            coupons=coupons,
            from_cart=False,
        )


def _written(scene: Scene) -> tuple[int, int, int]:
    with scene.database.session(write=False) as db:
        return (
            db.scalar(select(func.count()).select_from(Order)) or 0,
            db.scalar(select(func.count()).select_from(CouponRedemption)) or 0,
            db.scalar(
                select(func.count()).select_from(Coupon).where(Coupon.status == CouponStatus.USED)
            )
            or 0,
        )


def test_a_shop_and_a_platform_coupon_apply_and_are_used(scene: Scene, make_user: Any) -> None:
    shop_coupon = scene.template()  # 满100减20
    platform = scene.template(
        platform=True, name="平台满200减30", off_fen=3000, min_spend_fen=20000
    )
    buyer = make_user()
    ids = [_claim(scene, buyer, shop_coupon.id), _claim(scene, buyer, platform.id)]

    result = _checkout(scene, buyer, [(scene.sku_id, 2)], ids)  # ¥300

    (order,) = result.orders
    (line,) = order.lines
    assert line.discount_fen == 2000 + 3000
    assert line.subsidy_fen == 3000
    assert line.amount_fen == 30000 - 5000
    assert order.items_fen == order.total_fen == 25000
    assert (order.discount_fen, order.subsidy_fen) == (5000, 3000)
    assert _written(scene) == (1, 2, 2)


def test_a_platform_coupon_is_split_over_shops_in_whole_fen(scene: Scene, make_user: Any) -> None:
    other_owner = make_user()
    with scene.database.session() as db:
        other = make_shop(db, other_owner)
        product = make_product(db, other, skus=[("标准", 10001, 100)])
        other_sku = product.skus[0].id
    platform = scene.template(
        platform=True, name="平台无门槛", kind="no_threshold", off_fen=1001, min_spend_fen=0
    )
    buyer = make_user()
    coupon_id = _claim(scene, buyer, platform.id)

    result = _checkout(scene, buyer, [(scene.sku_id, 1), (other_sku, 1)], [coupon_id])

    assert len(result.orders) == 2
    parts = [o.discount_fen for o in result.orders]
    assert sum(parts) == 1001 and all(p > 0 for p in parts)
    assert [o.subsidy_fen for o in result.orders] == parts
    assert _written(scene) == (2, 2, 1)


def test_bad_coupons_are_refused_and_nothing_is_written(
    scene: Scene, make_user: Any, clock: Any
) -> None:
    template = scene.template()
    buyer, stranger = make_user(), make_user()
    theirs = _claim(scene, stranger, template.id)
    with pytest.raises(NotFound):
        _checkout(scene, buyer, [(scene.sku_id, 1)], [theirs])
    with pytest.raises(NotFound):
        _checkout(scene, buyer, [(scene.sku_id, 1)], [2_000_000_000])

    # another shop's coupon: nothing in the cart is covered
    other_owner = make_user()
    with scene.database.session() as db:
        other = make_shop(db, other_owner)
        other_sku = make_product(db, other, skus=[("标准", 15000, 100)]).skus[0].id
    mine = _claim(scene, buyer, template.id)
    with pytest.raises(Conflict) as refused:
        _checkout(scene, buyer, [(other_sku, 1)], [mine])
    assert refused.value.code == "not_covered"
    # below the minimum spend (¥100): the ¥150 item is fine, half of it is not
    assert _written(scene) == (0, 0, 0)

    _checkout(scene, buyer, [(scene.sku_id, 1)], [mine])
    with pytest.raises(Conflict) as used:
        _checkout(scene, buyer, [(scene.sku_id, 1)], [mine])
    assert used.value.code == "coupon_used"
    assert _written(scene) == (1, 1, 1)

    late = make_user()
    expiring = _claim(scene, late, template.id)
    clock.advance(timedelta(days=8))
    with pytest.raises(Conflict) as expired:
        _checkout(scene, late, [(scene.sku_id, 1)], [expiring])
    assert expired.value.code == "coupon_expired"
    assert _written(scene) == (1, 1, 1)


def test_two_coupons_of_one_kind_are_refused(scene: Scene, make_user: Any) -> None:
    first = scene.template()
    second = scene.template(name="满100减10", off_fen=1000)
    buyer = make_user()
    ids = [_claim(scene, buyer, first.id), _claim(scene, buyer, second.id)]
    with pytest.raises(DomainError) as refused:
        _checkout(scene, buyer, [(scene.sku_id, 1)], ids)
    assert refused.value.code == "one_per_level"
    assert _written(scene) == (0, 0, 0)


def test_checkout_with_coupons_over_http(scene: Scene, make_user: Any, api_client: Any) -> None:
    template = scene.template()
    user = make_user()
    coupon_id = _claim(scene, user, template.id)
    with scene.database.session() as db:
        address_id = make_address(db, user.id)
    buyer = api_client(user)
    body = {
        "lines": [{"sku_id": scene.sku_id, "quantity": 1}],
        "address_id": address_id,
        "from_cart": False,
    }
    for bad in (["1"], [True], [0], "x", [coupon_id] * 11 and list(range(1, 12))):
        r = buyer.post("/api/v1/checkout", json={**body, "coupon_ids": bad})
        assert r.status_code in (404, 422), (bad, r.text)
    assert _written(scene) == (0, 0, 0)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r = buyer.post("/api/v1/checkout", json={**body, "coupon_ids": [coupon_id]}, headers=key)
    assert r.status_code == 201, r.text
    (order,) = r.json()["orders"]
    assert order["discount_fen"] == 2000 and order["total_fen"] == 13000
    assert order["lines"][0]["amount_fen"] == 13000
    # a replay gives back the same order, without using anything twice
    again = buyer.post("/api/v1/checkout", json={**body, "coupon_ids": [coupon_id]}, headers=key)
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert (
        buyer.post("/api/v1/checkout", json={**body, "coupon_ids": [coupon_id]}).status_code == 409
    )
    assert _written(scene) == (1, 1, 1)


def _pay(scene: Scene, order_id: int, clock: Any) -> None:
    with scene.database.session() as db:
        orders_service.mark_paid(
            db, order_ids=[order_id], paid_at=clock.now(), payment_ref=f"pay-{order_id}"
        )
        db.commit()


def test_a_fully_refunded_order_gives_the_coupon_back(
    scene: Scene, make_user: Any, clock: Any
) -> None:
    template = scene.template()
    buyer = make_user()
    coupon_id = _claim(scene, buyer, template.id)
    (order,) = _checkout(scene, buyer, [(scene.sku_id, 1)], [coupon_id]).orders
    _pay(scene, order.id, clock)
    with scene.database.session() as db:
        orders_service.apply_refund(db, order_id=order.id, amount_fen=5000, refund_ref="r1")
        db.commit()
    with scene.database.session(write=False) as db:
        assert db.get(Coupon, coupon_id).status == CouponStatus.USED  # partly refunded
    with scene.database.session() as db:
        with pytest.raises(Conflict):  # never more than was paid (¥130, not ¥150)
            orders_service.apply_refund(db, order_id=order.id, amount_fen=10000, refund_ref="r2")
        db.rollback()
        orders_service.apply_refund(db, order_id=order.id, amount_fen=8000, refund_ref="r3")
        db.commit()
    with scene.database.session(write=False) as db:
        coupon = db.get(Coupon, coupon_id)
        assert coupon.status == CouponStatus.UNUSED and coupon.used_at is None
        returned = db.scalars(select(CouponRedemption.returned_at)).all()
        assert returned == [clock.now()]
    # usable again
    _checkout(scene, buyer, [(scene.sku_id, 1)], [coupon_id])


def test_an_expired_coupon_is_not_given_back(scene: Scene, make_user: Any, clock: Any) -> None:
    template = scene.template(valid_days=1)
    buyer = make_user()
    coupon_id = _claim(scene, buyer, template.id)
    (order,) = _checkout(scene, buyer, [(scene.sku_id, 1)], [coupon_id]).orders
    _pay(scene, order.id, clock)
    clock.advance(timedelta(days=2))
    with scene.database.session() as db:
        orders_service.apply_refund(db, order_id=order.id, amount_fen=13000, refund_ref="all")
        db.commit()
    with scene.database.session(write=False) as db:
        assert db.get(Coupon, coupon_id).status == CouponStatus.USED
        line = db.scalars(select(OrderLine)).one()
        assert (line.amount_fen, line.discount_fen) == (13000, 2000)


def test_checkout_with_two_coupons_costs_the_same_for_1_line_as_for_10(
    scene: Scene, make_user: Any, api_client: Any, count_queries: Any, database: Any
) -> None:
    shop_coupon = scene.template(quantity=10)
    platform = scene.template(platform=True, name="平台满100减5", off_fen=500, quantity=10)
    with scene.database.session() as db:
        shop = db.get(Shop, scene.shop_id)
        ten = [
            s.id
            for s in make_product(db, shop, skus=[(f"款{i}", 1500, 50) for i in range(10)]).skus
        ]

    def count(skus: list[int]) -> tuple[int, int]:
        user = make_user()
        ids = [_claim(scene, user, shop_coupon.id), _claim(scene, user, platform.id)]
        with scene.database.session() as db:
            address_id = make_address(db, user.id)
        buyer = api_client(user)
        body = {
            "lines": [{"sku_id": s, "quantity": 1} for s in skus],
            "address_id": address_id,
            "from_cart": False,
        }
        key = {"Idempotency-Key": uuid.uuid4().hex}
        with count_queries() as plain:
            r = buyer.post("/api/v1/checkout", json=body, headers=key)
        assert r.status_code == 201, r.text
        key = {"Idempotency-Key": uuid.uuid4().hex}
        with count_queries() as counter:
            r = buyer.post("/api/v1/checkout", json={**body, "coupon_ids": ids}, headers=key)
        assert r.status_code == 201, r.text
        assert sum(o["discount_fen"] for o in r.json()["orders"]) == 2000 + 500
        return plain.count, counter.count

    one = count([scene.sku_id])
    many = count(ten)
    assert one == many, (one, many)
    # the coupons cost their read, the conditional UPDATE that uses them and the INSERT
    # of where they were used: three statements over a plain checkout
    assert one[1] == one[0] + 3, one


def test_one_coupon_in_concurrent_checkouts_is_used_once(scene: Scene, make_user: Any) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    template = scene.template()
    buyer = make_user()
    coupon_id = _claim(scene, buyer, template.id)
    with scene.database.session() as db:
        address_id = make_address(db, buyer.id)
    racers = 6
    gate = threading.Barrier(racers)

    def attempt(_n: int) -> str:
        gate.wait()
        try:
            with scene.database.session() as db:
                checkout_module.checkout(
                    db,
                    actor_for(buyer),
                    lines=[(scene.sku_id, 1)],
                    address_id=address_id,
                    coupons=[coupon_id],
                    from_cart=False,
                )
            return "ok"
        except DomainError as exc:
            return exc.code or "error"

    with ThreadPoolExecutor(racers) as pool:
        outcomes = sorted(pool.map(attempt, range(racers)))
    assert outcomes == ["coupon_used"] * (racers - 1) + ["ok"], outcomes
    assert _written(scene) == (1, 1, 1)
    with scene.database.session(write=False) as db:
        line = db.scalars(select(OrderLine)).one()
        assert line.discount_fen == 2000

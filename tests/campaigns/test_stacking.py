"""The stacking policy: the order of levels, one coupon per level and shop, whole-fen
allocation, and for random carts and coupons the invariants that money depends on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xiaodian.campaigns import rules, stacking
from xiaodian.campaigns.models import CouponKind, CouponLevel, CouponScope


def _held(coupon_id: int, level: CouponLevel, offer: rules.Offer, **kw: object) -> stacking.Held:
    return stacking.Held(
        coupon_id=coupon_id,
        shop_id=kw.get("shop_id", None if level == CouponLevel.PLATFORM else 1),  # type: ignore[arg-type]
        level=level,
        scope=kw.get("scope", CouponScope.ALL),  # type: ignore[arg-type]
        scope_ids=frozenset(kw.get("ids", ())),  # type: ignore[arg-type]
        offer=offer,
    )


LINES = [
    stacking.Line(key=1, shop_id=1, product_id=10, category_id=100, amount_fen=6000),
    stacking.Line(key=2, shop_id=1, product_id=11, category_id=100, amount_fen=4000),
    stacking.Line(key=3, shop_id=2, product_id=20, category_id=200, amount_fen=3333),
]


def test_levels_apply_in_order_and_the_platform_spreads_in_whole_fen() -> None:
    product = _held(
        7,
        CouponLevel.PRODUCT,
        rules.Offer(CouponKind.NO_THRESHOLD, off_fen=1000),
        scope=CouponScope.PRODUCTS,
        ids=[10],
    )
    shop = _held(
        5, CouponLevel.SHOP, rules.Offer(CouponKind.THRESHOLD, off_fen=2000, min_spend_fen=9000)
    )
    platform = _held(3, CouponLevel.PLATFORM, rules.Offer(CouponKind.NO_THRESHOLD, off_fen=1001))
    got = stacking.quote(LINES, [platform, shop, product])
    assert [a.coupon_id for a in got.applied] == [7, 5, 3]  # product, shop, platform
    # the shop coupon's threshold is reckoned after the product coupon: 5000 + 4000 = 9000
    assert got.applied[1].parts == {1: 1111, 2: 889}
    assert sum(got.applied[2].parts.values()) == 1001
    assert got.total_discount_fen == 1000 + 2000 + 1001
    assert sum(got.platform_fen.values()) == 1001


def test_one_coupon_per_level_and_shop_and_reasons_for_the_rest() -> None:
    off = rules.Offer(CouponKind.NO_THRESHOLD, off_fen=100)
    far = rules.Offer(CouponKind.THRESHOLD, off_fen=100, min_spend_fen=100000)
    got = stacking.quote(
        LINES,
        [
            _held(1, CouponLevel.SHOP, off),
            _held(2, CouponLevel.SHOP, off),  # a second shop coupon for shop 1
            _held(3, CouponLevel.SHOP, off, shop_id=2),  # shop 2's own: applies
            _held(4, CouponLevel.SHOP, off, shop_id=9),  # nothing of shop 9
            _held(5, CouponLevel.PLATFORM, far),
        ],
    )
    assert [a.coupon_id for a in got.applied] == [1, 3]
    assert {(n.coupon_id, n.code) for n in got.not_applied} == {
        (2, "one_per_level"),
        (4, "not_covered"),
        (5, "below_minimum"),
    }


offers = st.one_of(
    st.builds(
        lambda off, mult: rules.Offer(CouponKind.THRESHOLD, off_fen=off, min_spend_fen=off * mult),
        st.integers(1, 20000),
        st.integers(2, 10),
    ),
    st.builds(
        lambda rate, cap: rules.Offer(CouponKind.PERCENT, rate_percent=rate, cap_fen=cap),
        st.integers(20, 99),
        st.integers(1, 20000),
    ),
    st.builds(lambda off: rules.Offer(CouponKind.NO_THRESHOLD, off_fen=off), st.integers(1, 20000)),
)


@st.composite
def carts(draw: st.DrawFn) -> tuple[list[stacking.Line], list[stacking.Held]]:
    n = draw(st.integers(1, 10))
    lines = [
        stacking.Line(
            key=k,
            shop_id=draw(st.integers(1, 3)),
            product_id=draw(st.integers(1, 5)),
            category_id=draw(st.integers(1, 3)),
            amount_fen=draw(st.integers(1, 500_000)),
        )
        for k in range(1, n + 1)
    ]
    held = []
    for coupon_id in range(1, draw(st.integers(0, 6)) + 1):
        level = draw(st.sampled_from(list(CouponLevel)))
        scope = (
            CouponScope.PRODUCTS
            if level == CouponLevel.PRODUCT
            else draw(st.sampled_from(list(CouponScope)))
        )
        held.append(
            _held(
                coupon_id,
                level,
                draw(offers),
                shop_id=None if level == CouponLevel.PLATFORM else draw(st.integers(1, 3)),
                scope=scope,
                ids=draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)),
            )
        )
    return lines, held


@settings(max_examples=300, deadline=None)
@given(carts())
def test_nothing_is_paid_below_zero_and_the_parts_add_up(
    cart: tuple[list[stacking.Line], list[stacking.Held]],
) -> None:
    lines, held = cart
    got = stacking.quote(lines, held)
    for line in lines:
        assert 0 <= got.platform_fen[line.key] <= got.discount_fen[line.key] <= line.amount_fen
        assert got.paid_fen(line.key) >= 0
    for applied in got.applied:
        assert sum(applied.parts.values()) == applied.discount_fen > 0
    assert sum(a.discount_fen for a in got.applied) == got.total_discount_fen
    assert len(got.applied) + len(got.not_applied) == len(held)
    platforms = [
        a
        for a in got.applied
        if a.coupon_id in {h.coupon_id for h in held if h.level == CouponLevel.PLATFORM}
    ]
    assert len(platforms) <= 1

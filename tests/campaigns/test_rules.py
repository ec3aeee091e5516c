"""WeChat's floors: what a template may offer, and what a coupon takes off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xiaodian.campaigns import rules
from xiaodian.campaigns.models import CouponKind
from xiaodian.errors import InvalidInput


def _offer(kind: str, **fields: int) -> rules.Offer:
    values = {"off_fen": 0, "rate_percent": 100, "cap_fen": 0, "min_spend_fen": 0, **fields}
    return rules.check_offer(kind, **values)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("percent", {"rate_percent": 19, "cap_fen": 1000}),  # below 2折
        ("percent", {"rate_percent": 100, "cap_fen": 1000}),  # no discount at all
        ("percent", {"rate_percent": 80, "cap_fen": 0}),  # a discount needs a cap
        ("percent", {"rate_percent": 80, "cap_fen": 20001}),  # a cap above ¥200
        ("threshold", {"off_fen": 20001, "min_spend_fen": 100000}),  # more than ¥200 off
        ("threshold", {"off_fen": 8001, "min_spend_fen": 10000}),  # above 80% of the threshold
        ("threshold", {"off_fen": 100, "min_spend_fen": 0}),  # 满减 needs a threshold
        ("no_threshold", {"off_fen": 0}),
        ("no_threshold", {"off_fen": 20001}),
        ("gift", {"off_fen": 100}),
    ],
)
def test_offers_past_a_floor_are_refused(kind: str, fields: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        _offer(kind, **fields)


def test_offers_at_the_floors_are_accepted() -> None:
    assert _offer("percent", rate_percent=20, cap_fen=20000).most_fen == 20000
    assert _offer("threshold", off_fen=8000, min_spend_fen=10000).most_fen == 8000
    assert _offer("no_threshold", off_fen=20000, min_spend_fen=500).min_spend_fen == 0


def test_what_each_kind_takes_off() -> None:
    threshold = _offer("threshold", off_fen=2000, min_spend_fen=10000)
    assert threshold.discount_fen(9999) == 0  # threshold not met
    assert threshold.discount_fen(10000) == 2000
    percent = _offer("percent", rate_percent=80, cap_fen=3000)
    assert percent.discount_fen(10000) == 2000  # 8折
    assert percent.discount_fen(100000) == 3000  # capped
    no_threshold = _offer("no_threshold", off_fen=500)
    assert no_threshold.discount_fen(300) == 240  # at most 80% of the price
    assert no_threshold.discount_fen(10000) == 500


@given(
    kind=st.sampled_from(list(CouponKind)),
    off=st.integers(1, 20000),
    rate=st.integers(20, 99),
    cap=st.integers(1, 20000),
    min_spend=st.integers(0, 10**6),
    amount=st.integers(0, 10**7),
)
def test_a_discount_never_passes_the_floors(
    kind: CouponKind, off: int, rate: int, cap: int, min_spend: int, amount: int
) -> None:
    try:
        offer = _offer(kind, off_fen=off, rate_percent=rate, cap_fen=cap, min_spend_fen=min_spend)
    except InvalidInput:
        return
    discount = offer.discount_fen(amount)
    assert 0 <= discount <= amount
    assert discount <= offer.most_fen <= rules.MAX_OFF_FEN
    if kind == CouponKind.PERCENT:
        assert (amount - discount) * 100 >= amount * 20  # never below 2折
    else:  # at most 80% of the threshold (met) or of the price
        assert discount * 100 <= amount * 80

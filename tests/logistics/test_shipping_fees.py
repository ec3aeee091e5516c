"""The fee reckoning of shipping templates (``logistics/fees.py``), by hand-computed
examples, and the checks of a template's terms."""

from __future__ import annotations

from typing import Any

import pytest

from xiaodian.errors import InvalidInput
from xiaodian.logistics import fees
from xiaodian.logistics.fees import Rule, Terms


def _terms(**overrides: Any) -> Terms:
    data: dict[str, Any] = {
        "name": "默认",
        "method": "piece",
        "rule": {"first_units": 1, "first_fen": 1000, "extra_units": 1, "extra_fen": 500},
    }
    data.update(overrides)
    return fees.check_terms(**data)


def test_the_34_divisions_and_their_short_names() -> None:
    assert len(fees.PROVINCES) == len(set(fees.PROVINCES)) == 34
    assert fees.province_of("广东") == fees.province_of("广东省") == "广东省"
    assert fees.province_of(" 新疆 ") == "新疆维吾尔自治区"
    assert fees.province_of("内蒙古自治区") == "内蒙古自治区"
    assert fees.province_of("香港") == "香港特别行政区"
    assert fees.province_of("北京") == "北京市"
    assert fees.province_of("火星") is None
    assert fees.province_of(42) is None


def test_by_piece() -> None:
    terms = _terms()  # first piece ¥10, each further piece ¥5
    assert terms.fee("浙江省", [(1, 0)], 0) == 1000
    assert terms.fee("浙江省", [(3, 0)], 0) == 1000 + 2 * 500
    assert terms.fee("浙江省", [(2, 0), (2, 0)], 0) == 1000 + 3 * 500  # lines are added
    two_by_two = Rule(first_units=2, first_fen=800, extra_units=2, extra_fen=300)
    assert two_by_two.fee(1) == 800  # fewer than the first units pay the first fee
    assert two_by_two.fee(2) == 800
    assert two_by_two.fee(3) == 800 + 300  # part of a step is a step
    assert two_by_two.fee(5) == 800 + 2 * 300


def test_by_weight_rounds_additional_units_up() -> None:
    terms = _terms(
        method="weight",
        rule={"first_units": 1000, "first_fen": 1000, "extra_units": 500, "extra_fen": 400},
    )
    # 2 × 1500 g = 3000 g: ¥10 for the first kilogram, 2000 g more = 4 steps of ¥4.
    assert terms.fee("浙江省", [(2, 1500)], 0) == 1000 + 4 * 400
    assert terms.fee("浙江省", [(1, 1001)], 0) == 1000 + 400  # 1 g over: one step
    assert terms.fee("浙江省", [(1, 1000)], 0) == 1000
    assert terms.fee("浙江省", [(3, 0)], 0) == 1000  # weightless items pay the first fee


def test_a_province_rule_replaces_the_default_one() -> None:
    terms = _terms(
        regions=[
            {
                "provinces": ["新疆", "西藏自治区"],
                "first_units": 1,
                "first_fen": 2000,
                "extra_units": 1,
                "extra_fen": 1500,
            }
        ]
    )
    assert terms.regions[0].provinces == ("新疆维吾尔自治区", "西藏自治区")
    assert terms.fee("新疆", [(2, 0)], 0) == 2000 + 1500
    assert terms.fee("西藏自治区", [(1, 0)], 0) == 2000
    assert terms.fee("广东省", [(2, 0)], 0) == 1000 + 500
    assert terms.fee("不知道", [(2, 0)], 0) == 1000 + 500  # an unknown province: default


def test_free_over_the_threshold_of_the_shop_orders_items() -> None:
    terms = _terms(free_over_fen=9900)
    assert terms.fee("浙江省", [(1, 0)], 9899) == 1000
    assert terms.fee("浙江省", [(1, 0)], 9900) == 0
    assert terms.fee("浙江省", [(5, 0)], 20000) == 0


def test_undeliverable_province() -> None:
    terms = _terms(excluded=["台湾", "香港特别行政区"])
    assert terms.excluded == ("台湾省", "香港特别行政区")
    refused = fees.parcel_fee({7: terms}, [(7, 1, 0)], "香港", 5000)
    assert refused.undeliverable == "香港特别行政区" and refused.fen == 0
    assert fees.parcel_fee({7: terms}, [(7, 1, 0)], "浙江", 5000).fen == 1000


def test_lines_under_different_templates_pay_each_templates_fee_added() -> None:
    piece = _terms()  # ¥10 + ¥5 each further piece
    weight = _terms(
        method="weight",
        rule={"first_units": 1000, "first_fen": 800, "extra_units": 1000, "extra_fen": 200},
        free_over_fen=50000,
    )
    lines = [(1, 2, 100), (2, 1, 2500), (1, 1, 100)]  # template 1: 3 pieces; 2: 2500 g
    result = fees.parcel_fee({1: piece, 2: weight}, lines, "浙江省", 10000)
    assert result.parts == {1: 1000 + 2 * 500, 2: 800 + 2 * 200}
    assert result.fen == 2000 + 1200
    # The weight template is free over ¥500 of the whole shop-order; the other still pays.
    assert fees.parcel_fee({1: piece, 2: weight}, lines, "浙江省", 50000).fen == 2000
    assert fees.parcel_fee({1: piece}, [], "浙江省", 0).fen == 0


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        (
            {"rule": {"first_units": 1, "first_fen": -1, "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        (
            {"rule": {"first_units": 1, "first_fen": 1_000_001, "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        (
            {"rule": {"first_units": 0, "first_fen": 0, "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        (
            {"rule": {"first_units": 1, "first_fen": "10", "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        (
            {"rule": {"first_units": 1, "first_fen": True, "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        (
            {"rule": {"first_units": 1, "first_fen": 1.5, "extra_units": 1, "extra_fen": 0}},
            "bad_shipping_number",
        ),
        ({"rule": [1, 2]}, "bad_shipping_rule"),
        ({"method": "volume"}, "bad_shipping_method"),
        ({"name": ""}, "bad_name"),
        ({"name": "长" * 41}, "bad_name"),
        ({"excluded": ["火星"]}, "unknown_province"),
        ({"excluded": "广东"}, "bad_provinces"),
        ({"free_over_fen": 0}, "bad_shipping_number"),
        ({"free_over_fen": 2**63}, "bad_shipping_number"),
        ({"is_default": "yes"}, "bad_default"),
        (
            {
                "regions": [
                    {
                        "provinces": [],
                        "first_units": 1,
                        "first_fen": 0,
                        "extra_units": 1,
                        "extra_fen": 0,
                    }
                ]
            },
            "bad_provinces",
        ),
        (
            {
                "regions": [
                    {
                        "provinces": ["广东"],
                        "first_units": 1,
                        "first_fen": 0,
                        "extra_units": 1,
                        "extra_fen": 0,
                    }
                ]
                * 2
            },
            "province_twice",
        ),
        (
            {
                "regions": [
                    {
                        "provinces": ["广东"],
                        "first_units": 1,
                        "first_fen": 0,
                        "extra_units": 1,
                        "extra_fen": 0,
                    }
                ],
                "excluded": ["广东省"],
            },
            "province_twice",
        ),
        (
            {
                "regions": [
                    {
                        "provinces": [p],
                        "first_units": 1,
                        "first_fen": 0,
                        "extra_units": 1,
                        "extra_fen": 0,
                    }
                    for p in fees.PROVINCES
                ]
                + [{}]
            },
            "too_many_regions",
        ),
    ],
)
def test_bad_terms_are_refused(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _terms(**overrides)
    assert caught.value.code == code


def test_34_province_rules_are_allowed() -> None:
    regions = [
        {"provinces": [p], "first_units": 1, "first_fen": i, "extra_units": 1, "extra_fen": 0}
        for i, p in enumerate(fees.PROVINCES)
    ]
    assert len(_terms(regions=regions).regions) == 34

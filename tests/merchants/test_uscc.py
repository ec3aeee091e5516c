"""The 统一社会信用代码 validator (GB 32100-2015)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.merchants.conftest import code
from xiaodian.errors import InvalidInput
from xiaodian.merchants import uscc
from xiaodian.merchants.applications import validate_license_no


def test_published_codes_are_valid() -> None:
    # Codes printed on real licences (public company registrations).
    for value in ["91350100M000100Y43", "91110000600037341L", "911100001000079554"]:
        assert uscc.problem(value) is None, value


def test_check_character_is_computed_with_the_gb_weights() -> None:
    # sum = 9*1 + 1*3 + 3*9 + ... ; worked by hand for this prefix: check value 3.
    assert uscc.check_char("91350100M000100Y4") == "3"
    assert validate_license_no(code("91330106MA2H7K3P3")) == code("91330106MA2H7K3P3")


def test_check_values_30_and_31_map_to_y_and_0() -> None:
    found = {}
    for n in range(100_000):
        first17 = f"{n:017d}"
        found.setdefault(uscc.check_char(first17), first17)
        if "Y" in found and "0" in found:
            break
    assert uscc.problem(found["Y"] + "Y") is None
    assert uscc.problem(found["0"] + "0") is None


def test_lower_case_and_spaces_are_accepted_and_normalised() -> None:
    valid = code()
    assert validate_license_no(f"  {valid.lower()} ") == valid
    assert validate_license_no(valid[:6] + " " + valid[6:]) == valid


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (code()[:-1], "length"),
        (code() + "1", "length"),
        ("", "length"),
        ("9135010" + "0M000100Y4" + "3" * 5, "length"),
    ],
)
def test_wrong_length(value: str, problem: str) -> None:
    assert uscc.problem(uscc.normalize(value)) == problem
    with pytest.raises(InvalidInput) as exc:
        validate_license_no(value)
    assert exc.value.code == "invalid_license_no"
    assert "18" in exc.value.render()


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_forbidden_letters(letter: str) -> None:
    value = "9133010" + letter + "MA2H7K3P3" + "0"
    assert len(value) == 18
    assert uscc.problem(value) == "charset"
    with pytest.raises(InvalidInput, match="no I, O, S, V or Z"):
        validate_license_no(value)


def test_wrong_check_digit() -> None:
    valid = code()
    for last in uscc.CHARSET:
        if last != valid[-1]:
            assert uscc.problem(valid[:-1] + last) == "check"
    with pytest.raises(InvalidInput, match="check digit"):
        validate_license_no(valid[:-1] + ("1" if valid[-1] != "1" else "2"))


@given(st.text(alphabet=uscc.CHARSET, min_size=17, max_size=17))
def test_every_prefix_has_exactly_one_check_character(first17: str) -> None:
    right = uscc.check_char(first17)
    assert uscc.is_valid(first17 + right)
    assert sum(uscc.problem(first17 + c) is None for c in uscc.CHARSET) == 1

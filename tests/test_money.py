"""Money at the edge: fen shown by ``format_fen``, yuan read from forms by ``yuan_field``."""

from __future__ import annotations

import pytest

from xiaodian.errors import InvalidInput
from xiaodian.money import format_fen, yuan_field


def test_format_fen_shows_yuan_with_separators_and_a_symbol() -> None:
    assert format_fen(123450) == "¥1,234.50"
    assert format_fen(-5) == "-¥0.05"


def test_format_fen_for_a_spreadsheet_has_no_symbol_and_no_separators() -> None:
    assert format_fen(123450, symbol="", thousands="") == "1234.50"
    assert format_fen(7, symbol="", thousands="") == "0.07"


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("12.3", 1230), ("¥1,234.50", 123450), ("  9 ", 900), ("", None), ("   ", None)],
)
def test_yuan_field_reads_what_people_type(typed: str, fen: int | None) -> None:
    assert yuan_field(typed) == fen


def test_yuan_field_names_the_field_it_refuses() -> None:
    with pytest.raises(InvalidInput) as caught:
        yuan_field("12.345", label="Price")
    assert caught.value.code == "amount_invalid"
    assert caught.value.render() == "Price must be an amount in yuan, like 12.30."
    with pytest.raises(InvalidInput) as caught:
        yuan_field("", label="Price", required=True)
    assert caught.value.code == "field_required"
    assert caught.value.render() == "Enter Price."


def test_yuan_field_without_a_label_speaks_of_the_amount() -> None:
    with pytest.raises(InvalidInput) as caught:
        yuan_field("abc")
    assert caught.value.render() == "The amount must be in yuan, like 12.30."

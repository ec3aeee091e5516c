"""Money is an integer number of fen (分). Formatting happens only at the edge: amounts are
shown by ``format_fen`` and read from forms by ``yuan_field``."""

from __future__ import annotations

import re

from xiaodian.errors import InvalidInput, _

_YUAN = re.compile(r"^\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$")
# The largest amount a column holds (INTEGER: ¥21,474,836.47); more is not an amount here.
MAX_FEN = 2**31 - 1


def format_fen(fen: int, symbol: str = "¥", thousands: str = ",") -> str:
    """1234.5 yuan as "¥1,234.50"; ``symbol=""``, ``thousands=""`` give "1234.50" (a
    spreadsheet's number)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}".replace(",", thousands)


def parse_yuan(text: str) -> int:
    """Parse "12.3" (yuan, as typed in a form) into 1230 fen; ValueError otherwise."""
    match = _YUAN.match(text)
    if not match:
        raise ValueError(f"not an amount of money: {text!r}")
    yuan, cents = match.group(1), (match.group(2) or "0").ljust(2, "0")
    return int(yuan) * 100 + int(cents)


def yuan_field(text: str | None, *, label: str = "", required: bool = False) -> int | None:
    """An amount a person typed in a form ("12.3", "¥1,234.50") in fen; None when empty.

    Raises InvalidInput: ``field_required`` when empty and ``required``, ``amount_invalid``
    when it is not an amount; the message names ``label`` when there is one.
    """
    raw = (text or "").strip().lstrip("¥").replace(",", "")
    if not raw.strip():
        if required:
            raise InvalidInput(_("Enter %(field)s."), code="field_required", field=label)
        return None
    try:
        fen = parse_yuan(raw)
        if fen > MAX_FEN:
            raise ValueError(raw)
        return fen
    except ValueError:
        if label:
            raise InvalidInput(
                _("%(field)s must be an amount in yuan, like 12.30."),
                code="amount_invalid",
                field=label,
            ) from None
        raise InvalidInput(
            _("The amount must be in yuan, like 12.30."), code="amount_invalid"
        ) from None


def split_proportionally(total_fen: int, weights: list[int]) -> list[int]:
    """Split ``total_fen`` by ``weights`` so the parts add up exactly (largest remainder)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    raw = [total_fen * w for w in weights]
    parts = [r // weight_sum for r in raw]
    remainder = total_fen - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: raw[i] % weight_sum, reverse=True)
    for i in order[:remainder]:
        parts[i] += 1
    return parts

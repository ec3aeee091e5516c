"""Money is an integer number of fen (分). Formatting happens only at the edge."""

from __future__ import annotations

import re

_YUAN = re.compile(r"^\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$")


def format_fen(fen: int, symbol: str = "¥") -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """Parse "12.3" (yuan, as typed in a form) into 1230 fen; ValueError otherwise."""
    match = _YUAN.match(text)
    if not match:
        raise ValueError(f"not an amount of money: {text!r}")
    yuan, cents = match.group(1), (match.group(2) or "0").ljust(2, "0")
    return int(yuan) * 100 + int(cents)


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

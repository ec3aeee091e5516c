"""统一社会信用代码 (Unified Social Credit Code, GB 32100-2015): format and check digit.

18 characters from the 31-character set 0-9 A-H J-N P-R T-U W-Y (no I, O, S, V, Z).
The 18th character is a check over the first 17: each character's value (its index in
the set) is weighted by 3^i mod 31; the check value is ``31 - sum mod 31`` (31 -> 0).
"""

from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18
_VALUE = {ch: i for i, ch in enumerate(CHARSET)}


def check_char(first17: str) -> str:
    """The check character for the first 17 characters (upper case, from CHARSET)."""
    if len(first17) != LENGTH - 1 or any(ch not in _VALUE for ch in first17):
        raise ValueError("need 17 characters from the USCC character set")
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def normalize(value: str) -> str:
    """Upper-case and strip spaces, so pasted or lower-case input is accepted."""
    return "".join((value or "").split()).upper()


def problem(value: str) -> str | None:
    """Why a (normalized) code is invalid: "length", "charset", "check" — or None if valid."""
    if len(value) != LENGTH:
        return "length"
    if any(ch not in _VALUE for ch in value):
        return "charset"
    if check_char(value[:-1]) != value[-1]:
        return "check"
    return None


def is_valid(value: str) -> bool:
    return problem(normalize(value)) is None

"""Integers at the edge: ids, money and counts, bounded by what an INTEGER column holds.

A number past ``MAX_ID`` names no row, and the database driver refuses to send it (a 500
instead of an answer), so every integer a request carries is read with one of these:

- ``Id``: an id in a path, a query or a form field, parsed from its text ("42"). Outside
  1..MAX_ID it names nothing: the answer is the 404 of any unknown id (``web/errors.py``
  turns the ``ID_NOT_FOUND`` validation error into it, for the API and for pages).
- ``BodyId``: an id in a JSON body. A JSON integer only (not ``true``, ``"42"`` or ``42.0``);
  404 outside 1..MAX_ID as well.
- ``Fen``: money in a JSON body (integer fen), a JSON integer 0..MAX_FEN; 422 outside.
- ``Count``: a quantity, stock, limit or number of days in a JSON body, a JSON integer
  0..MAX_ID, and ``Delta`` a change of one, -MAX_ID..MAX_ID; 422 outside. A field narrows
  them to its own rule with ``Field(ge=..., le=...)``.
- ``PageNo``: a page number in a query, 1..MAX_PAGE.

Forms read by hand use ``form_int`` (numbers typed in), ``form_fen`` (amounts in yuan) and
``form_id`` (ids they carry).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from xiaodian.db import MAX_ID
from xiaodian.errors import NotFound, _
from xiaodian.money import MAX_FEN, parse_yuan

__all__ = [
    "ID_NOT_FOUND",
    "MAX_ID",
    "MAX_PAGE",
    "BodyId",
    "Count",
    "Delta",
    "Fen",
    "Id",
    "PageNo",
    "existing_id",
    "existing_ids",
    "form_fen",
    "form_id",
    "form_int",
]

ID_NOT_FOUND = "id_not_found"
MAX_PAGE = 10_000


def _names_a_row(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise PydanticCustomError(ID_NOT_FOUND, "No such id")
    return value


_ID_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID})

Id = Annotated[int, AfterValidator(_names_a_row), _ID_SCHEMA]
BodyId = Annotated[int, Strict(), AfterValidator(_names_a_row), _ID_SCHEMA]
Fen = Annotated[int, Strict(), Field(ge=0, le=MAX_FEN)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_ID)]
Delta = Annotated[int, Strict(), Field(ge=-MAX_ID, le=MAX_ID)]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE)]

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,10}")


def form_int(value: object, *, lo: int = -MAX_ID, hi: int = MAX_ID) -> int:
    """A whole number typed in a form, within ``lo..hi``; ValueError otherwise.

    ASCII digits only: "²" passes ``str.isdigit`` but not ``int``, and a few thousand
    digits make ``int`` itself refuse."""
    text = value.strip() if isinstance(value, str) else ""
    if not _WHOLE_NUMBER.fullmatch(text) or not lo <= int(text) <= hi:
        raise ValueError(value)
    return int(text)


def form_fen(value: str) -> int:
    """An amount typed in yuan ("12.30") as fen, at most MAX_FEN; ValueError otherwise."""
    fen = parse_yuan(value)
    if fen > MAX_FEN:
        raise ValueError(value)
    return fen


def existing_id(value: int) -> int:
    """An id parsed by hand: NotFound outside 1..MAX_ID, as for any id no row has."""
    if not 0 < value <= MAX_ID:
        raise NotFound(_("Not found."))
    return value


def form_id(value: object) -> int:
    """An id a form carries: ValueError when it is not a whole number, NotFound when it is
    one no row can have (outside 1..MAX_ID)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise ValueError(value)
    if len(text) > 12:  # no id has that many digits (and ``int`` of thousands refuses)
        raise NotFound(_("Not found."))
    return existing_id(int(text))


def existing_ids(values: Iterable[int]) -> list[int]:
    """Ids parsed by hand from a list or text: NotFound when one is out of range."""
    return [existing_id(v) for v in values]

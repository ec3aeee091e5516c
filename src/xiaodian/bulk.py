"""Statements over many rows whose text does not depend on the number of rows.

A multi-row ``INSERT ... VALUES (...), (...)`` or an ``IN (...)`` of 64 values is, for
every batch size, a new statement of hundreds of parameters: SQLAlchemy compiles it, the
driver parses it again (psycopg caches only statements under 50 parameters) and the
server plans it again. For the batches of a live flash sale's writer that was most of a
batch's time (measured on PostgreSQL: a 64-order batch spent ~15 ms of client CPU there).

On PostgreSQL these helpers send the rows as ONE ``jsonb`` parameter expanded by
``jsonb_populate_recordset`` (and the values of ``IN`` as one array, ``= ANY(...)``): one
statement text per table and column set, compiled once, parsed once, prepared by the
server. On SQLite (no network, no planning cost to speak of) they are the plain
statements. Either way the caller gets the same rows back.

``RETURNING`` after ``INSERT ... SELECT`` comes back in no promised order: callers match
returned rows by a unique column (an order number), never by position.

What differs from a plain INSERT on PostgreSQL, and why the callers do not mind: a JSON
column's ``None`` is SQL NULL (not JSON ``null``) and its object passes through ``jsonb``
(keys come back sorted); values are sent as JSON (enums as their value, aware datetimes
in ISO 8601, Decimal as text), not through the column type's bind processing; a Python
default of a column the rows leave out is computed once per statement, so callers give
every column that has a per-row default (ids come from the database).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, any_, bindparam, insert, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy import text as sa_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

ROWS_PARAM = "xd_rows"


def is_postgresql(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def rows_source(
    db: Session, table: Table, names: tuple[str, ...], param: str = ROWS_PARAM
) -> Select[Any]:
    """``SELECT r.a, r.b ... FROM jsonb_populate_recordset(NULL::table, :xd_rows) AS r``:
    the rows of ``rows_param`` typed as the table's columns (PostgreSQL)."""
    preparer = db.get_bind().dialect.identifier_preparer
    return _rows_source(table, names, preparer.format_table(table), param)


@lru_cache(maxsize=256)
def _rows_source(table: Table, names: tuple[str, ...], qualified: str, param: str) -> Select[Any]:
    for name in names:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name!r}")
    source = sa_text(f"jsonb_populate_recordset(NULL::{qualified}, CAST(:{param} AS jsonb)) AS r")
    columns: list[Any] = [literal_column(f'r."{name}"') for name in names]
    return sa_select(*columns).select_from(source)


def rows_param(
    table: Table, names: Sequence[str], rows: Iterable[dict[str, Any]], param: str = ROWS_PARAM
) -> dict[str, str]:
    """The parameters of ``rows_source``: the rows as one JSON array."""
    convert = [(name, _converter(table, name)) for name in names]
    payload = []
    for row in rows:
        item = {}
        for name, to_json in convert:
            value = row[name]
            item[name] = value if to_json is None or value is None else to_json(value)
        payload.append(item)
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return {param: text}


def _converter(table: Table, name: str) -> Any:
    """How a column's Python values become JSON values; None: as they are."""
    column_type = table.c[name].type
    if isinstance(column_type, JSON):
        return None
    python_type: Any
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        python_type = object
    if isinstance(python_type, type) and issubclass(python_type, bool | int | str | float):
        return _enum_value if issubclass(python_type, str) else None
    return _plain


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} in a row set")


def insert_rows(
    db: Session, table: Table, rows: list[dict[str, Any]], *, returning: Sequence[str] = ()
) -> list[Any]:
    """Insert ``rows`` (all with the same keys) in one statement; the ``returning``
    columns of the new rows, in NO particular order. Joins the caller's transaction."""
    if not rows:
        return []
    names = tuple(rows[0])
    back = [table.c[name] for name in returning]
    if not is_postgresql(db):
        # An executemany of the statement built once (one multi-row INSERT with RETURNING).
        stmt = _plain_insert(table, tuple(returning))
        if back:
            return list(db.execute(stmt, rows))
        db.execute(stmt, rows)
        return []
    stmt = insert(table).from_select(names, rows_source(db, table, names))
    params = rows_param(table, names, rows)
    if back:
        return list(db.execute(stmt.returning(*back), params))
    db.execute(stmt, params)
    return []


@lru_cache(maxsize=256)
def _plain_insert(table: Table, returning: tuple[str, ...]) -> Any:
    stmt = insert(table)
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


def insert_together(db: Session, parts: Sequence[tuple[Table, list[dict[str, Any]]]]) -> None:
    """Rows into several tables (no RETURNING), in ONE statement on PostgreSQL: the first
    tables' inserts as data-modifying ``WITH`` clauses of the last one's (one round trip
    instead of one per table). Joins the caller's transaction."""
    parts = [(table, rows) for table, rows in parts if rows]
    if not parts:
        return
    if not is_postgresql(db) or len(parts) == 1:
        for table, rows in parts:
            insert_rows(db, table, rows)
        return
    params: dict[str, str] = {}
    statements = []
    for index, (table, rows) in enumerate(parts):
        names, param = tuple(rows[0]), f"{ROWS_PARAM}_{index}"
        statements.append(insert(table).from_select(names, rows_source(db, table, names, param)))
        params.update(rows_param(table, names, rows, param))
    stmt = statements[-1]
    for index, before in enumerate(statements[:-1]):
        stmt = stmt.add_cte(before.cte(f"xd_part_{index}"))
    db.execute(stmt, params)


def in_bound(column: Any, name: str, *, postgres: bool) -> ColumnElement[bool]:
    """``in_values`` for a statement built once: ``column IN (:name)`` with the list bound
    at execution (an expanding parameter); on PostgreSQL ``column = ANY(:name)``."""
    if not postgres:
        return column.in_(bindparam(name, expanding=True))
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


def in_values(db: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)`` (one parameter)."""
    values = list(values)
    if not is_postgresql(db):
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))

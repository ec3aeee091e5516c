"""The ledger's core: accounts, balanced transfers posted once per business key, balances
derived from the postings, and the fee arithmetic with its one rounding rule.

Sign convention: a posting's ``amount_fen`` > 0 debits its account, < 0 credits it; the
postings of a transfer sum to zero, so the sum of every posting is zero too (the trial
balance). Shown balances follow each account's normal side: money held at the provider
and what a merchant owes the platform are debit-normal, what the ledger owes merchants
and the platform's income are credit-normal (shown as the negated sum).

Every function here joins the caller's transaction; the use cases that commit live beside
it (``settlement.py``, ``statements.py``); the order listeners in ``income.py``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import DateTime, Table, bindparam, func, select
from sqlalchemy import text as sa_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import bulk, clock
from xiaodian.ledger.models import HoldStatus as HoldStatus  # re-exported: pages, tests
from xiaodian.ledger.models import LedgerAccount, LedgerCheckpoint, LedgerPosting, LedgerTransfer

_ACCOUNTS = cast(Table, LedgerAccount.__table__)
_TRANSFERS = cast(Table, LedgerTransfer.__table__)
_POSTINGS = cast(Table, LedgerPosting.__table__)

# --------------------------------------------------------------------------- accounts

CLEARING = "wechatpay:clearing"  # money held at the payment provider
PENDING = "merchant:pending"  # paid, not settled yet
AVAILABLE = "merchant:available"  # settled: withdrawable
WITHDRAWING = "merchant:withdrawing"  # asked for, not paid out yet (withdrawals)
DEPOSIT = "merchant:deposit"  # 保证金
OWES = "merchant:owes"  # refunds after settlement beyond available and deposit
FEE_INCOME = "platform:fee_income"  # 技术服务费
PAYMENT_FEES = "platform:payment_fees"  # the provider's fee, recovered from merchants
SUBSIDY = "platform:subsidy"  # platform-funded coupons (later)
BUYER_REFUNDS = "buyer:refunds"  # refunds owed to buyers (later: platform-advanced ones)
OPERATING = "platform:operating"  # the platform's own merchant account (profit sharing)

# Promoters (creators, sharers, affiliates; owner: the user): commission pending until the
# order settles, then available, then withdrawing (the affiliates domain posts them).
PROMOTER_PENDING = "promoter:pending"
PROMOTER_AVAILABLE = "promoter:available"
PROMOTER_WITHDRAWING = "promoter:withdrawing"
PROMOTER_KINDS = (PROMOTER_PENDING, PROMOTER_AVAILABLE, PROMOTER_WITHDRAWING)

# Debit-normal kinds (assets, receivables); every other kind is credit-normal.
DEBIT_NORMAL = frozenset({CLEARING, OWES, SUBSIDY, BUYER_REFUNDS, OPERATING})
MERCHANT_KINDS = (PENDING, AVAILABLE, WITHDRAWING, DEPOSIT, OWES)
PLATFORM = 0  # the owner id of the platform's and the provider's accounts

AccountKey = tuple[str, int]  # (kind, owner id)


def shown(kind: str, raw_sum: int) -> int:
    """A balance on its account's normal side (positive in the usual case)."""
    return raw_sum if kind in DEBIT_NORMAL else -raw_sum


def _insert_skipping(
    db: Session, table: Table, rows: list[dict[str, Any]], unique: list[str], *returning: Any
) -> list[Any]:
    """INSERT ``rows`` (same keys) skipping those whose ``unique`` columns exist, in ONE
    statement whose text does not depend on the number of rows: on PostgreSQL the rows are
    one ``jsonb`` parameter (``bulk.rows_source``), on SQLite an executemany. The
    ``returning`` columns of the rows inserted, in no particular order."""
    names = tuple(rows[0])
    postgres = bulk.is_postgresql(db)
    source = bulk.rows_source(db, table, names) if postgres else None
    stmt = _skipping_statement(table, names, tuple(unique), tuple(returning), source)
    params: Any = bulk.rows_param(table, names, rows) if postgres else rows
    if returning:
        return list(db.execute(stmt, params))
    db.execute(stmt, params)
    return []


@functools.lru_cache(maxsize=64)
def _skipping_statement(
    table: Table,
    names: tuple[str, ...],
    unique: tuple[str, ...],
    returning: tuple[Any, ...],
    source: Any,
) -> Any:
    """``_insert_skipping``'s statement, built once per shape (``source``: PostgreSQL's
    row set, itself kept by ``bulk``; None on SQLite, where the rows are an executemany)."""
    if source is not None:
        stmt: Any = (
            postgresql.insert(table)
            .from_select(names, source)
            .on_conflict_do_nothing(index_elements=list(unique))
        )
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return stmt.returning(*returning) if returning else stmt


def account_ids(
    db: Session, keys: Iterable[AccountKey], *, lock: bool = False
) -> dict[AccountKey, int]:
    """The ids of these accounts, made when missing: two statements however many (an
    INSERT that skips existing ones, a SELECT). ``lock`` holds their rows until the
    transaction ends (PostgreSQL), so balance checks of concurrent movers queue."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found = _account_rows(db, wanted, lock=lock)
    missing = [key for key in wanted if key not in found]
    if missing:  # an account's first posting: made once, then found by the one SELECT
        now = clock.now()
        _insert_skipping(
            db,
            _ACCOUNTS,
            [{"kind": kind, "owner_id": owner, "created_at": now} for kind, owner in missing],
            ["kind", "owner_id"],
        )
        found = _account_rows(db, wanted, lock=lock)
    return {key: found[key] for key in wanted}


def _account_rows(db: Session, wanted: list[AccountKey], *, lock: bool) -> dict[AccountKey, int]:
    kinds = sorted({kind for kind, _owner in wanted})
    owners = sorted({owner for _kind, owner in wanted})
    query = _accounts_statement(bulk.is_postgresql(db), lock)
    rows = db.execute(query, {"kinds": kinds, "owners": owners})
    return {(kind, owner): id_ for id_, kind, owner in rows}


@functools.lru_cache(maxsize=4)
def _accounts_statement(postgres: bool, lock: bool) -> Any:
    """The accounts of ``:kinds`` x ``:owners``, built once (on PostgreSQL each list is
    one array parameter, ``= ANY(...)``)."""
    query = (
        select(_ACCOUNTS.c.id, _ACCOUNTS.c.kind, _ACCOUNTS.c.owner_id)
        .where(
            bulk.in_bound(_ACCOUNTS.c.kind, "kinds", postgres=postgres),
            bulk.in_bound(_ACCOUNTS.c.owner_id, "owners", postgres=postgres),
        )
        .order_by(_ACCOUNTS.c.id)
    )
    return query.with_for_update() if lock else query


# --------------------------------------------------------------------------- transfers


@dataclass(frozen=True)
class Leg:
    kind: str
    owner_id: int
    amount_fen: int  # > 0 debit, < 0 credit


@dataclass(frozen=True)
class NewTransfer:
    key: str  # the business key: ``order:12:paid``, ``order:12:refund:R1``
    kind: str  # paid | refund | settle
    legs: tuple[Leg, ...]
    order_id: int | None = None
    order_no: str | None = None
    ref: str | None = None
    note: str = ""


class Unbalanced(ValueError):
    """A transfer whose postings do not sum to zero (a bug: never posted)."""


def check_balanced(transfer: NewTransfer) -> None:
    if sum(leg.amount_fen for leg in transfer.legs) != 0:
        raise Unbalanced(f"transfer {transfer.key} does not sum to zero: {transfer.legs}")
    for leg in transfer.legs:
        if not isinstance(leg.amount_fen, int) or isinstance(leg.amount_fen, bool):
            raise Unbalanced(f"transfer {transfer.key}: amounts are integer fen")


@dataclass
class Posted:
    """What ``post_transfers`` did: the ids of the transfers it posted, by key (keys that
    existed already are in ``existing``: nothing was posted for them)."""

    new: dict[str, int] = field(default_factory=dict)
    existing: list[str] = field(default_factory=list)


def post_transfers(
    db: Session, transfers: list[NewTransfer], *, at: datetime | None = None
) -> Posted:
    """Post every transfer whose business key is new; a known key posts nothing (a replayed
    event). Each must balance (``Unbalanced`` otherwise, before anything is written). A
    fixed number of statements however many transfers: the accounts (two), one INSERT of
    the transfers that skips known keys and returns the new ones, one INSERT of their
    postings. Joins the caller's transaction."""
    result = Posted()
    if not transfers:
        return result
    for transfer in transfers:
        check_balanced(transfer)
    if len({t.key for t in transfers}) != len(transfers):
        raise ValueError("the same business key twice in one call")
    ids = account_ids(db, [(leg.kind, leg.owner_id) for t in transfers for leg in t.legs])
    stamp = at if at is not None else clock.now()
    if bulk.is_postgresql(db):
        rows = _post_together(db, transfers, ids, stamp)
        result.new = {key: id_ for id_, key in rows}
        result.existing = [t.key for t in transfers if t.key not in result.new]
        return result
    rows = _insert_skipping(
        db,
        _TRANSFERS,
        [{**_head(t), "at": stamp} for t in transfers],
        ["key"],
        _TRANSFERS.c.id,
        _TRANSFERS.c.key,
    )
    result.new = {key: id_ for id_, key in rows}
    result.existing = [t.key for t in transfers if t.key not in result.new]
    postings = [
        {
            "transfer_id": result.new[t.key],
            "account_id": ids[(leg.kind, leg.owner_id)],
            "amount_fen": leg.amount_fen,
            "at": stamp,
        }
        for t in transfers
        if t.key in result.new
        for leg in t.legs
        if leg.amount_fen != 0
    ]
    if postings:
        bulk.insert_rows(db, _POSTINGS, postings)
    return result


# PostgreSQL: the transfers and their postings in ONE statement (a data-modifying CTE): the
# transfers as one jsonb parameter, the postings as three integer arrays (which transfer,
# account, amount) and the date as one parameter, so nothing is converted value by value on
# the client; one round trip, and the postings of a known key are never sent to be filtered.
_POST_TOGETHER = sa_text(
    """
    WITH heads AS (
        SELECT h.*
        FROM jsonb_to_recordset(CAST(:transfers AS jsonb)) AS h(
            n int, key text, kind text, order_id bigint, order_no text, ref text, note text)
    ), new_transfers AS (
        INSERT INTO ledger_transfers (key, kind, order_id, order_no, ref, note, at)
        SELECT key, kind, order_id, order_no, ref, note, :at FROM heads ORDER BY n
        ON CONFLICT (key) DO NOTHING
        RETURNING id, key
    ), new_postings AS (
        INSERT INTO ledger_postings (transfer_id, account_id, amount_fen, at)
        SELECT t.id, l.account_id, l.amount_fen, :at
        FROM unnest(
            CAST(:leg_transfers AS int[]), CAST(:leg_accounts AS bigint[]),
            CAST(:leg_amounts AS bigint[])
        ) WITH ORDINALITY AS l(n, account_id, amount_fen, i)
        JOIN heads AS h ON h.n = l.n
        JOIN new_transfers AS t ON t.key = h.key
        ORDER BY l.i
    )
    SELECT id, key FROM new_transfers
    """
).bindparams(bindparam("at", type_=DateTime(timezone=True)))


def _head(t: NewTransfer) -> dict[str, Any]:
    """A transfer's row, as both paths write it (less its date)."""
    return {
        "key": t.key,
        "kind": t.kind,
        "order_id": t.order_id,
        "order_no": t.order_no,
        "ref": t.ref,
        "note": t.note[:200],
    }


def _post_together(
    db: Session, transfers: list[NewTransfer], ids: dict[AccountKey, int], stamp: datetime
) -> list[Any]:
    heads = []
    leg_transfers: list[int] = []
    leg_accounts: list[int] = []
    leg_amounts: list[int] = []
    for n, t in enumerate(transfers):
        heads.append({"n": n, **_head(t)})
        for leg in t.legs:
            if leg.amount_fen != 0:
                leg_transfers.append(n)
                leg_accounts.append(ids[(leg.kind, leg.owner_id)])
                leg_amounts.append(leg.amount_fen)
    params = {
        "transfers": json.dumps(heads, ensure_ascii=False, separators=(",", ":")),
        "leg_transfers": _int_array(leg_transfers),
        "leg_accounts": _int_array(leg_accounts),
        "leg_amounts": _int_array(leg_amounts),
        "at": stamp,
    }
    return list(db.execute(_POST_TOGETHER, params))


def _int_array(values: list[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,-2,3}``): built in C, not per value."""
    return "{" + ",".join(map(str, values)) + "}"


def transfer_keys(db: Session, keys: Iterable[str]) -> set[str]:
    """Which of these business keys were posted."""
    wanted = list(set(keys))
    if not wanted:
        return set()
    return set(db.scalars(select(LedgerTransfer.key).where(LedgerTransfer.key.in_(wanted))))


def raw_balances(db: Session, keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """The sum of the postings of each account (raw: debit positive), one query: the
    account's checkpoint (``checkpoints.py``) plus its postings after it."""
    wanted = set(keys)
    if not wanted:
        return {}
    kinds = {kind for kind, _owner in wanted}
    owners = {owner for _kind, owner in wanted}
    since = func.coalesce(LedgerCheckpoint.posting_id, 0)
    after = (
        select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0))
        .where(LedgerPosting.account_id == LedgerAccount.id, LedgerPosting.id > since)
        .scalar_subquery()
    )
    rows = db.execute(
        select(
            LedgerAccount.kind,
            LedgerAccount.owner_id,
            func.coalesce(LedgerCheckpoint.balance_fen, 0) + after,
        )
        .select_from(LedgerAccount)
        .outerjoin(LedgerCheckpoint, LedgerCheckpoint.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind.in_(kinds), LedgerAccount.owner_id.in_(owners))
    )
    found: dict[AccountKey, int] = {}
    for kind, owner, total in rows:
        found[(kind, owner)] = found.get((kind, owner), 0) + int(total)
    return {key: found.get(key, 0) for key in wanted}


# --------------------------------------------------------------------------- fees

BP = 10_000  # basis points in a whole


def half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up to an integer (both >= 0): the ledger's
    one rounding rule, applied once per order and fee."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("half_up takes a non-negative fraction")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Fees:
    platform_fen: int
    payment_fen: int

    @property
    def total_fen(self) -> int:
        return self.platform_fen + self.payment_fen


def settlement_fees(
    *, settled_fen: int, paid_fen: int, fee_weight: int, payment_fee_bp: int
) -> Fees:
    """The fees of an order settling ``settled_fen`` of its ``paid_fen``.

    ``fee_weight`` is the sum over the order's lines of line fen x its category's rate in
    basis points, recorded at payment. The platform fee is that rate applied to the share
    of the goods that settles: ``fee_weight x settled / (paid x 10000)``; the payment fee is
    ``settled x payment_fee_bp / 10000``; each rounded half up to the fen, once per order.
    Together never more than what settles."""
    if settled_fen <= 0 or paid_fen <= 0:
        return Fees(0, 0)
    platform = half_up(fee_weight * settled_fen, paid_fen * BP)
    payment = half_up(settled_fen * payment_fee_bp, BP)
    platform = min(platform, settled_fen)
    payment = min(payment, settled_fen - platform)
    return Fees(platform, payment)

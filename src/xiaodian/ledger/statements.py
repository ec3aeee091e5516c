"""What merchants and operators read of the ledger: a shop's balance (pending with its
dates, available, withdrawing, deposit, owed), its entries (paged, by period and kind, each
linked to its order), the same as CSV, and the operators' trial balance. Read only; every
function checks who is asking."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, PermissionDenied, _
from xiaodian.ledger import service
from xiaodian.ledger.models import (
    HoldStatus,
    LedgerAccount,
    LedgerHold,
    LedgerPosting,
    LedgerTransfer,
)
from xiaodian.money import format_fen

PAGE_SIZE = 50
MAX_COUNTED = 10_000  # entries counted for the pager; more shows as 10,000+
PENDING_SHOWN = 20
MAX_CSV_ROWS = 100_000
FINANCE_ROLES = ("owner", "finance")

TRANSFER_KINDS: dict[str, str] = {
    "paid": _("Order paid"),
    "refund": _("Refund"),
    "settle": _("Settled"),
    "withdraw": _("Withdrawal"),
    "adjust": _("Adjustment"),
    "share": _("Profit sharing"),
}
ACCOUNT_LABELS: dict[str, str] = {
    service.CLEARING: _("Held at WeChat Pay"),
    service.PENDING: _("Pending settlement"),
    service.AVAILABLE: _("Available"),
    service.WITHDRAWING: _("Withdrawing"),
    service.DEPOSIT: _("Deposit"),
    service.OWES: _("Owed to the platform"),
    service.FEE_INCOME: _("Platform fees"),
    service.PAYMENT_FEES: _("Payment fees"),
    service.SUBSIDY: _("Platform subsidies"),
    service.BUYER_REFUNDS: _("Refunds to buyers"),
    service.OPERATING: _("Platform's own account"),
}


def require_finance(actor: Actor, shop_id: int) -> int:
    """The shop's owner, or staff the owner gave the finance role; other staff 403, anyone
    else 404 (shop ids are not probed)."""
    user_id = actor.require_shop(shop_id)
    if actor.shop_roles.get(shop_id) not in FINANCE_ROLES:
        raise PermissionDenied(
            _("Only the shop owner and finance staff can see the shop's money."),
            code="finance_only",
        )
    return user_id


@dataclass(frozen=True)
class PendingEntry:
    order_no: str
    amount_fen: int
    expected_available_at: datetime
    exact: bool  # the order completed: the date is its rule's, not an estimate
    held: bool  # an after-sales case is open


@dataclass(frozen=True)
class Balance:
    pending_fen: int
    available_fen: int
    withdrawing_fen: int
    deposit_fen: int
    owes_fen: int
    pending: list[PendingEntry]  # the soonest first, at most PENDING_SHOWN
    pending_count: int


def shop_balance(db: Session, actor: Actor, shop_id: int) -> Balance:
    """The shop's balances, derived from its postings, and its next pending entries."""
    require_finance(actor, shop_id)
    raw = service.raw_balances(db, [(kind, shop_id) for kind in service.MERCHANT_KINDS])
    shown = {kind: service.shown(kind, raw[(kind, shop_id)]) for kind in service.MERCHANT_KINDS}
    open_holds = (LedgerHold.shop_id == shop_id, LedgerHold.status == HoldStatus.PENDING)
    rows = db.execute(
        select(
            LedgerHold.order_no,
            LedgerHold.amount_fen - LedgerHold.voided_fen,
            LedgerHold.expected_available_at,
            LedgerHold.completed_at.is_not(None),
            LedgerHold.case_open,
        )
        .where(*open_holds)
        .order_by(LedgerHold.expected_available_at, LedgerHold.id)
        .limit(PENDING_SHOWN)
    ).all()
    count = db.scalar(select(func.count()).select_from(LedgerHold).where(*open_holds)) or 0
    return Balance(
        pending_fen=shown[service.PENDING],
        available_fen=shown[service.AVAILABLE],
        withdrawing_fen=shown[service.WITHDRAWING],
        deposit_fen=shown[service.DEPOSIT],
        owes_fen=shown[service.OWES],
        pending=[PendingEntry(*row) for row in rows],
        pending_count=int(count),
    )


@dataclass(frozen=True)
class EntryFilter:
    kind: str = ""  # a transfer kind, or "" for all
    date_from: date | None = None  # business days (Asia/Shanghai), inclusive
    date_to: date | None = None

    def check(self) -> EntryFilter:
        if self.kind and self.kind not in TRANSFER_KINDS:
            raise InvalidInput(_("Unknown kind of entry."), code="bad_kind")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput(_("The period ends before it starts."), code="bad_period")
        return self


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    kind: str  # the transfer's kind
    account: str  # the account kind
    amount_fen: int  # on the account's normal side: + more for the merchant
    order_no: str | None
    ref: str | None
    note: str


@dataclass(frozen=True)
class EntryPage:
    entries: list[Entry]
    page: int
    pages: int
    total: int  # at most MAX_COUNTED + 1 (then: "more than MAX_COUNTED")

    @property
    def more(self) -> bool:
        return self.total > MAX_COUNTED


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), clock.BUSINESS_TZ)


def _shop_accounts(db: Session, shop_id: int) -> list[int]:
    """The ids of the shop's accounts (a handful), so the postings are read by their index."""
    return list(
        db.scalars(
            select(LedgerAccount.id).where(
                LedgerAccount.owner_id == shop_id, LedgerAccount.kind.in_(service.MERCHANT_KINDS)
            )
        )
    )


def _entry_conds(account_ids: list[int], filters: EntryFilter) -> list[Any]:
    conds: list[Any] = [LedgerPosting.account_id.in_(account_ids)]
    if filters.kind:
        conds.append(LedgerTransfer.kind == filters.kind)
    if filters.date_from:
        conds.append(LedgerPosting.at >= _day_start(filters.date_from))
    if filters.date_to:
        conds.append(LedgerPosting.at < _day_start(filters.date_to + timedelta(days=1)))
    return conds


def _entries_query(account_ids: list[int], filters: EntryFilter) -> Any:
    return (
        select(
            LedgerPosting.id,
            LedgerPosting.at,
            LedgerTransfer.kind,
            LedgerAccount.kind,
            LedgerPosting.amount_fen,
            LedgerTransfer.order_no,
            LedgerTransfer.ref,
            LedgerTransfer.note,
        )
        .select_from(LedgerPosting)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
        .where(*_entry_conds(account_ids, filters))
    )


def _count_entries(db: Session, account_ids: list[int], filters: EntryFilter) -> int:
    """How many entries match, counted up to MAX_COUNTED + 1 (a long history is not
    counted row by row for every page); only the postings' index without a kind filter."""
    query = select(LedgerPosting.id).where(*_entry_conds(account_ids, filters))
    if filters.kind:
        query = query.join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
    counted = query.limit(MAX_COUNTED + 1).subquery()
    return int(db.scalar(select(func.count()).select_from(counted)) or 0)


def _entry(row: Any) -> Entry:
    id_, at, kind, account, amount, order_no, ref, note = row
    return Entry(id_, at, kind, account, service.shown(account, amount), order_no, ref, note)


def shop_entries(
    db: Session, actor: Actor, shop_id: int, filters: EntryFilter, *, page: int = 1
) -> EntryPage:
    """The shop's entries, newest first, a page at a time (three small queries)."""
    require_finance(actor, shop_id)
    filters.check()
    account_ids = _shop_accounts(db, shop_id)
    query = _entries_query(account_ids, filters)
    total = _count_entries(db, account_ids, filters)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.execute(
        query.order_by(LedgerPosting.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return EntryPage([_entry(tuple(r)) for r in rows], page, pages, total)


CSV_HEADER = ("时间", "类型", "账户", "金额", "订单号", "参考号", "备注")


def shop_entries_csv(db: Session, actor: Actor, shop_id: int, filters: EntryFilter) -> bytes:
    """The filtered entries as CSV (oldest first, UTF-8 with a BOM for spreadsheets, at
    most MAX_CSV_ROWS: narrow the period for more)."""
    require_finance(actor, shop_id)
    filters.check()
    query = _entries_query(_shop_accounts(db, shop_id), filters).order_by(LedgerPosting.id)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in _stream(db, query.limit(MAX_CSV_ROWS)):
        entry = _entry(row)
        writer.writerow(
            (
                entry.at.astimezone(clock.BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                entry.kind,
                entry.account,
                format_fen(entry.amount_fen, symbol="", thousands=""),
                entry.order_no or "",
                entry.ref or "",
                entry.note,
            )
        )
    return out.getvalue().encode("utf-8")


def _stream(db: Session, query: Select[Any]) -> Iterator[Any]:
    for row in db.execute(query.execution_options(yield_per=1000)):
        yield tuple(row)


@dataclass(frozen=True)
class TrialLine:
    kind: str
    accounts: int
    debit_fen: int  # the kind's accounts with a debit balance, summed
    credit_fen: int  # those with a credit balance (positive)


@dataclass(frozen=True)
class TrialBalance:
    lines: list[TrialLine]
    total_fen: int  # the sum of every posting: must be 0

    @property
    def balanced(self) -> bool:
        return self.total_fen == 0


def trial_balance(db: Session, actor: Actor) -> TrialBalance:
    """Every account's balance gathered by kind; their sum is zero (operators only)."""
    actor.require_operator()
    per_account = (
        select(
            LedgerAccount.kind.label("kind"),
            func.coalesce(func.sum(LedgerPosting.amount_fen), 0).label("raw"),
        )
        .select_from(LedgerAccount)
        .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id, LedgerAccount.kind)
        .subquery()
    )
    raw = per_account.c.raw
    rows = db.execute(
        select(
            per_account.c.kind,
            func.count(),
            func.coalesce(func.sum(case((raw > 0, raw), else_=0)), 0),
            func.coalesce(func.sum(case((raw < 0, -raw), else_=0)), 0),
        )
        .group_by(per_account.c.kind)
        .order_by(per_account.c.kind)
    ).all()
    lines = [TrialLine(kind, int(n), int(d), int(c)) for kind, n, d, c in rows]
    total = db.scalar(select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0))) or 0
    return TrialBalance(lines, int(total))


# --------------------------------------------------------------------------- per day

DAYS_SHOWN = 14


@dataclass(frozen=True)
class DayFigures:
    """One business day (Asia/Shanghai) of the platform's money, from the postings."""

    day: date
    paid_fen: int  # paid by buyers (what reached WeChat Pay)
    settled_fen: int  # merchants' income settled: the settled GMV
    fee_income_fen: int  # the platform's fees (less fees given back by refunds)
    payment_fees_fen: int  # the provider's fees recovered from merchants
    refunds_fen: int  # refunded to buyers
    pending_fen: int  # merchants' income pending settlement at the day's end


def daily_figures(db: Session, actor: Actor, *, days: int = DAYS_SHOWN) -> list[DayFigures]:
    """The last ``days`` business days, today last: one grouped query over the transfers of
    the period (read by their date's index) and the pending balances now (checkpoints),
    from which each day's closing pending is walked back."""
    actor.require_operator()
    first = clock.today() - timedelta(days=days - 1)
    starts = [_day_start(first + timedelta(days=i)) for i in range(days + 1)]
    bucket = case(*[(LedgerTransfer.at < starts[i + 1], i) for i in range(days)], else_=days).label(
        "bucket"
    )
    kinds = (service.CLEARING, service.PENDING, service.FEE_INCOME, service.PAYMENT_FEES)
    rows = db.execute(
        select(bucket, LedgerTransfer.kind, LedgerAccount.kind, func.sum(LedgerPosting.amount_fen))
        .select_from(LedgerTransfer)
        .join(LedgerPosting, LedgerPosting.transfer_id == LedgerTransfer.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerTransfer.at >= starts[0], LedgerAccount.kind.in_(kinds))
        .group_by(bucket, LedgerTransfer.kind, LedgerAccount.kind)
    ).all()
    sums: dict[tuple[int, str, str], int] = {
        (int(b), transfer, account): int(total) for b, transfer, account, total in rows
    }

    def raw(b: int, account: str, transfer: str | None = None) -> int:
        return sum(
            v
            for (bb, t, a), v in sums.items()
            if bb == b and a == account and (transfer is None or t == transfer)
        )

    owners = db.scalars(
        select(LedgerAccount.owner_id).where(LedgerAccount.kind == service.PENDING)
    ).all()
    balances = service.raw_balances(db, [(service.PENDING, owner) for owner in owners])
    pending = service.shown(service.PENDING, sum(balances.values()))
    pending -= service.shown(service.PENDING, raw(days, service.PENDING))  # after today
    figures = []
    for b in reversed(range(days)):
        figures.append(
            DayFigures(
                day=first + timedelta(days=b),
                paid_fen=raw(b, service.CLEARING, "paid"),
                settled_fen=raw(b, service.PENDING, "settle"),
                fee_income_fen=-raw(b, service.FEE_INCOME),
                payment_fees_fen=-raw(b, service.PAYMENT_FEES),
                refunds_fen=-raw(b, service.CLEARING, "refund"),
                pending_fen=pending,
            )
        )
        pending -= service.shown(service.PENDING, raw(b, service.PENDING))
    return list(reversed(figures))


# --------------------------------------------------------------------------- monthly


@dataclass(frozen=True)
class StatementLine:
    kind: str  # the merchant account kind
    opening_fen: int  # shown on the account's normal side, at the month's first moment
    moves: dict[str, int]  # by transfer kind, shown the same way
    closing_fen: int


@dataclass(frozen=True)
class MonthlyStatement:
    month: date  # its first day
    lines: list[StatementLine]

    @property
    def next_month(self) -> date:
        return _month_after(self.month)

    @property
    def previous_month(self) -> date:
        return (self.month - timedelta(days=1)).replace(day=1)


def _month_after(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def parse_month(value: str) -> date:
    """``2026-12`` -> its first day; empty: this month (business time)."""
    if not value:
        return clock.today().replace(day=1)
    try:
        year, month = value.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError(value)
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput(_("Months are written like 2026-12."), code="bad_month") from None


def monthly_statement(db: Session, actor: Actor, shop_id: int, month: date) -> MonthlyStatement:
    """The shop's month (月度账单): each account's opening balance, its movements by kind
    and its closing balance. Two queries: the balances now (checkpoints) and the postings
    since the month began grouped by account, kind and whether they fall in the month;
    the opening is what is now less what came since."""
    require_finance(actor, shop_id)
    start, end = _day_start(month), _day_start(_month_after(month))
    raw_now = service.raw_balances(db, [(kind, shop_id) for kind in service.MERCHANT_KINDS])
    accounts = _shop_accounts(db, shop_id)
    inside = case((LedgerPosting.at < end, True), else_=False).label("inside")
    rows = (
        db.execute(
            select(
                LedgerAccount.kind, LedgerTransfer.kind, inside, func.sum(LedgerPosting.amount_fen)
            )
            .select_from(LedgerPosting)
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .where(LedgerPosting.account_id.in_(accounts), LedgerPosting.at >= start)
            .group_by(LedgerAccount.kind, LedgerTransfer.kind, inside)
        ).all()
        if accounts
        else []
    )
    lines = []
    for kind in service.MERCHANT_KINDS:
        since = sum(int(t) for a, _k, _in, t in rows if a == kind)
        moves: dict[str, int] = {}
        for a, transfer, is_inside, total in rows:
            if a == kind and is_inside:
                moves[transfer] = moves.get(transfer, 0) + service.shown(kind, int(total))
        opening = service.shown(kind, raw_now[(kind, shop_id)] - since)
        lines.append(StatementLine(kind, opening, moves, opening + sum(moves.values())))
    return MonthlyStatement(month, lines)


def monthly_statement_csv(
    db: Session, actor: Actor, shop_id: int, month: date, gettext: Any
) -> bytes:
    """The month's statement as CSV (UTF-8 with a BOM), its words in the reader's language."""
    statement = monthly_statement(db, actor, shop_id, month)

    def yuan(fen: int) -> str:
        return format_fen(fen, symbol="", thousands="")

    kinds = sorted({k for line in statement.lines for k in line.moves})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [gettext("Ledger account"), gettext("Opening balance")]
        + [gettext(TRANSFER_KINDS.get(k, k)) for k in kinds]
        + [gettext("Closing balance")]
    )
    for line in statement.lines:
        writer.writerow(
            [gettext(ACCOUNT_LABELS.get(line.kind, line.kind)), yuan(line.opening_fen)]
            + [yuan(line.moves.get(k, 0)) for k in kinds]
            + [yuan(line.closing_fen)]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")

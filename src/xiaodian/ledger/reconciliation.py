"""Reconciliation (对账): every day, WeChat Pay's bills of the day before against our records.

For each business day (Beijing time, as the bills count it) the worker fetches two bills
through the payment provider (payments/billing.py: the file is checked against the SHA1 it
was announced with) and matches them:

- the trade bill (交易账单, type ALL): each SUCCESS row is a payment, found by 商户订单号
  (out_trade_no), compared by amount, 微信订单号 and fee; each REFUND row a refund, found by
  商户退款单号 (out_refund_no), compared by amount, status and 微信退款单号. Our payments and
  refunds of the day that the bill lacks are breaks too.
- the fund-flow bill (资金账单): each 交易 income is one of our payments of the same amount;
  the fees it deducts add up to the fees we expect (the payment-fee rate of the settings).

A row of the bill that belongs to another day on our side (paid a minute before midnight,
recorded a minute after) is found by its number whatever its day and is no break; a break
"missing on theirs" that a later day's bill explains is resolved with a note saying so.
Every other difference is a break: a row in the operators' queue with its age, resolved by
an operator with a note. Nothing here posts to the ledger: a break is for people to decide.

A day is re-run idempotently (a break is unique by day, bill, reference and issue). A bill
not ready yet is asked for again by the job (days of the last week still not ready or
failed); a malformed bill is recorded with its error and nothing of it is used. A day with
no bill (no trade at WeChat Pay) is matched as empty: our own payments of that day are then
breaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.ledger.models import BillStatus, ReconciliationBreak, ReconciliationRun
from xiaodian.ledger.service import BP, half_up
from xiaodian.payments import billing, bills
from xiaodian.payments.providers.base import BillNotReady, ProviderError

KINDS = ("trade", "fundflow")
RETRY_DAYS = 7  # a bill still not ready (or unreachable) is asked for again this long
ISSUE_LABELS = {
    "missing_ours": _("In WeChat Pay's bill, not in xiaodian"),
    "missing_theirs": _("In xiaodian, not in WeChat Pay's bill"),
    "amount": _("Amounts differ"),
    "status": _("Statuses differ"),
    "transaction": _("WeChat Pay numbers differ"),
    "fee": _("Fees differ"),
}


@dataclass(frozen=True)
class Found:
    """One difference found while matching (a break to record)."""

    kind: str
    issue: str
    ref: str
    ours_fen: int | None = None
    theirs_fen: int | None = None
    detail: str = ""


def expected_fee(amount_fen: int) -> int:
    """The payment fee WeChat Pay should charge on ``amount_fen`` (the rate the ledger's
    settings say, rounded half up to the fen, once per trade)."""
    return half_up(amount_fen * settings_module.current().ledger_payment_fee_bp, BP)


# --------------------------------------------------------------------------- matching


def match_trades(db: Session, bill: bills.TradeBill | None, day: date) -> list[Found]:
    """The trade bill (None: WeChat Pay has none for the day) against our payments and
    refunds of ``day``; a bill row of another day on our side is looked up by number."""
    rows = bill.rows if bill else ()
    theirs_paid = {r.out_trade_no: r for r in rows if r.status == "SUCCESS"}
    theirs_refunds = {r.out_refund_no: r for r in rows if r.status == "REFUND"}
    ours_paid = billing.paid_on(db, day)
    ours_refunds = billing.refunded_on(db, day)
    ours_paid.update(billing.payments_by_number(db, set(theirs_paid) - set(ours_paid)))
    ours_refunds.update(billing.refunds_by_number(db, set(theirs_refunds) - set(ours_refunds)))
    earlier = _Earlier(db, day)
    found: list[Found] = []
    for number, row in theirs_paid.items():
        ours = ours_paid.get(number)
        if ours is None:
            found.append(Found("trade", "missing_ours", number, None, row.total_fen))
            continue
        if ours.amount_fen != row.total_fen:
            found.append(Found("trade", "amount", number, ours.amount_fen, row.total_fen))
        if ours.transaction_id and ours.transaction_id != row.transaction_id:
            found.append(
                Found(
                    "trade",
                    "transaction",
                    number,
                    detail=f"{ours.transaction_id[:32]} / {row.transaction_id[:32]}",
                )
            )
        fee = expected_fee(row.total_fen)
        if fee != row.fee_fen:
            found.append(Found("trade", "fee", number, fee, row.fee_fen))
    for number, ours in ours_paid.items():
        if number not in theirs_paid and _on(ours.at, day) and not earlier.has(number, ours.at):
            found.append(Found("trade", "missing_theirs", number, ours.amount_fen, None))
    for number, row in theirs_refunds.items():
        refund = ours_refunds.get(number)
        if refund is None:
            found.append(Found("trade", "missing_ours", number, None, row.refund_fen))
            continue
        if refund.amount_fen != row.refund_fen:
            found.append(Found("trade", "amount", number, refund.amount_fen, row.refund_fen))
        if row.refund_status == "SUCCESS" and refund.status != "succeeded":
            found.append(
                Found("trade", "status", number, detail=f"{refund.status} / {row.refund_status}")
            )
    for number, refund in ours_refunds.items():
        if (
            number not in theirs_refunds
            and refund.at is not None
            and _on(refund.at, day)
            and not earlier.has(number, refund.at)
        ):
            found.append(Found("trade", "missing_theirs", number, refund.amount_fen, None))
    return found


def match_fund_flow(db: Session, bill: bills.FundBill | None, day: date) -> list[Found]:
    """The fund-flow bill against our payments of ``day``: each income is a payment of the
    same amount, and the fees deducted are the fees expected of those payments."""
    rows = bill.rows if bill else ()
    incomes = {r.voucher: r for r in rows if r.direction == "收入" and r.business_type == "交易"}
    fees = sum(r.amount_fen for r in rows if r.business_type == "扣除交易手续费")
    ours = billing.paid_on(db, day)
    ours.update(billing.payments_by_number(db, set(incomes) - set(ours)))
    earlier = _Earlier(db, day)
    found: list[Found] = []
    expected = 0
    for number, row in incomes.items():
        paid = ours.get(number)
        if paid is None:
            found.append(Found("fundflow", "missing_ours", number, None, row.amount_fen))
            continue
        expected += expected_fee(row.amount_fen)
        if paid.amount_fen != row.amount_fen:
            found.append(Found("fundflow", "amount", number, paid.amount_fen, row.amount_fen))
    for number, paid in ours.items():
        if number not in incomes and _on(paid.at, day) and not earlier.has(number, paid.at):
            found.append(Found("fundflow", "missing_theirs", number, paid.amount_fen, None))
    if fees != expected:
        found.append(Found("fundflow", "fee", f"fees:{day.isoformat()}", expected, fees))
    return found


def _on(moment: datetime, day: date) -> bool:
    start, end = billing.day_bounds(day)
    return start <= moment < end


EARLY = timedelta(hours=1)


class _Earlier:
    """The numbers in the day before's trade bill, fetched only if asked: a record of ours
    from the first hour of a day may be WeChat Pay's trade of the evening before (paid at
    23:59:58, its notification handled after midnight)."""

    def __init__(self, db: Session, day: date) -> None:
        self.db = db
        self.day = day
        self.numbers: set[str] | None = None

    def has(self, number: str, moment: datetime) -> bool:
        start, _end = billing.day_bounds(self.day)
        if not (start <= moment < start + EARLY):
            return False
        if self.numbers is None:
            self.numbers = set()
            try:
                data = billing.fetch_bill(self.db, "trade", self.day - timedelta(days=1))
                if data is not None:
                    for row in bills.parse_trade_bill(data).rows:
                        self.numbers.add(row.out_refund_no or row.out_trade_no)
                        self.numbers.add(row.out_trade_no)
            except (ProviderError, bills.MalformedBill):
                pass  # then it is a break, which is the honest answer
        return number in self.numbers


# --------------------------------------------------------------------------- runs


def _run(db: Session, day: date, kind: str) -> ReconciliationRun:
    run = db.scalar(
        select(ReconciliationRun)
        .where(ReconciliationRun.bill_date == day, ReconciliationRun.kind == kind)
        .with_for_update()
    )
    if run is None:
        run = ReconciliationRun(
            bill_date=day, kind=kind, status=BillStatus.NOT_READY, attempts=0, rows=0, breaks=0
        )
        db.add(run)
    return run


def _record(db: Session, day: date, kind: str, found: Iterable[Found]) -> int:
    """Insert the breaks not yet recorded; resolve the "missing on theirs" breaks of earlier
    days that this bill explains. Returns how many breaks the day's bill of ``kind`` has."""
    found = list(found)
    existing = {
        (b.kind, b.ref, b.issue)
        for b in db.scalars(
            select(ReconciliationBreak).where(
                ReconciliationBreak.bill_date == day, ReconciliationBreak.kind == kind
            )
        )
    }
    now = clock.now()
    added = []
    for f in found:
        if (f.kind, f.ref, f.issue) in existing:
            continue
        existing.add((f.kind, f.ref, f.issue))
        row = ReconciliationBreak(
            bill_date=day,
            kind=f.kind,
            issue=f.issue,
            ref=f.ref[:64],
            ours_fen=f.ours_fen,
            theirs_fen=f.theirs_fen,
            detail=f.detail[:300],
            opened_at=now,
        )
        db.add(row)
        added.append(row)
    if added:
        db.flush()
        cases_service.open_cases(
            db,
            "reconciliation",
            (
                {
                    "key": f"break:{row.id}",
                    "title": f"{day.isoformat()} {row.issue} {row.ref}",
                    "link": "/ops/reconciliation",
                }
                for row in added
            ),
        )
    return len(existing)


def _explain_earlier(db: Session, day: date, refs: set[str]) -> None:
    if not refs:
        return
    earlier = db.scalars(
        select(ReconciliationBreak).where(
            ReconciliationBreak.issue == "missing_theirs",
            ReconciliationBreak.resolved_at.is_(None),
            ReconciliationBreak.bill_date < day,
            ReconciliationBreak.ref.in_(sorted(refs)),
        )
    )
    explained = []
    for b in earlier:
        b.resolved_at = clock.now()
        b.note = f"found in the bill of {day.isoformat()}"
        explained.append(f"break:{b.id}")
    cases_service.close_cases(db, "reconciliation", explained, outcome="explained")


def reconcile_day(db: Session, day: date) -> list[ReconciliationRun]:
    """Fetch and match both bills of ``day``; record each run's outcome and its breaks.
    Idempotent. The caller commits (one transaction)."""
    if day >= clock.today():
        raise InvalidInput(_("Only a past day can be reconciled."), code="day_not_past")
    runs = []
    for kind in KINDS:
        run = _run(db, day, kind)
        run.attempts += 1
        run.checked_at = clock.now()
        run.error = ""
        runs.append(run)
        try:
            data = billing.fetch_bill(db, kind, day)
            if kind == "trade":
                trade = bills.parse_trade_bill(data) if data is not None else None
                found = match_trades(db, trade, day)
                rows = len(trade.rows) if trade else 0
                seen = {r.out_trade_no for r in trade.rows} if trade else set()
                seen |= {r.out_refund_no for r in trade.rows if r.out_refund_no} if trade else set()
            else:
                fund = bills.parse_fund_flow_bill(data) if data is not None else None
                found = match_fund_flow(db, fund, day)
                rows = len(fund.rows) if fund else 0
                seen = {r.voucher for r in fund.rows} if fund else set()
        except BillNotReady:
            run.status = BillStatus.NOT_READY
            continue
        except bills.MalformedBill as exc:
            run.status = BillStatus.MALFORMED
            run.error = str(exc)[:300]
            continue
        except ProviderError as exc:
            run.status = BillStatus.FAILED
            run.error = str(exc)[:300]
            continue
        run.status = BillStatus.DONE if data is not None else BillStatus.EMPTY
        run.rows = rows
        run.file_hash = bills.sha1(data) if data is not None else ""
        _explain_earlier(db, day, seen)
        run.breaks = _record(db, day, kind, found)
    db.flush()
    return runs


def due_days(db: Session) -> list[date]:
    """Yesterday, and the days of the last week whose bills were not ready or unreachable."""
    today = clock.today()
    since = today - timedelta(days=RETRY_DAYS)
    done = {
        (run.bill_date, run.kind): run.status
        for run in db.scalars(select(ReconciliationRun).where(ReconciliationRun.bill_date >= since))
    }
    days = []
    for offset in range(RETRY_DAYS, 0, -1):
        day = today - timedelta(days=offset)
        statuses = [done.get((day, kind)) for kind in KINDS]
        retry = any(s in (BillStatus.NOT_READY, BillStatus.FAILED) for s in statuses)
        if retry or (offset == 1 and None in statuses):
            days.append(day)
    return days


def reconcile_due(db: Session) -> int:
    """The job: reconcile every due day (see ``due_days``); commits. Returns the days run."""
    days = due_days(db)
    for day in days:
        reconcile_day(db, day)
        db.commit()
    return len(days)


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class BreakRow:
    id: int
    bill_date: date
    kind: str
    issue: str
    label: str
    ref: str
    ours_fen: int | None
    theirs_fen: int | None
    detail: str
    opened_at: datetime
    age_hours: int
    resolved_at: datetime | None
    note: str


def run_for_operator(db: Session, actor: Actor, day: date) -> list[ReconciliationRun]:
    """An operator reconciles one past day now (the job's work, asked for by hand); commits."""
    actor.require_operator()
    runs = reconcile_day(db, day)
    db.commit()
    return runs


def recent_runs(db: Session, actor: Actor, *, days: int = 14) -> list[ReconciliationRun]:
    actor.require_operator()
    since = clock.today() - timedelta(days=days)
    return list(
        db.scalars(
            select(ReconciliationRun)
            .where(ReconciliationRun.bill_date >= since)
            .order_by(ReconciliationRun.bill_date.desc(), ReconciliationRun.kind.desc())
        )
    )


def breaks(
    db: Session, actor: Actor, *, open_only: bool = True, limit: int = 200
) -> list[BreakRow]:
    """The queue: open breaks oldest first (or the latest, resolved ones included)."""
    actor.require_operator()
    query = select(ReconciliationBreak)
    if open_only:
        query = query.where(ReconciliationBreak.resolved_at.is_(None)).order_by(
            ReconciliationBreak.opened_at, ReconciliationBreak.id
        )
    else:
        query = query.order_by(ReconciliationBreak.id.desc())
    now = clock.now()
    return [
        BreakRow(
            id=b.id,
            bill_date=b.bill_date,
            kind=b.kind,
            issue=b.issue,
            label=ISSUE_LABELS.get(b.issue, b.issue),
            ref=b.ref,
            ours_fen=b.ours_fen,
            theirs_fen=b.theirs_fen,
            detail=b.detail,
            opened_at=b.opened_at,
            age_hours=int((now - b.opened_at).total_seconds() // 3600),
            resolved_at=b.resolved_at,
            note=b.note,
        )
        for b in db.scalars(query.limit(limit))
    ]


def count_open(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(ReconciliationBreak)
            .where(ReconciliationBreak.resolved_at.is_(None))
        )
        or 0
    )


def resolve_break(db: Session, actor: Actor, break_id: int, *, note: str) -> ReconciliationBreak:
    """An operator closes a break, saying what was done (the note is required); commits."""
    user_id = cases_service.require_role(db, actor, "reconciliation")
    note = note.strip()
    if not note:
        raise InvalidInput(_("Say how the difference was resolved."), code="note_required")
    if len(note) > 300:
        raise InvalidInput(_("The note is too long (300 characters at most)."), code="note_long")
    row = db.scalar(
        select(ReconciliationBreak).where(ReconciliationBreak.id == break_id).with_for_update()
    )
    if row is None:
        raise NotFound(_("No such break."), code="break_not_found")
    if row.resolved_at is not None:
        raise Conflict(_("This break is already resolved."), code="break_resolved")
    row.resolved_at = clock.now()
    row.resolved_by = user_id
    row.note = note
    cases_service.close_case(
        db, "reconciliation", f"break:{row.id}", outcome="resolved", actor_id=user_id
    )
    db.commit()
    return row

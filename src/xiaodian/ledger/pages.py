"""HTML pages of the ledger: the merchant console's money page (balance, pending income
with its dates, entries filtered by kind and period, CSV) and the operators' trial
balance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, _
from xiaodian.ledger import checkpoints, reconciliation, sharing, statements, withdrawals
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo

router = routing.router(include_in_schema=False)

Kind = Annotated[str, Query(max_length=20)]
# Dates as the form sends them: "" when left empty (parsed by ``_day``).
From = Annotated[str, Query(alias="from", max_length=10)]
To = Annotated[str, Query(alias="to", max_length=10)]
Amount = Annotated[str, Form(max_length=20)]
Reason = Annotated[str, Form(max_length=200)]
Outcome = Annotated[str, Form(max_length=20)]
Everything = Annotated[str, Query(alias="all", max_length=1)]


def _day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("Dates are written like 2026-12-01."), code="bad_date") from None


def _filters(kind: str, date_from: str, date_to: str) -> statements.EntryFilter:
    return statements.EntryFilter(kind=kind, date_from=_day(date_from), date_to=_day(date_to))


@router.get("/merchant/shops/{shop_id}/finance")
def merchant_finance(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    kind: Kind = "",
    date_from: From = "",
    date_to: To = "",
    page: PageNo = 1,
) -> Response:
    """The shop's money: balances, what becomes available when, every entry, and its
    withdrawals (the owner's request form)."""
    try:
        filters = _filters(kind, date_from, date_to).check()
        error = None
    except InvalidInput as exc:
        filters, error = statements.EntryFilter(), exc.render(request.state.gettext)
    ctx = _finance_context(db, actor, shop_id, filters, page=page)
    ctx["error"] = error
    return render(request, "ledger/merchant_finance.html", ctx, status_code=422 if error else 200)


def _finance_context(
    db: Session,
    actor: Actor,
    shop_id: int,
    filters: statements.EntryFilter | None = None,
    *,
    page: int = 1,
) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    filters = filters or statements.EntryFilter()
    return {
        "shop": shop,
        "section": "finance",
        "filters": filters,
        "kinds": statements.TRANSFER_KINDS,
        "accounts": statements.ACCOUNT_LABELS,
        "query": _query(filters),
        "balance": statements.shop_balance(db, actor, shop_id),
        "result": statements.shop_entries(db, actor, shop_id, filters, page=page),
        "withdrawals": withdrawals.shop_withdrawals(db, actor, shop_id),
        "statuses": withdrawals.STATUS_LABELS,
        "can_withdraw": actor.shop_roles.get(shop_id) == "owner",
        "min_withdrawal_fen": settings_module.current().ledger_withdrawal_min_fen,
        "amount": "",
    }


@router.post("/merchant/shops/{shop_id}/finance/withdrawals")
def merchant_withdraw(
    request: Request, shop_id: Id, db: DbDep, actor: PageUser, amount: Amount = ""
) -> Response:
    """The owner asks for a withdrawal of ``amount`` yuan of the available balance."""

    def call() -> Any:
        fen = yuan_field(amount, label=_("the amount"), required=True) or 0
        return withdrawals.request_withdrawal(db, actor, shop_id, amount_fen=fen)

    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/finance",
        template="ledger/merchant_finance.html",
        context=lambda: _finance_context(db, actor, shop_id),
        values={"amount": amount},
    )


def _query(filters: statements.EntryFilter) -> str:
    parts = [f"kind={filters.kind}"]
    if filters.date_from:
        parts.append(f"from={filters.date_from.isoformat()}")
    if filters.date_to:
        parts.append(f"to={filters.date_to.isoformat()}")
    return "&".join(parts)


@router.get("/merchant/shops/{shop_id}/finance/entries.csv")
def merchant_finance_csv(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    kind: Kind = "",
    date_from: From = "",
    date_to: To = "",
) -> Response:
    data = statements.shop_entries_csv(db, actor, shop_id, _filters(kind, date_from, date_to))
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="entries-{shop_id}.csv"'},
    )


Month = Annotated[str, Query(max_length=7)]


@router.get("/merchant/shops/{shop_id}/finance/statement")
def merchant_statement(
    request: Request, shop_id: Id, db: DbDep, actor: PageUser, month: Month = ""
) -> Response:
    """The shop's monthly statement (月度账单): each account's opening balance, its
    movements by kind, its closing balance."""
    shop = merchants_service.console_shop(db, actor, shop_id)
    statement = statements.monthly_statement(db, actor, shop_id, statements.parse_month(month))
    kinds = sorted({k for line in statement.lines for k in line.moves})
    ctx = {
        "shop": shop,
        "section": "finance",
        "statement": statement,
        "kinds": kinds,
        "kind_labels": statements.TRANSFER_KINDS,
        "accounts": statements.ACCOUNT_LABELS,
        "this_month": clock.today().replace(day=1),
    }
    return render(request, "ledger/merchant_statement.html", ctx)


@router.get("/merchant/shops/{shop_id}/finance/statement.csv")
def merchant_statement_csv(
    request: Request, shop_id: Id, db: DbDep, actor: PageUser, month: Month = ""
) -> Response:
    first = statements.parse_month(month)
    data = statements.monthly_statement_csv(db, actor, shop_id, first, request.state.gettext)
    name = f"statement-{shop_id}-{first:%Y-%m}.csv"
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/ops/ledger")
def ops_ledger(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Operators: the trial balance (every kind of account; the sum is zero)."""
    trial = statements.trial_balance(db, actor)
    ctx = {
        "section": "ledger",
        "trial": trial,
        "accounts": statements.ACCOUNT_LABELS,
        "drift": checkpoints.last_drift_check(db),
        "days": statements.daily_figures(db, actor),
        "sharing": sharing.overview(db, actor),
    }
    return render(request, "ledger/ops_trial_balance.html", ctx)


@router.get("/ops/withdrawals")
def ops_withdrawals(
    request: Request, db: DbDep, actor: PageUser, everything: Everything = ""
) -> Response:
    """Operators: withdrawals waiting for a decision or a payout (``?all=1``: the latest)."""
    ctx = _queue_context(db, actor, everything == "1")
    return render(request, "ledger/ops_withdrawals.html", ctx)


def _queue_context(db: Session, actor: Actor, everything: bool = False) -> dict[str, Any]:
    return {
        "section": "withdrawals",
        "rows": withdrawals.queue(db, actor, open_only=not everything),
        "statuses": withdrawals.STATUS_LABELS,
        "everything": everything,
    }


def _ops_action(request: Request, db: Session, actor: Actor, call: Any) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done="/ops/withdrawals",
        template="ledger/ops_withdrawals.html",
        context=lambda: _queue_context(db, actor),
        page_errors=(401,),
    )


@router.post("/ops/withdrawals/{withdrawal_id}/approve")
def ops_withdrawal_approve(
    request: Request, withdrawal_id: Id, db: DbDep, actor: PageUser
) -> Response:
    return _ops_action(request, db, actor, lambda: withdrawals.approve(db, actor, withdrawal_id))


@router.post("/ops/withdrawals/{withdrawal_id}/reject")
def ops_withdrawal_reject(
    request: Request, withdrawal_id: Id, db: DbDep, actor: PageUser, reason: Reason = ""
) -> Response:
    return _ops_action(
        request, db, actor, lambda: withdrawals.reject(db, actor, withdrawal_id, reason=reason)
    )


@router.post("/ops/withdrawals/{withdrawal_id}/payout")
def ops_withdrawal_payout(
    request: Request, withdrawal_id: Id, db: DbDep, actor: PageUser, outcome: Outcome = ""
) -> Response:
    """The sandbox: how a payout still processing ended (success or fail)."""
    return _ops_action(
        request,
        db,
        actor,
        lambda: withdrawals.resolve_payout(db, actor, withdrawal_id, outcome=outcome),
    )


# --------------------------------------------------------------------------- reconciliation

Note = Annotated[str, Form(max_length=300)]
Day = Annotated[str, Form(max_length=10)]


def _reconciliation_context(db: Session, actor: Actor, everything: bool = False) -> dict[str, Any]:
    return {
        "section": "reconciliation",
        "runs": reconciliation.recent_runs(db, actor),
        "rows": reconciliation.breaks(db, actor, open_only=not everything),
        "everything": everything,
    }


@router.get("/ops/reconciliation")
def ops_reconciliation(
    request: Request, db: DbDep, actor: PageUser, everything: Everything = ""
) -> Response:
    """Operators: the last days' bills and the breaks waiting for a note, oldest first."""
    ctx = _reconciliation_context(db, actor, everything == "1")
    return render(request, "ledger/ops_reconciliation.html", ctx)


def _reconciliation_action(request: Request, db: Session, actor: Actor, call: Any) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done="/ops/reconciliation",
        template="ledger/ops_reconciliation.html",
        context=lambda: _reconciliation_context(db, actor),
        page_errors=(401,),
    )


@router.post("/ops/reconciliation/run")
def ops_reconciliation_run(request: Request, db: DbDep, actor: PageUser, day: Day = "") -> Response:
    def call() -> Any:
        parsed = _day(day)
        if parsed is None:
            raise InvalidInput(_("Give the day as YYYY-MM-DD."), code="bad_day")
        return reconciliation.run_for_operator(db, actor, parsed)

    return _reconciliation_action(request, db, actor, call)


@router.post("/ops/reconciliation/breaks/{break_id}/resolve")
def ops_reconciliation_resolve(
    request: Request, break_id: Id, db: DbDep, actor: PageUser, note: Note = ""
) -> Response:
    return _reconciliation_action(
        request, db, actor, lambda: reconciliation.resolve_break(db, actor, break_id, note=note)
    )

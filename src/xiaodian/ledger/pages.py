"""HTML pages of the ledger: the merchant console's money page (balance, pending income
with its dates, entries filtered by kind and period, CSV) and the operators' trial
balance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from xiaodian.errors import InvalidInput, _
from xiaodian.ledger import statements
from xiaodian.merchants import service as merchants_service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo

router = routing.router(include_in_schema=False)

Kind = Annotated[str, Query(max_length=20)]
# Dates as the form sends them: "" when left empty (parsed by ``_day``).
From = Annotated[str, Query(alias="from", max_length=10)]
To = Annotated[str, Query(alias="to", max_length=10)]


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
    """The shop's money: balances, what becomes available when, every entry."""
    shop = merchants_service.console_shop(db, actor, shop_id)
    try:
        filters = _filters(kind, date_from, date_to).check()
        error = None
    except InvalidInput as exc:
        filters, error = statements.EntryFilter(), exc.render(request.state.gettext)
    ctx: dict[str, Any] = {
        "shop": shop,
        "section": "finance",
        "filters": filters,
        "kinds": statements.TRANSFER_KINDS,
        "accounts": statements.ACCOUNT_LABELS,
        "query": _query(filters),
    }
    ctx["balance"] = statements.shop_balance(db, actor, shop_id)
    ctx["result"] = statements.shop_entries(db, actor, shop_id, filters, page=page)
    ctx["error"] = error
    return render(request, "ledger/merchant_finance.html", ctx, status_code=422 if error else 200)


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


@router.get("/ops/ledger")
def ops_ledger(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Operators: the trial balance (every kind of account; the sum is zero)."""
    trial = statements.trial_balance(db, actor)
    ctx = {"section": "ledger", "trial": trial, "accounts": statements.ACCOUNT_LABELS}
    return render(request, "ledger/ops_trial_balance.html", ctx)

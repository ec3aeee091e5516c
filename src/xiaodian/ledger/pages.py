"""HTML pages of the ledger: the merchant console's money page (balance, pending income
with its dates, entries filtered by kind and period, CSV) and the operators' trial
balance."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from xiaodian.errors import InvalidInput
from xiaodian.ledger import statements
from xiaodian.merchants import service as merchants_service
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep
from xiaodian.web.errors import sign_in_redirect
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo

router = routing.router(include_in_schema=False)

Kind = Annotated[str, Query(max_length=20)]
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]


@router.get("/merchant/shops/{shop_id}/finance")
def merchant_finance(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: CurrentActor,
    kind: Kind = "",
    date_from: From = None,
    date_to: To = None,
    page: PageNo = 1,
) -> Response:
    """The shop's money: balances, what becomes available when, every entry."""
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    shop = merchants_service.console_shop(db, actor, shop_id)
    filters = statements.EntryFilter(kind=kind, date_from=date_from, date_to=date_to)
    ctx = {
        "shop": shop,
        "section": "finance",
        "filters": filters,
        "kinds": statements.TRANSFER_KINDS,
        "accounts": statements.ACCOUNT_LABELS,
        "query": _query(filters),
    }
    try:
        ctx["balance"] = statements.shop_balance(db, actor, shop_id)
        ctx["result"] = statements.shop_entries(db, actor, shop_id, filters, page=page)
    except InvalidInput as exc:
        ctx["balance"] = statements.shop_balance(db, actor, shop_id)
        ctx["result"] = statements.shop_entries(db, actor, shop_id, statements.EntryFilter())
        ctx["error"] = exc.render(request.state.gettext)
        return render(request, "ledger/merchant_finance.html", ctx, status_code=422)
    return render(request, "ledger/merchant_finance.html", ctx)


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
    actor: CurrentActor,
    kind: Kind = "",
    date_from: From = None,
    date_to: To = None,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    filters = statements.EntryFilter(kind=kind, date_from=date_from, date_to=date_to)
    data = statements.shop_entries_csv(db, actor, shop_id, filters)
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="entries-{shop_id}.csv"'},
    )


@router.get("/ops/ledger")
def ops_ledger(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    """Operators: the trial balance (every kind of account; the sum is zero)."""
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    trial = statements.trial_balance(db, actor)
    ctx = {"section": "ledger", "trial": trial, "accounts": statements.ACCOUNT_LABELS}
    return render(request, "ledger/ops_trial_balance.html", ctx)

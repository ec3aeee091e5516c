"""The console's queues: the operators' queue pages (claim, release, hand over, bulk claim,
CSV), a case with its log, and the admins' roles page. The operator home's table of queues
is on ``/ops`` (``ops.pages``), the merchant's "what is due" in the merchant console
(``merchants.pages``: it needs the shop, which this package sits under)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import Response

from xiaodian.cases import queues, service, views
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_id

router = routing.router(include_in_schema=False)

QUEUE_PAGE = "cases/queue.html"
CASE_PAGE = "cases/case.html"
ROLES_PAGE = "cases/roles.html"
Filter = Annotated[str, Query(max_length=40)]


def _ids(values: list[str]) -> list[int]:
    """Ids ticked or typed in a form: 422 for anything that is not one."""
    out = []
    for value in values:
        try:
            out.append(form_id(value))
        except (ValueError, NotFound):
            raise InvalidInput(_("Choose cases from the list."), code="bad_ids") from None
    return out


def _filters(owner: str, breached: str, shop: str, after: str) -> views.Filters:
    return views.check_filters(owner or "all", breached, shop or None, after or None)


def _queue_ctx(
    request: Request, db: DbDep, actor: PageUser, queue: str, filters: views.Filters
) -> dict[str, Any]:
    rule, rows, cursor = views.queue_page(db, actor, queue, filters)
    return {
        "section": "queues",
        "queue": rule,
        "rows": rows,
        "cursor": cursor,
        "filters": filters,
        "query": request.url.query,
        "may_act": queues.may_act(rule, service.roles_of(db, actor.require_operator())),
    }


@router.get("/ops/queues/{queue}")
def queue_page(
    request: Request,
    db: DbDep,
    actor: PageUser,
    queue: str,
    owner: Filter = "all",
    breached: Filter = "",
    shop: Filter = "",
    after: Filter = "",
) -> Response:
    """A queue, oldest deadline first: its cases with their age, owner and time to breach."""
    filters = _filters(owner, breached, shop, after)
    return render(request, QUEUE_PAGE, _queue_ctx(request, db, actor, queue, filters))


@router.get("/ops/queues/{queue}/export.csv")
def queue_csv(
    db: DbDep,
    actor: PageUser,
    queue: str,
    owner: Filter = "all",
    breached: Filter = "",
    shop: Filter = "",
) -> Response:
    text = views.export_csv(db, actor, queue, _filters(owner, breached, shop, ""))
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{queue}.csv"'},
    )


@router.post("/ops/queues/{queue}/claim")
def claim_many(
    request: Request,
    db: DbDep,
    actor: PageUser,
    queue: str,
    case_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Bulk claim: the ticked cases nobody holds (the safe bulk action)."""
    return forms.submit(
        request,
        db,
        lambda: service.claim_many(db, actor, _ids((case_ids or [])[: service.PAGE])),
        done=lambda n: f"/ops/queues/{queue}?owner=mine&claimed={n}",
        template=QUEUE_PAGE,
        context=lambda: _queue_ctx(request, db, actor, queue, views.Filters()),
    )


def _case_ctx(db: DbDep, actor: PageUser, case_id: int) -> dict[str, Any]:
    row, log, may_act = views.case_detail(db, actor, case_id)
    return {
        "section": "queues",
        "row": row,
        "log": log,
        "may_act": may_act,
        "queue": queues.get(row.case.queue),
        "me": actor.user_id,
        "actions": queues.ACTIONS,
        "names": views.names(db, {e.actor_id for e in log if e.actor_id}),
        "colleagues": [
            o
            for o in views.operators(db, actor)
            if o.user_id != row.case.owner_id
            and queues.may_act(queues.get(row.case.queue), o.roles)
        ],
    }


@router.get("/ops/cases/{case_id}")
def case_page(request: Request, db: DbDep, actor: PageUser, case_id: Id) -> Response:
    return render(request, CASE_PAGE, _case_ctx(db, actor, case_id))


def _case_form(
    request: Request,
    db: DbDep,
    actor: PageUser,
    case_id: int,
    call: Callable[[], object],
    done: str,
) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done=done,
        template=CASE_PAGE,
        context=lambda: _case_ctx(db, actor, case_id),
    )


@router.post("/ops/cases/{case_id}/claim")
def claim(request: Request, db: DbDep, actor: PageUser, case_id: Id) -> Response:
    return _case_form(
        request,
        db,
        actor,
        case_id,
        lambda: service.claim(db, actor, case_id),
        f"/ops/cases/{case_id}?done=claimed",
    )


@router.post("/ops/cases/{case_id}/release")
def release(request: Request, db: DbDep, actor: PageUser, case_id: Id) -> Response:
    return _case_form(
        request,
        db,
        actor,
        case_id,
        lambda: service.release(db, actor, case_id),
        f"/ops/cases/{case_id}?done=released",
    )


@router.post("/ops/cases/{case_id}/hand-over")
def hand_over(
    request: Request,
    db: DbDep,
    actor: PageUser,
    case_id: Id,
    to: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    return _case_form(
        request,
        db,
        actor,
        case_id,
        lambda: service.hand_over(db, actor, case_id, _ids([to])[0]),
        f"/ops/cases/{case_id}?done=handed",
    )


def _roles_ctx(db: DbDep, actor: PageUser) -> dict[str, Any]:
    return {
        "section": "roles",
        "operators": views.operators(db, actor),
        "roles": queues.ROLES,
        "labels": queues.ROLE_LABELS,
    }


@router.get("/ops/roles")
def roles_page(request: Request, db: DbDep, actor: PageUser) -> Response:
    return render(request, ROLES_PAGE, _roles_ctx(db, actor))


@router.post("/ops/roles/{user_id}")
def set_roles(
    request: Request,
    db: DbDep,
    actor: PageUser,
    user_id: Id,
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    wanted = [r for r in (roles or [])[:10] if isinstance(r, str)]
    return forms.submit(
        request,
        db,
        lambda: service.set_roles(db, actor, user_id, wanted),
        done="/ops/roles?done=1",
        template=ROLES_PAGE,
        context=lambda: _roles_ctx(db, actor),
    )

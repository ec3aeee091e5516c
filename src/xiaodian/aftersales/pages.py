"""HTML pages of after-sales: the buyer's form, list and case page; the merchant console's
queue and case page; the operators' arbitration queue and decision page.

Form handlers call one service function through ``web.forms``: a 303 on success; on a
DomainError, after a rollback, the page again with the message and the error's status code
(every error: a case the visitor may not see fails again while the page is built).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from xiaodian import clock, media, settings
from xiaodian.actor import Actor
from xiaodian.aftersales import arbitration, cases, returns, service, states
from xiaodian.aftersales.models import AftersaleCase
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_id, form_int

router = routing.router(include_in_schema=False)

SHOP = "/merchant/shops/{shop_id}/aftersales"


def _labels() -> dict[str, Any]:
    return {
        "status_labels": states.STATUS_LABELS,
        "kind_labels": states.KIND_LABELS,
        "reason_labels": states.REASON_LABELS,
        "action_labels": states.ACTION_LABELS,
        "role_labels": states.ROLE_LABELS,
    }


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _int(raw: str, *, field_code: str, id_: bool = False) -> int | None:
    """A number from the form (None when left empty); ``id_``: the id of a row, which is
    not found when out of range."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return form_id(raw) if id_ else form_int(raw)
    except ValueError:
        raise InvalidInput(_("Enter a whole number."), code=field_code) from None


def _hours_left(case: AftersaleCase) -> str | None:
    left = service.time_left(case)
    if left is None:
        return None
    hours, rest = divmod(int(left.total_seconds()), 3600)
    return f"{hours}h{rest // 60:02d}m"


# --------------------------------------------------------------------------- buyers


def _form_context(db: Session, actor: Actor, order_no: str, line_id: int | None) -> dict[str, Any]:
    options = cases.case_options(db, actor, order_no=order_no, line_id=line_id)
    return {"options": options, "max_photos": cases.MAX_PHOTOS, **_labels()}


@router.get("/orders/{order_no}/aftersales/new")
def new_case_form(
    request: Request, order_no: str, db: DbDep, actor: PageUser, line: Id | None = None
) -> Response:
    ctx = _form_context(db, actor, order_no, line)
    return render(request, "aftersales/new.html", {**ctx, "form": {}})


@router.post("/orders/{order_no}/aftersales/new")
async def new_case(request: Request, order_no: str, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()
    try:
        return await _new_case(request, order_no, db, actor, form)
    finally:
        await form.close()


async def _new_case(
    request: Request, order_no: str, db: Session, actor: Actor, form: FormData
) -> Response:
    chosen: dict[str, int | None] = {"line": None}

    async def open_case() -> AftersaleCase:
        line_id = chosen["line"] = _int(_text(form, "line"), field_code="bad_line", id_=True)
        uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
        if len(uploads) > cases.MAX_PHOTOS:
            raise InvalidInput(
                _("At most %(n)s photos."), code="too_many_photos", n=cases.MAX_PHOTOS
            )
        limit = settings.current().max_image_bytes
        photos = [await media.read_upload(cast(Any, f), limit=limit) for f in uploads]
        return await run_in_threadpool(
            cases.open_case,
            db,
            actor,
            order_no=order_no,
            line_id=line_id,
            kind=_text(form, "kind"),
            reason=_text(form, "reason"),
            description=_text(form, "description"),
            quantity=_int(_text(form, "quantity"), field_code="bad_quantity"),
            amount_fen=yuan_field(_text(form, "amount")),
            photos=photos,
        )

    return await forms.submit_async(
        request,
        db,
        open_case,
        done=lambda case: f"/aftersales/{case.id}",
        template="aftersales/new.html",
        context=lambda: _form_context(db, actor, order_no, chosen["line"]),
        values={"form": {k: v for k, v in form.items() if isinstance(v, str)}},
        page_errors=(),
    )


@router.get("/aftersales")
def my_cases(request: Request, db: DbDep, actor: PageUser, page: PageNo = 1) -> Response:
    result = service.list_my_cases(db, actor, page=page)
    return render(request, "aftersales/list.html", {"result": result, **_labels()})


def _buyer_context(db: Session, actor: Actor, case_id: int) -> dict[str, Any]:
    case = service.get_my_case(db, actor, case_id)
    escalate_until = (
        case.rejected_at + timedelta(days=arbitration.ESCALATION_DAYS) if case.rejected_at else None
    )
    actions = states.allowed(case.status, case.kind, "buyer")
    if "escalate" in actions and escalate_until is not None and clock.now() > escalate_until:
        actions.discard("escalate")
    return {
        "case": case,
        "events": service.case_events(db, case.id),
        "actions": actions,
        "escalate_until": escalate_until,
        **_labels(),
    }


@router.get("/aftersales/{case_id}")
def my_case(request: Request, case_id: Id, db: DbDep, actor: PageUser, done: str = "") -> Response:
    ctx = _buyer_context(db, actor, case_id)
    return render(request, "aftersales/case.html", {**ctx, "done": done})


def _buyer_action(request: Request, db: Session, actor: Actor, case_id: int, call: Any) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done=f"/aftersales/{case_id}?done=1",
        template="aftersales/case.html",
        context=lambda: _buyer_context(db, actor, case_id),
        page_errors=(),
    )


@router.post("/aftersales/{case_id}/withdraw")
def withdraw(request: Request, case_id: Id, db: DbDep, actor: PageUser) -> Response:
    return _buyer_action(request, db, actor, case_id, lambda: cases.withdraw(db, actor, case_id))


@router.post("/aftersales/{case_id}/ship-back")
def ship_back(
    request: Request,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    carrier: Annotated[str, Form(max_length=100)] = "",
    tracking_no: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return _buyer_action(
        request,
        db,
        actor,
        case_id,
        lambda: returns.ship_back(db, actor, case_id, carrier=carrier, tracking_no=tracking_no),
    )


@router.post("/aftersales/{case_id}/escalate")
def escalate(
    request: Request,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _buyer_action(
        request, db, actor, case_id, lambda: arbitration.escalate(db, actor, case_id, note=note)
    )


@router.post("/aftersales/{case_id}/confirm-exchange")
def confirm_exchange(request: Request, case_id: Id, db: DbDep, actor: PageUser) -> Response:
    return _buyer_action(
        request,
        db,
        actor,
        case_id,
        lambda: returns.confirm_exchange_received(db, actor, case_id),
    )


# --------------------------------------------------------------------------- merchants


@router.get(SHOP)
def shop_queue(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    status: str = "todo",
    page: PageNo = 1,
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    result = service.list_shop_cases(db, actor, shop_id, status=status, page=page)
    return render(
        request,
        "aftersales/merchant_queue.html",
        {
            "shop": shop,
            "section": "aftersales",
            "result": result,
            "status": status,
            "queues": service.QUEUES,
            "hours_left": _hours_left,
            **_labels(),
        },
    )


def _merchant_context(db: Session, actor: Actor, shop_id: int, case_id: int) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    case = service.get_shop_case(db, actor, shop_id, case_id)
    return {
        "shop": shop,
        "section": "aftersales",
        "case": case,
        "events": service.case_events(db, case.id),
        "actions": states.allowed(case.status, case.kind, "merchant"),
        "hours_left": _hours_left(case),
        "money_back": case.kind in states.MONEY_BACK,
        **_labels(),
    }


@router.get(SHOP + "/{case_id}")
def shop_case(
    request: Request, shop_id: Id, case_id: Id, db: DbDep, actor: PageUser, done: str = ""
) -> Response:
    ctx = _merchant_context(db, actor, shop_id, case_id)
    return render(request, "aftersales/merchant_case.html", {**ctx, "done": done})


def _merchant_action(
    request: Request, db: Session, actor: Actor, shop_id: int, case_id: int, call: Any
) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/aftersales/{case_id}?done=1",
        template="aftersales/merchant_case.html",
        context=lambda: _merchant_context(db, actor, shop_id, case_id),
        page_errors=(),
    )


@router.post(SHOP + "/{case_id}/approve")
def approve(
    request: Request,
    shop_id: Id,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    amount: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _merchant_action(
        request,
        db,
        actor,
        shop_id,
        case_id,
        lambda: cases.approve(
            db, actor, shop_id, case_id, amount_fen=yuan_field(amount), note=note
        ),
    )


@router.post(SHOP + "/{case_id}/reject")
def reject(
    request: Request,
    shop_id: Id,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _merchant_action(
        request,
        db,
        actor,
        shop_id,
        case_id,
        lambda: cases.reject(db, actor, shop_id, case_id, reason=reason),
    )


@router.post(SHOP + "/{case_id}/confirm-return")
def confirm_return(
    request: Request,
    shop_id: Id,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    restock: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _merchant_action(
        request,
        db,
        actor,
        shop_id,
        case_id,
        lambda: returns.confirm_return(db, actor, shop_id, case_id, restock=restock == "on"),
    )


@router.post(SHOP + "/{case_id}/reship")
def reship(
    request: Request,
    shop_id: Id,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    carrier: Annotated[str, Form(max_length=100)] = "",
    tracking_no: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return _merchant_action(
        request,
        db,
        actor,
        shop_id,
        case_id,
        lambda: returns.reship(
            db, actor, shop_id, case_id, carrier=carrier, tracking_no=tracking_no
        ),
    )


# --------------------------------------------------------------------------- operators


@router.get("/ops/arbitration")
def arbitration_queue(request: Request, db: DbDep, actor: PageUser, page: PageNo = 1) -> Response:
    result = arbitration.arbitration_queue(db, actor, page=page)
    shops = merchants_service.shops_by_ids(db, {c.shop_id for c in result.cases})
    return render(
        request,
        "aftersales/arbitration_queue.html",
        {"section": "arbitration", "result": result, "shops": shops, **_labels()},
    )


def _operator_context(db: Session, actor: Actor, case_id: int) -> dict[str, Any]:
    case = arbitration.get_case_for_operator(db, actor, case_id)
    return {
        "section": "arbitration",
        "case": case,
        "shop": merchants_service.get_shop(db, case.shop_id),
        "events": service.case_events(db, case.id),
        "actions": states.allowed(case.status, case.kind, "operator"),
        "money_back": case.kind in states.MONEY_BACK,
        **_labels(),
    }


@router.get("/ops/arbitration/{case_id}")
def arbitration_case(
    request: Request, case_id: Id, db: DbDep, actor: PageUser, done: str = ""
) -> Response:
    ctx = _operator_context(db, actor, case_id)
    return render(request, "aftersales/arbitration_case.html", {**ctx, "done": done})


@router.post("/ops/arbitration/{case_id}/decide")
def decide(
    request: Request,
    case_id: Id,
    db: DbDep,
    actor: PageUser,
    decision: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: arbitration.arbitrate(
            db, actor, case_id, decision=decision, note=note, amount_fen=yuan_field(amount)
        ),
        done=f"/ops/arbitration/{case_id}?done=1",
        template="aftersales/arbitration_case.html",
        context=lambda: _operator_context(db, actor, case_id),
        page_errors=(),
    )

"""HTML pages of violations: the operators' list, record form and a violation's page (the
appeal's decision, lifting a penalty); the shop's list and a violation's page (mark fixed,
appeal with photos). Forms go through ``web.forms``."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from xiaodian import clock, media, settings
from xiaodian.actor import Actor
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, _
from xiaodian.health import service as health_service
from xiaodian.merchants import pages as merchants_pages
from xiaodian.merchants import service as merchants_service
from xiaodian.violations import appeals, recording, service
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)
OPS_LIST = "violations/ops_list.html"
OPS_ONE = "violations/ops_violation.html"
SHOP_ONE = "violations/shop_violation.html"
Note = Annotated[str, Form(max_length=2000)]


def _labels() -> dict[str, Any]:
    return {
        "rules": service.RULES,
        "penalties": service.PENALTIES,
        "targets": service.TARGETS,
        "statuses": service.STATUSES,
        "actions": service.ACTIONS,
        "now": clock.now(),
        "max_photos": service.MAX_PHOTOS,
    }


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _int(form: FormData, name: str, *, lo: int = 0, hi: int = 10_000) -> int | None:
    raw = _text(form, name).strip()
    if not raw:
        return None
    try:
        return form_int(raw, lo=lo, hi=hi)
    except ValueError:
        raise InvalidInput(_("Enter a whole number."), code="bad_number") from None


async def _photos(form: FormData) -> list[bytes]:
    chosen = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    service.check_photo_count(len(chosen))
    limit = settings.current().max_image_bytes
    return [await media.read_upload(cast(Any, f), limit=limit) for f in chosen]


def _ops_list_ctx(db: Session, actor: Actor, status: str) -> dict[str, Any]:
    found = service.ops_violations(db, actor, status=service.parse_status(status))
    names = merchants_service.shops_by_ids(db, {v.shop_id for v in found})
    return {
        "section": "violations",
        "violations": found,
        "names": names,
        "status": status,
        "form": {},
        **_labels(),
    }


@router.get("/ops/violations")
def ops_list(
    request: Request, db: DbDep, actor: PageUser, status: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    """Operators: violations newest first, and the form to record one."""
    return render(request, OPS_LIST, _ops_list_ctx(db, actor, status))


@router.post("/ops/violations")
async def ops_record(request: Request, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()
    try:

        async def submit() -> service.Violation:
            target_id = _int(form, "target_id", lo=1, hi=MAX_ID)
            data = recording.Record(
                shop_id=_int(form, "shop_id", lo=1, hi=MAX_ID) or 0,
                target_kind=_text(form, "target_kind") or "shop",
                target_id=target_id,
                rule=_text(form, "rule"),
                evidence_text=_text(form, "evidence_text"),
                penalty=_text(form, "penalty"),
                points=_int(form, "points", hi=100) or 0,
                days=_int(form, "days"),
                photos=await _photos(form),
            )
            return await run_in_threadpool(recording.record, db, actor, data)

        return await forms.submit_async(
            request,
            db,
            submit,
            done=lambda v: f"/ops/violations/{v.id}",
            template=OPS_LIST,
            context=lambda: _ops_list_ctx(db, actor, ""),
            values={"form": {k: v for k, v in form.items() if isinstance(v, str)}},
        )
    finally:
        await form.close()


def _ops_ctx(db: Session, actor: Actor, violation_id: int) -> dict[str, Any]:
    v = service.ops_violation(db, actor, violation_id)
    return {
        "section": "violations",
        "v": v,
        "shop": merchants_service.get_shop(db, v.shop_id),
        "health": health_service.current(db, shop_id=v.shop_id),
        "me": actor.user_id,
        **_labels(),
    }


@router.get("/ops/violations/{violation_id}")
def ops_violation(request: Request, db: DbDep, actor: PageUser, violation_id: Id) -> Response:
    return render(request, OPS_ONE, _ops_ctx(db, actor, violation_id))


@router.post("/ops/violations/{violation_id}/decision")
def ops_decide(
    request: Request,
    db: DbDep,
    actor: PageUser,
    violation_id: Id,
    decision: Annotated[str, Form(max_length=10)] = "",
    note: Note = "",
) -> Response:
    accept = decision == "accept"
    return forms.submit(
        request,
        db,
        lambda: appeals.decide(db, actor, violation_id, accept=accept, note=note),
        done=f"/ops/violations/{violation_id}",
        template=OPS_ONE,
        context=lambda: _ops_ctx(db, actor, violation_id),
    )


@router.post("/ops/violations/{violation_id}/lift")
def ops_lift(
    request: Request, db: DbDep, actor: PageUser, violation_id: Id, note: Note = ""
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: recording.lift(db, actor, violation_id, note=note),
        done=f"/ops/violations/{violation_id}",
        template=OPS_ONE,
        context=lambda: _ops_ctx(db, actor, violation_id),
    )


@router.get("/merchant/shops/{shop_id}/violations")
def shop_list(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """The shop's violations, each with its deadline to fix or appeal."""
    shop = merchants_service.console_shop(db, actor, shop_id)
    ctx = {"violations": service.shop_violations(db, actor, shop.id), **_labels()}
    return render(
        request,
        "violations/shop_list.html",
        merchants_pages.console_ctx(actor, shop, "violations", ctx),
    )


def _shop_ctx(db: Session, actor: Actor, shop_id: int, violation_id: int) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    ctx = {
        "v": service.shop_violation(db, actor, shop.id, violation_id),
        "health": health_service.current(db, shop_id=shop.id),
        "form": {},
        **_labels(),
    }
    return merchants_pages.console_ctx(actor, shop, "violations", ctx)


@router.get("/merchant/shops/{shop_id}/violations/{violation_id}")
def shop_violation(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, violation_id: Id
) -> Response:
    return render(request, SHOP_ONE, _shop_ctx(db, actor, shop_id, violation_id))


@router.post("/merchant/shops/{shop_id}/violations/{violation_id}/fixed")
def shop_fixed(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, violation_id: Id, note: Note = ""
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: appeals.mark_fixed(db, actor, shop_id, violation_id, note=note),
        done=f"/merchant/shops/{shop_id}/violations/{violation_id}",
        template=SHOP_ONE,
        context=lambda: _shop_ctx(db, actor, shop_id, violation_id),
    )


@router.post("/merchant/shops/{shop_id}/violations/{violation_id}/appeal")
async def shop_appeal(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, violation_id: Id
) -> Response:
    form = await request.form()
    try:

        async def submit() -> service.Appeal:
            photos = await _photos(form)
            return await run_in_threadpool(
                appeals.file_appeal,
                db,
                actor,
                shop_id,
                violation_id,
                text=_text(form, "text"),
                photos=photos,
            )

        return await forms.submit_async(
            request,
            db,
            submit,
            done=f"/merchant/shops/{shop_id}/violations/{violation_id}",
            template=SHOP_ONE,
            context=lambda: _shop_ctx(db, actor, shop_id, violation_id),
            values={"form": {"text": _text(form, "text")}},
        )
    finally:
        await form.close()

"""HTML pages: applying to open a shop, the operator application queue, the merchant
console's overview, settings and staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xiaodian.actor import Actor
from xiaodian.cases import queues as cases_queues
from xiaodian.cases import views as cases_views
from xiaodian.categories import service as categories_service
from xiaodian.merchants import applications, service
from xiaodian.merchants.api import read_optional_file
from xiaodian.merchants.applications import ApplicationData
from xiaodian.merchants.models import ApplicationStatus, MerchantApplication
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)

TextField = Annotated[str, Form()]
FileField = Annotated[UploadFile | None, File()]
FIELDS = (
    "entity_type",
    "legal_name",
    "license_no",
    "contact_name",
    "contact_phone",
    "main_category_id",
    "shop_name",
)


def _int_or_none(value: str) -> int | None:
    """The category chosen in the form; None (the service asks for one) if it is not."""
    try:
        return form_int(value, lo=1)
    except ValueError:
        return None


def _form_of(application: MerchantApplication) -> dict[str, str]:
    return {f: str(getattr(application, f)) for f in FIELDS}


PAGE_ERRORS = (401, 403, 404)
"""Errors about the page itself (who may see it, a shop or application not found), not
about the form: the app's error page shows them."""


# --------------------------------------------------------------------------- applying


APPLY = "merchants/apply.html"


def _apply_ctx(db: Session, actor: Actor, *, new: bool = False) -> dict[str, Any]:
    latest = applications.my_latest_application(db, actor)
    application = latest.application if latest else None
    # Show the form for a first application, a correction, or another shop after approval.
    mode = "status"
    if application is None or (new and application.status == ApplicationStatus.APPROVED):
        mode = "new"
    elif application.status == ApplicationStatus.REJECTED:
        mode = "resubmit"
    form = _form_of(application) if application and mode == "resubmit" else {}
    return {
        "detail": latest if mode != "new" else None,
        "mode": mode,
        "form": form,
        "categories": categories_service.choices(db),
    }


@router.get("/merchant/apply")
def apply_form(request: Request, db: DbDep, actor: PageUser, new: bool = False) -> Response:
    return render(request, APPLY, _apply_ctx(db, actor, new=new))


async def _submit(
    request: Request,
    db: Session,
    actor: Actor,
    application_id: int | None,
    fields: dict[str, str],
    logo: UploadFile | None,
    license_image: UploadFile | None,
) -> Response:
    data = ApplicationData(
        entity_type=fields["entity_type"],
        legal_name=fields["legal_name"],
        license_no=fields["license_no"],
        contact_name=fields["contact_name"],
        contact_phone=fields["contact_phone"],
        main_category_id=_int_or_none(fields["main_category_id"]),
        shop_name=fields["shop_name"],
    )
    limit = request.app.state.settings.max_image_bytes

    async def send() -> None:
        logo_bytes = await read_optional_file(logo, limit)
        license_bytes = await read_optional_file(license_image, limit)
        if application_id is None:
            await run_in_threadpool(
                applications.submit_application,
                db,
                actor,
                data,
                logo=logo_bytes,
                license_image=license_bytes,
            )
        else:
            await run_in_threadpool(
                applications.resubmit_application,
                db,
                actor,
                application_id,
                data,
                logo=logo_bytes,
                license_image=license_bytes,
            )

    return await forms.submit_async(
        request,
        db,
        send,
        done="/merchant/apply",
        template=APPLY,
        context=lambda: _apply_ctx(db, actor, new=application_id is None),
        values={"form": fields},
        page_errors=(),
    )


@router.post("/merchant/apply")
async def apply(
    request: Request,
    db: DbDep,
    actor: PageUser,
    entity_type: TextField = "",
    legal_name: TextField = "",
    license_no: TextField = "",
    contact_name: TextField = "",
    contact_phone: TextField = "",
    main_category_id: TextField = "",
    shop_name: TextField = "",
    logo: FileField = None,
    license_image: FileField = None,
) -> Response:
    fields = {
        "entity_type": entity_type,
        "legal_name": legal_name,
        "license_no": license_no,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "main_category_id": main_category_id,
        "shop_name": shop_name,
    }
    return await _submit(request, db, actor, None, fields, logo, license_image)


@router.post("/merchant/apply/{application_id}/resubmit")
async def resubmit(
    request: Request,
    db: DbDep,
    actor: PageUser,
    application_id: Id,
    entity_type: TextField = "",
    legal_name: TextField = "",
    license_no: TextField = "",
    contact_name: TextField = "",
    contact_phone: TextField = "",
    main_category_id: TextField = "",
    shop_name: TextField = "",
    logo: FileField = None,
    license_image: FileField = None,
) -> Response:
    fields = {
        "entity_type": entity_type,
        "legal_name": legal_name,
        "license_no": license_no,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "main_category_id": main_category_id,
        "shop_name": shop_name,
    }
    return await _submit(request, db, actor, application_id, fields, logo, license_image)


# --------------------------------------------------------------------------- operators


@router.get("/ops/applications")
def ops_queue(request: Request, db: DbDep, actor: PageUser, status: str = "submitted") -> Response:
    chosen = None if status == "all" else applications.parse_status(status)
    queue = applications.application_queue(db, actor, status=chosen, limit=200)
    return render(
        request,
        "ops/applications.html",
        {"section": "applications", "queue": queue, "status": status},
    )


OPS_APPLICATION = "ops/application.html"


def _ops_detail_ctx(
    request: Request, db: Session, actor: Actor, application_id: int
) -> dict[str, Any]:
    detail = applications.application_detail(db, actor, application_id, as_operator=True)
    return {
        "section": "applications",
        "detail": detail,
        "reason": "",
        "done": request.query_params.get("done"),
    }


@router.get("/ops/applications/{application_id}")
def ops_detail(request: Request, db: DbDep, actor: PageUser, application_id: Id) -> Response:
    return render(request, OPS_APPLICATION, _ops_detail_ctx(request, db, actor, application_id))


@router.post("/ops/applications/{application_id}/approve")
def ops_approve(request: Request, db: DbDep, actor: PageUser, application_id: Id) -> Response:
    return forms.submit(
        request,
        db,
        lambda: applications.approve_application(db, actor, application_id),
        done=f"/ops/applications/{application_id}?done=approved",
        template=OPS_APPLICATION,
        context=lambda: _ops_detail_ctx(request, db, actor, application_id),
        page_errors=PAGE_ERRORS,
    )


@router.post("/ops/applications/{application_id}/reject")
def ops_reject(
    request: Request,
    db: DbDep,
    actor: PageUser,
    application_id: Id,
    reason: TextField = "",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: applications.reject_application(db, actor, application_id, reason=reason),
        done=f"/ops/applications/{application_id}?done=rejected",
        template=OPS_APPLICATION,
        context=lambda: _ops_detail_ctx(request, db, actor, application_id),
        values={"reason": reason},
        page_errors=PAGE_ERRORS,
    )


# --------------------------------------------------------------------------- merchant console


@router.get("/merchant")
def console_home(request: Request, db: DbDep, actor: PageUser) -> Response:
    shops = service.my_shops(db, actor)
    if len(shops) == 1:
        return RedirectResponse(f"/merchant/shops/{shops[0].id}", status_code=303)
    return render(request, "merchants/index.html", {"shops": shops})


def console_ctx(actor: Actor, shop: Any, section: str, extra: dict[str, Any]) -> dict[str, Any]:
    """What every page of a shop's console shows (its template: merchants/<section>.html)."""
    return {
        "shop": shop,
        "section": section,
        "is_owner": actor.shop_roles.get(shop.id) == "owner",
        **extra,
    }


def console_page(request: Request, shop: Any, section: str, extra: dict[str, Any]) -> Response:
    actor: Actor = request.state.actor
    return render(request, f"merchants/{section}.html", console_ctx(actor, shop, section, extra))


@router.get("/merchant/shops/{shop_id}/settings")
def settings_form(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    shop = service.console_shop(db, actor, shop_id)
    return console_page(request, shop, "settings", {"description": shop.description})


@router.post("/merchant/shops/{shop_id}/settings")
async def settings_save(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    description: TextField = "",
    logo: FileField = None,
) -> Response:
    limit = request.app.state.settings.max_image_bytes

    async def save() -> None:
        logo_bytes = await read_optional_file(logo, limit)
        await run_in_threadpool(
            service.update_shop, db, actor, shop_id, description=description, logo=logo_bytes
        )

    return await forms.submit_async(
        request,
        db,
        save,
        done=f"/merchant/shops/{shop_id}/settings?saved=1",
        template="merchants/settings.html",
        context=lambda: console_ctx(
            actor, service.console_shop(db, actor, shop_id), "settings", {}
        ),
        values={"description": description},
        page_errors=PAGE_ERRORS,
    )


STAFF = "merchants/staff.html"


def _staff_ctx(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    shop = service.console_shop(db, actor, shop_id)
    members = service.list_members(db, actor, shop_id)
    return console_ctx(actor, shop, "staff", {"members": members, "login": ""})


@router.get("/merchant/shops/{shop_id}/staff")
def staff(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    return render(request, STAFF, _staff_ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/staff")
def staff_add(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, login: TextField = ""
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: service.add_staff(db, actor, shop_id, login=login),
        done=f"/merchant/shops/{shop_id}/staff",
        template=STAFF,
        context=lambda: _staff_ctx(db, actor, shop_id),
        values={"login": login},
        page_errors=PAGE_ERRORS,
    )


@router.post("/merchant/shops/{shop_id}/staff/{user_id}/role")
def staff_role(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    user_id: Id,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The owner gives a member the finance role (or takes it back)."""
    return forms.submit(
        request,
        db,
        lambda: service.set_member_role(db, actor, shop_id, user_id, role=role),
        done=f"/merchant/shops/{shop_id}/staff",
        template=STAFF,
        context=lambda: _staff_ctx(db, actor, shop_id),
        page_errors=PAGE_ERRORS,
    )


@router.post("/merchant/shops/{shop_id}/staff/{user_id}/remove")
def staff_remove(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, user_id: Id
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: service.remove_member(db, actor, shop_id, user_id),
        done=f"/merchant/shops/{shop_id}/staff",
        template=STAFF,
        context=lambda: _staff_ctx(db, actor, shop_id),
        page_errors=PAGE_ERRORS,
    )


@router.get("/merchant/shops/{shop_id}/due")
def merchant_due(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """What the shop must do, soonest deadline first (orders to ship, after-sales to answer,
    violations, parcels to chase), with the counts of each queue and their breaches."""
    return render(
        request,
        "cases/merchant_due.html",
        {
            "section": "due",
            "shop": service.console_shop(db, actor, shop_id),
            "rows": cases_views.merchant_due(db, actor, shop_id),
            "counts": cases_views.merchant_counts(db, actor, shop_id),
            "queues": cases_queues.merchant_queues(),
        },
    )

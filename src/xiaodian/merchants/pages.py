"""HTML pages: applying to open a shop, the operator application queue, the merchant
console's overview, settings and staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xiaodian.actor import Actor
from xiaodian.categories import service as categories_service
from xiaodian.errors import DomainError
from xiaodian.merchants import applications, service
from xiaodian.merchants.api import read_optional_file
from xiaodian.merchants.applications import ApplicationData
from xiaodian.merchants.models import ApplicationStatus, MerchantApplication
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep
from xiaodian.web.errors import sign_in_redirect
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


def _error(request: Request, exc: DomainError) -> str:
    return exc.render(request.state.gettext)


def _page_level(exc: DomainError) -> bool:
    """Errors that are about the page itself (who may see it), not about the form."""
    return exc.status_code in (401, 403) or exc.code in (
        "not_found",
        "shop_not_found",
        "application_not_found",
    )


# --------------------------------------------------------------------------- applying


def _apply_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    new: bool = False,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    latest = applications.my_latest_application(db, actor)
    application = latest.application if latest else None
    # Show the form for a first application, a correction, or another shop after approval.
    mode = "status"
    if application is None or (new and application.status == ApplicationStatus.APPROVED):
        mode = "new"
    elif application.status == ApplicationStatus.REJECTED:
        mode = "resubmit"
    if form is None:
        form = _form_of(application) if application and mode == "resubmit" else {}
    return render(
        request,
        "merchants/apply.html",
        {
            "detail": latest if mode != "new" else None,
            "mode": mode,
            "form": form,
            "error": error,
            "categories": categories_service.choices(db),
        },
        status_code=status_code,
    )


@router.get("/merchant/apply")
def apply_form(request: Request, db: DbDep, actor: CurrentActor, new: bool = False) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _apply_page(request, db, actor, new=new)


async def _submit(
    request: Request,
    db: Session,
    actor: Actor,
    application_id: int | None,
    fields: dict[str, str],
    logo: UploadFile | None,
    license_image: UploadFile | None,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
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
    try:
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
    except DomainError as exc:
        return await run_in_threadpool(
            _apply_page,
            request,
            db,
            actor,
            new=application_id is None,
            form=fields,
            error=_error(request, exc),
            status_code=exc.status_code,
        )
    return RedirectResponse("/merchant/apply", status_code=303)


@router.post("/merchant/apply")
async def apply(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
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
    actor: CurrentActor,
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
def ops_queue(
    request: Request, db: DbDep, actor: CurrentActor, status: str = "submitted"
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    chosen = None if status == "all" else applications.parse_status(status)
    queue = applications.application_queue(db, actor, status=chosen, limit=200)
    return render(
        request,
        "ops/applications.html",
        {"section": "applications", "queue": queue, "status": status},
    )


def _ops_detail_page(
    request: Request,
    db: Session,
    actor: Actor,
    application_id: int,
    *,
    error: str | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    detail = applications.application_detail(db, actor, application_id, as_operator=True)
    return render(
        request,
        "ops/application.html",
        {
            "section": "applications",
            "detail": detail,
            "error": error,
            "reason": reason,
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/ops/applications/{application_id}")
def ops_detail(request: Request, db: DbDep, actor: CurrentActor, application_id: Id) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _ops_detail_page(request, db, actor, application_id)


@router.post("/ops/applications/{application_id}/approve")
def ops_approve(request: Request, db: DbDep, actor: CurrentActor, application_id: Id) -> Response:
    try:
        applications.approve_application(db, actor, application_id)
    except DomainError as exc:
        if _page_level(exc):
            raise
        return _ops_detail_page(
            request,
            db,
            actor,
            application_id,
            error=_error(request, exc),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/ops/applications/{application_id}?done=approved", status_code=303)


@router.post("/ops/applications/{application_id}/reject")
def ops_reject(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    application_id: Id,
    reason: TextField = "",
) -> Response:
    try:
        applications.reject_application(db, actor, application_id, reason=reason)
    except DomainError as exc:
        if _page_level(exc):
            raise
        return _ops_detail_page(
            request,
            db,
            actor,
            application_id,
            error=_error(request, exc),
            reason=reason,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/ops/applications/{application_id}?done=rejected", status_code=303)


# --------------------------------------------------------------------------- merchant console


@router.get("/merchant")
def console_home(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    shops = service.my_shops(db, actor)
    if len(shops) == 1:
        return RedirectResponse(f"/merchant/shops/{shops[0].id}", status_code=303)
    return render(request, "merchants/index.html", {"shops": shops})


def console_page(
    request: Request, shop: Any, section: str, extra: dict[str, Any], status_code: int = 200
) -> Response:
    actor: Actor = request.state.actor
    context = {
        "shop": shop,
        "section": section,
        "is_owner": actor.shop_roles.get(shop.id) == "owner",
        **extra,
    }
    return render(request, f"merchants/{section}.html", context, status_code=status_code)


@router.get("/merchant/shops/{shop_id}/settings")
def settings_form(request: Request, db: DbDep, actor: CurrentActor, shop_id: Id) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    shop = service.console_shop(db, actor, shop_id)
    return console_page(request, shop, "settings", {"description": shop.description})


@router.post("/merchant/shops/{shop_id}/settings")
async def settings_save(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    shop_id: Id,
    description: TextField = "",
    logo: FileField = None,
) -> Response:
    limit = request.app.state.settings.max_image_bytes
    try:
        logo_bytes = await read_optional_file(logo, limit)
        await run_in_threadpool(
            service.update_shop, db, actor, shop_id, description=description, logo=logo_bytes
        )
    except DomainError as exc:
        if _page_level(exc):
            raise
        shop = await run_in_threadpool(service.console_shop, db, actor, shop_id)
        extra = {"description": description, "error": _error(request, exc)}
        return console_page(request, shop, "settings", extra, exc.status_code)
    return RedirectResponse(f"/merchant/shops/{shop_id}/settings?saved=1", status_code=303)


def _staff_page(
    request: Request,
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    error: str | None = None,
    login: str = "",
    status_code: int = 200,
) -> Response:
    shop = service.console_shop(db, actor, shop_id)
    members = service.list_members(db, actor, shop_id)
    extra = {"members": members, "error": error, "login": login}
    return console_page(request, shop, "staff", extra, status_code)


@router.get("/merchant/shops/{shop_id}/staff")
def staff(request: Request, db: DbDep, actor: CurrentActor, shop_id: Id) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _staff_page(request, db, actor, shop_id)


@router.post("/merchant/shops/{shop_id}/staff")
def staff_add(
    request: Request, db: DbDep, actor: CurrentActor, shop_id: Id, login: TextField = ""
) -> Response:
    try:
        service.add_staff(db, actor, shop_id, login=login)
    except DomainError as exc:
        if _page_level(exc):
            raise
        return _staff_page(
            request,
            db,
            actor,
            shop_id,
            error=_error(request, exc),
            login=login,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/merchant/shops/{shop_id}/staff", status_code=303)


@router.post("/merchant/shops/{shop_id}/staff/{user_id}/role")
def staff_role(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    shop_id: Id,
    user_id: Id,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The owner gives a member the finance role (or takes it back)."""
    try:
        service.set_member_role(db, actor, shop_id, user_id, role=role)
    except DomainError as exc:
        if _page_level(exc):
            raise
        return _staff_page(
            request, db, actor, shop_id, error=_error(request, exc), status_code=exc.status_code
        )
    return RedirectResponse(f"/merchant/shops/{shop_id}/staff", status_code=303)


@router.post("/merchant/shops/{shop_id}/staff/{user_id}/remove")
def staff_remove(
    request: Request, db: DbDep, actor: CurrentActor, shop_id: Id, user_id: Id
) -> Response:
    try:
        service.remove_member(db, actor, shop_id, user_id)
    except DomainError as exc:
        if _page_level(exc):
            raise
        return _staff_page(
            request, db, actor, shop_id, error=_error(request, exc), status_code=exc.status_code
        )
    return RedirectResponse(f"/merchant/shops/{shop_id}/staff", status_code=303)

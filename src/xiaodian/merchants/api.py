"""JSON API: merchant applications (applicant and operator side), shops and staff."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, File, Query, Request, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from xiaodian import media
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import applications, service
from xiaodian.merchants.applications import ApplicationData
from xiaodian.merchants.models import ApplicationStatus
from xiaodian.merchants.schemas import (
    ApplicationDetailOut,
    ApplicationIn,
    ApplicationOut,
    MemberOut,
    RejectIn,
    ShopOut,
    ShopUpdateIn,
    StaffIn,
)
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id

router = routing.router(responses=error_responses(401, 403, 404, 409, 413, 422))


@dataclass(frozen=True)
class ApplicationUpload:
    data: ApplicationData
    logo: bytes | None
    license_image: bytes | None


async def read_optional_file(value: Any, limit: int) -> bytes | None:
    """The bytes of an uploaded file field; None when the field is absent or left empty."""
    if not isinstance(value, StarletteUploadFile):
        return None
    if not value.filename and not value.size:
        return None
    return await media.read_upload(cast(UploadFile, value), limit=limit)


async def application_upload(request: Request) -> ApplicationUpload:
    """Parse an application sent as JSON, or as multipart with the ``logo`` and
    ``license_image`` files. Validation problems are 422; oversize files are 413."""
    content_type = request.headers.get("content-type", "")
    limit = request.app.state.settings.max_image_bytes
    logo = license_image = None
    try:
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            try:
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
                body = ApplicationIn.model_validate(fields)
                logo = await read_optional_file(form.get("logo"), limit)
                license_image = await read_optional_file(form.get("license_image"), limit)
            finally:
                await form.close()
        else:
            try:
                raw = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise InvalidInput(
                    _("The request body is not valid JSON."), code="invalid_json"
                ) from None
            body = ApplicationIn.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return ApplicationUpload(data=body.to_data(), logo=logo, license_image=license_image)


def _body_doc() -> dict[str, Any]:
    schema = ApplicationIn.model_json_schema()
    files = {
        "logo": {"type": "string", "format": "binary", "description": "shop logo image"},
        "license_image": {
            "type": "string",
            "format": "binary",
            "description": "photo or scan of the business licence",
        },
    }
    multipart = {**schema, "properties": {**schema["properties"], **files}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "multipart/form-data": {"schema": multipart},
            },
        }
    }


Upload = Annotated[ApplicationUpload, Depends(application_upload)]


# --------------------------------------------------------------------------- applicant


@router.post(
    "/merchant/applications",
    status_code=status.HTTP_201_CREATED,
    tags=["merchants"],
    openapi_extra=_body_doc(),
)
def submit_application(db: DbDep, actor: SignedIn, upload: Upload) -> ApplicationOut:
    """Apply to open a shop (商家入驻): JSON, or multipart with `logo` and `license_image`."""
    application = applications.submit_application(
        db, actor, upload.data, logo=upload.logo, license_image=upload.license_image
    )
    return ApplicationOut.of(application)


@router.get("/merchant/applications", tags=["merchants"])
def my_applications(db: DbDep, actor: SignedIn) -> list[ApplicationOut]:
    """The signed-in user's applications, newest first."""
    return [ApplicationOut.of(a) for a in applications.my_applications(db, actor)]


@router.get("/merchant/applications/{application_id}", tags=["merchants"])
def my_application(db: DbDep, actor: SignedIn, application_id: Id) -> ApplicationDetailOut:
    """One of your applications with its history (operators may read any)."""
    return ApplicationDetailOut.of_detail(
        applications.application_detail(db, actor, application_id)
    )


@router.get(
    "/merchant/applications/{application_id}/licence",
    tags=["merchants"],
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def licence_image(db: DbDep, actor: SignedIn, application_id: Id) -> FileResponse:
    """The application's business licence image: for its applicant and operators only
    (it is never served at ``/media``)."""
    path = applications.licence_image(db, actor, application_id)
    return FileResponse(
        media.stored_file(path),
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/merchant/applications/{application_id}/resubmit",
    tags=["merchants"],
    openapi_extra=_body_doc(),
)
def resubmit_application(
    db: DbDep, actor: SignedIn, application_id: Id, upload: Upload
) -> ApplicationOut:
    """Correct a rejected application and send it back for review (images optional)."""
    application = applications.resubmit_application(
        db,
        actor,
        application_id,
        upload.data,
        logo=upload.logo,
        license_image=upload.license_image,
    )
    return ApplicationOut.of(application)


# --------------------------------------------------------------------------- operators


@router.get("/ops/applications", tags=["ops"])
def ops_applications(
    db: DbDep,
    actor: SignedIn,
    status: ApplicationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ApplicationOut]:
    """The application queue, oldest first (operators only)."""
    items = applications.list_applications(db, actor, status=status, limit=limit, offset=offset)
    return [ApplicationOut.of(a) for a in items]


@router.get("/ops/applications/{application_id}", tags=["ops"])
def ops_application(db: DbDep, actor: SignedIn, application_id: Id) -> ApplicationDetailOut:
    """One application with its history (operators only)."""
    detail = applications.application_detail(db, actor, application_id, as_operator=True)
    return ApplicationDetailOut.of_detail(detail)


@router.post("/ops/applications/{application_id}/approve", tags=["ops"])
def approve(db: DbDep, actor: SignedIn, application_id: Id) -> ApplicationOut:
    """Approve: opens the shop with the applicant as its owner. 409 if already decided."""
    return ApplicationOut.of(applications.approve_application(db, actor, application_id))


@router.post("/ops/applications/{application_id}/reject", tags=["ops"])
def reject(db: DbDep, actor: SignedIn, application_id: Id, body: RejectIn) -> ApplicationOut:
    """Reject with a reason the applicant sees (required). 409 if already decided."""
    return ApplicationOut.of(
        applications.reject_application(db, actor, application_id, reason=body.reason)
    )


# --------------------------------------------------------------------------- shops and staff


@router.get("/merchant/shops", tags=["merchants"])
def my_shops(db: DbDep, actor: SignedIn) -> list[ShopOut]:
    """The shops you own or work for, with your role."""
    return [ShopOut.of(s, actor.shop_roles.get(s.id)) for s in service.my_shops(db, actor)]


@router.get("/merchant/shops/{shop_id}", tags=["merchants"])
def shop(db: DbDep, actor: SignedIn, shop_id: Id) -> ShopOut:
    return ShopOut.of(service.console_shop(db, actor, shop_id), actor.shop_roles.get(shop_id))


@router.patch("/merchant/shops/{shop_id}", tags=["merchants"])
def update_shop(db: DbDep, actor: SignedIn, shop_id: Id, body: ShopUpdateIn) -> ShopOut:
    """Owner: change the shop description."""
    updated = service.update_shop(db, actor, shop_id, description=body.description)
    return ShopOut.of(updated, actor.shop_roles.get(shop_id))


async def _logo(request: Request, logo: Annotated[UploadFile, File()]) -> bytes:
    return await media.read_upload(logo, limit=request.app.state.settings.max_image_bytes)


@router.put("/merchant/shops/{shop_id}/logo", tags=["merchants"])
def update_logo(
    db: DbDep, actor: SignedIn, shop_id: Id, logo: Annotated[bytes, Depends(_logo)]
) -> ShopOut:
    """Owner: replace the shop logo (multipart field `logo`)."""
    updated = service.update_shop(db, actor, shop_id, logo=logo)
    return ShopOut.of(updated, actor.shop_roles.get(shop_id))


@router.get("/merchant/shops/{shop_id}/staff", tags=["merchants"])
def staff(db: DbDep, actor: SignedIn, shop_id: Id) -> list[MemberOut]:
    """The shop's owner and staff (any member may look)."""
    return [MemberOut.of(m) for m in service.list_members(db, actor, shop_id)]


@router.post("/merchant/shops/{shop_id}/staff", status_code=201, tags=["merchants"])
def add_staff(db: DbDep, actor: SignedIn, shop_id: Id, body: StaffIn) -> MemberOut:
    """Owner: add an existing account as staff, by phone or email."""
    return MemberOut.of(service.add_staff(db, actor, shop_id, login=body.login))


@router.delete("/merchant/shops/{shop_id}/staff/{user_id}", status_code=204, tags=["merchants"])
def remove_staff(db: DbDep, actor: SignedIn, shop_id: Id, user_id: Id) -> None:
    """Owner: remove a staff member (not yourself)."""
    service.remove_member(db, actor, shop_id, user_id)

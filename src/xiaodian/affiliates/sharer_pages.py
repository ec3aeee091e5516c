"""Sharers' pages (分享员): the shop's (its sharers, invitations by account or QR code), the
invitation's own page (scanned from the code: the shop and "accept"), and the person's own
(their invitations and the shops they share for)."""

from __future__ import annotations

import io
from typing import Annotated, Any

import qrcode
from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.affiliates import sharers
from xiaodian.errors import NotFound, _
from xiaodian.merchants import service as merchants_service
from xiaodian.web import forms, routing
from xiaodian.web.deps import CurrentActor, DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id

router = routing.router(include_in_schema=False)

SHOP_PAGE = "affiliates/sharers.html"
JOIN_PAGE = "affiliates/sharer_join.html"
MINE_PAGE = "affiliates/my_sharing.html"
Code = Annotated[str, Form(max_length=40)]


def _shop_ctx(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "section": "sharers",
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "sharers": sharers.shop_sharers(db, actor, shop_id),
        "invites": sharers.shop_invites(db, actor, shop_id),
    }


@router.get("/merchant/shops/{shop_id}/sharers")
def shop_page(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    return render(request, SHOP_PAGE, _shop_ctx(db, actor, shop_id))


def _shop_form(request: Request, db: Session, actor: Actor, shop_id: int, call: Any) -> Response:
    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/sharers?done=1",
        template=SHOP_PAGE,
        context=lambda: _shop_ctx(db, actor, shop_id),
    )


@router.post("/merchant/shops/{shop_id}/sharers/invite")
def invite_account(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    login: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    return _shop_form(
        request, db, actor, shop_id, lambda: sharers.invite_account(db, actor, shop_id, login=login)
    )


@router.post("/merchant/shops/{shop_id}/sharers/code")
def invite_code(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    return _shop_form(request, db, actor, shop_id, lambda: sharers.invite_code(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/sharers/invites/{invite_id}/revoke")
def revoke(request: Request, db: DbDep, actor: PageUser, shop_id: Id, invite_id: Id) -> Response:
    return _shop_form(
        request, db, actor, shop_id, lambda: sharers.revoke(db, actor, shop_id, invite_id)
    )


@router.post("/merchant/shops/{shop_id}/sharers/{sharer_id}/unbind")
def shop_unbind(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, sharer_id: Id
) -> Response:
    return _shop_form(request, db, actor, shop_id, lambda: sharers.unbind(db, actor, sharer_id))


@router.get("/merchant/shops/{shop_id}/sharers/invites/{invite_id}/qr.png")
def invite_qr(db: DbDep, actor: PageUser, shop_id: Id, invite_id: Id) -> Response:
    """The invite QR code to print or send: it leads to the invitation's page."""
    found = next((i for i in sharers.shop_invites(db, actor, shop_id) if i.id == invite_id), None)
    if found is None or found.user_id is not None:
        raise NotFound(_("Invitation not found."), code="invite_not_found")
    base = settings_module.current().public_base_url.rstrip("/")
    image = qrcode.make(base + sharers.join_path(found.code), border=2, box_size=8)
    out = io.BytesIO()
    image.save(out)
    return Response(out.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


def _join_ctx(db: Session, actor: Actor, code: str) -> dict[str, Any]:
    return {"view": sharers.invite_view(db, actor, code), "code": code}


@router.get("/sharers/join/{code}")
def join_page(request: Request, db: DbDep, actor: CurrentActor, code: str) -> Response:
    """An invitation, as its QR code or link opens it: the shop, and "accept"."""
    return render(request, JOIN_PAGE, _join_ctx(db, actor, code[:40]))


@router.post("/sharers/join/{code}")
def accept(request: Request, db: DbDep, actor: PageUser, code: str) -> Response:
    return forms.submit(
        request,
        db,
        lambda: sharers.accept(db, actor, code[:40]),
        done="/me/sharing?joined=1",
        template=JOIN_PAGE,
        context=lambda: _join_ctx(db, actor, code[:40]),
    )


def _mine_ctx(db: Session, actor: Actor) -> dict[str, Any]:
    return {"invites": sharers.my_invites(db, actor), "shops": sharers.my_shops(db, actor)}


@router.get("/me/sharing")
def mine(request: Request, db: DbDep, actor: PageUser) -> Response:
    """The person's invitations and the shops they share for."""
    return render(request, MINE_PAGE, _mine_ctx(db, actor))


@router.post("/me/sharing/{sharer_id}/unbind")
def my_unbind(request: Request, db: DbDep, actor: PageUser, sharer_id: Id) -> Response:
    return forms.submit(
        request,
        db,
        lambda: sharers.unbind(db, actor, sharer_id),
        done="/me/sharing?left=1",
        template=MINE_PAGE,
        context=lambda: _mine_ctx(db, actor),
    )

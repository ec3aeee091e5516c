"""The agency's page (``/me/agency``): open an agency with its share, invite creators,
remove them; and, for a creator, their invitations, their agency and leaving it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.affiliates import agencies
from xiaodian.errors import InvalidInput, _
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)

PAGE = "affiliates/agency.html"


def _ctx(db: Session, actor: Actor) -> dict[str, Any]:
    return {"page": agencies.my_agency(db, actor), "max_share": agencies.MAX_SHARE}


def _submit(request: Request, db: Session, actor: Actor, call: Any) -> Response:
    return forms.submit(
        request, db, call, done="/me/agency?done=1", template=PAGE, context=lambda: _ctx(db, actor)
    )


def _share(value: str) -> int:
    try:
        return form_int(value, lo=0, hi=agencies.MAX_SHARE)
    except ValueError:
        raise InvalidInput(
            _("The agency's share is a whole percent from 0 to %(n)s."),
            code="bad_share",
            n=agencies.MAX_SHARE,
        ) from None


@router.get("/me/agency")
def agency_page(request: Request, db: DbDep, actor: PageUser) -> Response:
    return render(request, PAGE, _ctx(db, actor))


@router.post("/me/agency")
def open_agency(
    request: Request,
    db: DbDep,
    actor: PageUser,
    name: Annotated[str, Form(max_length=80)] = "",
    share: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    return _submit(
        request,
        db,
        actor,
        lambda: agencies.open_agency(db, actor, name=name, share_pct=_share(share)),
    )


@router.post("/me/agency/share")
def set_share(
    request: Request, db: DbDep, actor: PageUser, share: Annotated[str, Form(max_length=8)] = ""
) -> Response:
    return _submit(
        request, db, actor, lambda: agencies.set_share(db, actor, share_pct=_share(share))
    )


@router.post("/me/agency/invite")
def invite(
    request: Request, db: DbDep, actor: PageUser, login: Annotated[str, Form(max_length=254)] = ""
) -> Response:
    return _submit(request, db, actor, lambda: agencies.invite(db, actor, login=login))


@router.post("/me/agency/members/{member_id}/accept")
def accept(request: Request, db: DbDep, actor: PageUser, member_id: Id) -> Response:
    return _submit(request, db, actor, lambda: agencies.accept(db, actor, member_id))


@router.post("/me/agency/members/{member_id}/leave")
def leave(request: Request, db: DbDep, actor: PageUser, member_id: Id) -> Response:
    return _submit(request, db, actor, lambda: agencies.leave(db, actor, member_id))

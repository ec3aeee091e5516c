"""The follow buttons' form posts (from the shop page, the product page, the live room):
follow or unfollow, then back to the page they came from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.follows import service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser, safe_next
from xiaodian.web.types import form_int

router = routing.router(include_in_schema=False)

Field = Annotated[str, Form(max_length=300)]


def _target(value: str) -> int:
    try:
        return form_int(value, lo=1)
    except ValueError:
        return 0  # refused as nothing to follow


@router.post("/follows")
def follow(
    request: Request,
    db: DbDep,
    actor: PageUser,
    kind: Field = "",
    target_id: Field = "",
    next: Field = "/",
) -> Response:
    service.follow(db, actor, kind=kind, target_id=_target(target_id))
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/follows/remove")
def unfollow(
    request: Request,
    db: DbDep,
    actor: PageUser,
    kind: Field = "",
    target_id: Field = "",
    next: Field = "/",
) -> Response:
    service.unfollow(db, actor, kind=kind, target_id=_target(target_id))
    return RedirectResponse(safe_next(next), status_code=303)

from __future__ import annotations

from fastapi import Request, status

from xiaodian.accounts import service
from xiaodian.accounts.schemas import LoginIn, MeOut, RegisterIn, TokenOut
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep, SignedIn, request_token
from xiaodian.web.errors import error_responses

router = routing.router(tags=["accounts"], responses=error_responses(401, 404, 409, 413, 422, 423))


@router.post("/auth/register", status_code=status.HTTP_201_CREATED)
def register(body: RegisterIn, db: DbDep) -> TokenOut:
    """Create a buyer account and return a bearer token for it."""
    user = service.register(
        db, login=body.login, password=body.password, display_name=body.display_name
    )
    token = service.issue_token(db, user_id=user.id)
    return TokenOut(token=token, user_id=user.id)


@router.post("/auth/token")
def token(body: LoginIn, db: DbDep) -> TokenOut:
    """Sign in with phone/email and password; returns a bearer token."""
    user, token = service.login(db, login=body.login, password=body.password, kind="bearer")
    return TokenOut(token=token, user_id=user.id)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, db: DbDep, actor: CurrentActor) -> None:
    """Revoke the token (or cookie session) this request carries."""
    token, _kind = request_token(request)
    if token:
        service.logout(db, token=token)


@router.get("/me")
def me(db: DbDep, actor: SignedIn) -> MeOut:
    """The signed-in account and its roles."""
    user = service.get(db, actor.require_user())
    out = MeOut.model_validate(user)
    out.shop_ids = actor.shop_ids
    return out

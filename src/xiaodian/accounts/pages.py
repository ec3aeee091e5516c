from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service
from xiaodian.web import csrf, forms, i18n, routing
from xiaodian.web.deps import SESSION_COOKIE, CurrentActor, DbDep, request_token, safe_next
from xiaodian.web.templating import render

router = routing.router(include_in_schema=False)


def signed_in(request: Request, token: str, target: str) -> Response:
    """Signed in: the session cookie, a fresh CSRF token, and on to ``target`` (also after
    signing in with WeChat)."""
    csrf.rotate(request, session_token=token)
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
        max_age=request.app.state.settings.session_days * 86400,
    )
    return response


@router.get("/login")
def login_form(request: Request, actor: CurrentActor, next: str = "/") -> Response:
    return render(request, "accounts/login.html", {"next": safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: service.login(db, login=login, password=password),
        done=lambda result: signed_in(request, result[1], next),
        template="accounts/login.html",
        context={"next": safe_next(next)},
        values={"login": login},
    )


@router.get("/register")
def register_form(request: Request, actor: CurrentActor, next: str = "/") -> Response:
    return render(request, "accounts/register.html", {"next": safe_next(next)})


@router.post("/register")
def register(
    request: Request,
    db: DbDep,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
    display_name: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    def register_and_sign_in() -> str:
        user = service.register(db, login=login, password=password, display_name=display_name)
        return service.issue_token(db, user_id=user.id, kind="cookie")

    return forms.submit(
        request,
        db,
        register_and_sign_in,
        done=lambda token: signed_in(request, token, next),
        template="accounts/register.html",
        context={"next": safe_next(next)},
        values={"login": login, "display_name": display_name},
    )


@router.post("/logout")
def logout(request: Request, db: DbDep) -> Response:
    token, kind = request_token(request)
    if token and kind == "cookie":
        service.logout(db, token=token)
    csrf.rotate(request, session_token=None)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str = "/") -> Response:
    """The language switch in the page header: remembered in a cookie."""
    chosen = i18n.normalize(locale) or i18n.DEFAULT
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax")
    return response

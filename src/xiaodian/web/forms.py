"""The one pattern of a page's form: call the service; on success go on (303); on a domain
error roll back and show the form again, with the message and what was sent.

    @router.post("/merchant/shops/{shop_id}/staff")
    def staff_add(request: Request, db: DbDep, actor: PageUser, shop_id: Id, login: Text = ""):
        return forms.submit(
            request,
            db,
            lambda: service.add_staff(db, actor, shop_id, login=login),
            done=f"/merchant/shops/{shop_id}/staff",
            template="merchants/staff.html",
            context=lambda: _staff_context(db, actor, shop_id),
            values={"login": login},
        )

On a ``DomainError`` the session is rolled back (the page shows what is stored, not a
half-applied change), ``context()`` is built again, ``values`` (the submitted fields, under
the names the template reads) are laid over it, ``error`` is the message in the visitor's
language, and the page answers with the error's status code (422 invalid input, 409 not
possible now, 403, ...). Errors about the page itself (``page_errors``: not signed in,
not found, by default) are not a form's: they go on to the app's error handler, which shows
its error page (404) or sends the visitor to sign in. If building the page again fails
(the object is gone), that error goes on to the handler too.

``submit`` is for plain handlers (one thread hop, ``web.routing``); ``submit_async`` for
``async`` handlers that must await (an upload, ``request.form()``): ``call`` is then a
coroutine function, and the failure path runs in one worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xiaodian.errors import DomainError
from xiaodian.web.templating import render

T = TypeVar("T")

PAGE_ERRORS = (401, 404)
"""Status codes of errors about the page, not the form (shown by the app's handler)."""

Done = str | Callable[[Any], "str | Response"]
Context = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def see_other(url: str) -> Response:
    """The answer to a form that worked: go (GET) to ``url``."""
    return RedirectResponse(url, status_code=303)


def message(request: Request, exc: DomainError) -> str:
    """The error's message in the visitor's language."""
    return exc.render(getattr(request.state, "gettext", None))


def page_again(
    request: Request,
    db: Session,
    exc: DomainError,
    *,
    template: str,
    context: Context,
    values: Mapping[str, Any] | None = None,
) -> Response:
    """Roll back, then the form's page again with the error and the submitted values."""
    db.rollback()
    ctx = dict(context() if callable(context) else context)
    ctx.update(values or {})
    ctx["error"] = message(request, exc)
    return render(request, template, ctx, status_code=exc.status_code)


def _went_on(done: Done, result: Any) -> Response:
    target = done(result) if callable(done) else done
    return see_other(target) if isinstance(target, str) else target


def submit(
    request: Request,
    db: Session,
    call: Callable[[], T],
    *,
    done: Done,
    template: str,
    context: Context,
    values: Mapping[str, Any] | None = None,
    page_errors: tuple[int, ...] = PAGE_ERRORS,
) -> Response:
    """Run ``call`` (one service call); see the module's docstring. ``done`` is where to
    go (a URL, or a function of the call's result giving a URL or a response)."""
    try:
        result = call()
    except DomainError as exc:
        if exc.status_code in page_errors:
            raise
        return page_again(request, db, exc, template=template, context=context, values=values)
    return _went_on(done, result)


async def submit_async(
    request: Request,
    db: Session,
    call: Callable[[], Awaitable[T]],
    *,
    done: Done,
    template: str,
    context: Context,
    values: Mapping[str, Any] | None = None,
    page_errors: tuple[int, ...] = PAGE_ERRORS,
) -> Response:
    """``submit`` for an ``async`` handler: ``call`` awaits its reads and runs the service
    in a worker thread itself; the page again is built in one worker thread."""
    try:
        result = await call()
    except DomainError as exc:
        if exc.status_code in page_errors:
            raise
        return await run_in_threadpool(
            page_again, request, db, exc, template=template, context=context, values=values
        )
    return _went_on(done, result)

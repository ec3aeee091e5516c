"""One place that turns errors into responses: JSON under /api, pages elsewhere."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from xiaodian.db import DatabaseBusy
from xiaodian.errors import DomainError, NotAuthenticated, _
from xiaodian.web.templating import render

log = logging.getLogger("xiaodian")


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    return render(
        request,
        "errors/error.html",
        {"status": status, "code": code, "message": message},
        status_code=status,
    )


def sign_in_redirect(request: Request) -> Response:
    """A page that needs a signed-in person sends a visitor to sign in, then back here."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def _gettext(request: Request) -> Any:
    return getattr(request.state, "gettext", lambda s: s)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
    return ".".join(parts) or "body"


def _busy() -> DatabaseBusy:
    return DatabaseBusy(_("The shop is very busy right now. Try again in a moment."))


_BUSY_MARKS = (
    "too many clients",
    "remaining connection slots",
    "too many connections",
    "database is locked",
    "the database system is starting up",
    "the database system is shutting down",
    "connection refused",
)


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(mark in text for mark in _BUSY_MARKS)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        wants_page = request.method == "GET" and not _wants_json(request)
        if isinstance(exc, NotAuthenticated) and wants_page:
            return sign_in_redirect(request)
        response = error_response(request, exc.status_code, exc.code, exc.render(_gettext(request)))
        if isinstance(exc, DatabaseBusy):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        """Every connection of the pool stayed busy for the whole bounded wait."""
        log.warning("no database connection within the pool timeout: %s", exc)
        return await _domain(request, _busy())

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        """The database refused a connection (PostgreSQL's "too many clients", a restart)
        or SQLite stayed locked: the request changed nothing and may be tried again."""
        if not _is_busy(exc):
            return await _unexpected(request, exc)
        log.warning("database busy: %s", str(exc).splitlines()[0][:200])
        return await _domain(request, _busy())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        gettext = _gettext(request)
        problems = []
        for err in exc.errors()[:5]:
            if err.get("type") == "json_invalid":
                problems.append(gettext("The request body is not valid JSON."))
            else:
                problems.append(f"{_field(tuple(err.get('loc', ())))}: {err.get('msg', '')}")
        message = gettext("Invalid input") + ": " + "; ".join(problems)
        return error_response(request, 422, "invalid", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        gettext = _gettext(request)
        messages = {
            404: gettext("Not found."),
            405: gettext("Method not allowed."),
        }
        message = messages.get(exc.status_code) or str(exc.detail)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(request, exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        gettext = _gettext(request)
        return error_response(
            request, 500, "internal", gettext("Something went wrong on our side.")
        )

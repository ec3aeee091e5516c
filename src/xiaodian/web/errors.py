"""One place that turns errors into responses: JSON under /api, pages elsewhere."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from xiaodian.db import DatabaseBusy
from xiaodian.errors import DomainError, NotAuthenticated, _
from xiaodian.web.deps import SignInRequired, page_asked_for, safe_next
from xiaodian.web.templating import render
from xiaodian.web.types import ID_NOT_FOUND

log = logging.getLogger("xiaodian")


class ApiErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(description="in the request's language")


class ApiError(BaseModel):
    """What every 4xx answer of the JSON API carries."""

    error: ApiErrorBody


DESCRIPTIONS = {
    401: "Not signed in (or a bad token)",
    403: "Not allowed",
    404: "Unknown, or someone else's",
    409: "Not possible in the current state",
    413: "The body or a file is too large",
    422: "Invalid input",
    423: "Locked: too many failed sign-ins, try again later",
    429: "Too many requests",
}


def error_responses(
    *codes: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a router (declared once for all its routes): the 4xx answers
    they give, each with the error body; ``descriptions`` say more than the general words.

    The body is named by reference, not with ``model=``: FastAPI builds a validator for
    every response model of every route of every app (seconds per test run), and error
    bodies are never validated. ``install`` adds ``ApiError`` to the document."""
    words = {**DESCRIPTIONS, **(descriptions or {})}
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    return {code: {"description": words[code], "content": body} for code in codes}


def _document_error_body(app: FastAPI) -> None:
    """Put ``ApiError`` (and what it uses) among the OpenAPI document's schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schema = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["ApiError"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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


def to_sign_in(next_path: str, request: Request | None = None) -> Response:
    """To the sign-in page, then back to ``next_path`` (a local path, see ``safe_next``).

    An app may choose another way to sign in for some visitors (``app.state.sign_in_url``,
    ``(request, next_path) -> URL | None``: inside WeChat, WeChat's authorization)."""
    target = safe_next(next_path)
    chooser = getattr(request.app.state, "sign_in_url", None) if request is not None else None
    url = chooser(request, target) if chooser is not None else None
    return RedirectResponse(url or f"/login?{urlencode({'next': target})}", status_code=303)


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


def busy_error(exc: Exception) -> DatabaseBusy | None:
    """The "try again in a moment" refusal for a database that is busy (no connection
    within the pool's wait, PostgreSQL refusing one, SQLite staying locked); None for any
    other error."""
    if isinstance(exc, PoolTimeout) or (isinstance(exc, OperationalError) and _is_busy(exc)):
        return _busy()
    return None


def install(app: FastAPI) -> None:
    _document_error_body(app)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        wants_page = request.method == "GET" and not _wants_json(request)
        if isinstance(exc, NotAuthenticated) and wants_page:
            return to_sign_in(page_asked_for(request), request)
        response = error_response(request, exc.status_code, exc.code, exc.render(_gettext(request)))
        if isinstance(exc, DatabaseBusy):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        """``PageUser`` found no signed-in person: sign in first, then come back."""
        if _wants_json(request):
            return await _domain(request, NotAuthenticated(_("Please sign in first.")))
        return to_sign_in(exc.next_path, request)

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
        errors = exc.errors()
        if errors and all(err.get("type") == ID_NOT_FOUND for err in errors):
            # Only ids out of range (``web.types.Id``): no row has them, like any unknown id.
            return error_response(request, 404, "not_found", gettext("Not found."))
        problems = []
        for err in errors[:5]:
            if err.get("type") == "json_invalid":
                problems.append(gettext("The request body is not valid JSON."))
            else:
                problems.append(f"{_field(tuple(err.get('loc', ())))}: {err.get('msg', '')}")
        message = gettext("Invalid input") + ": " + "; ".join(problems)
        return error_response(request, 422, "invalid", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        gettext = _gettext(request)
        if exc.status_code == 400:
            # Starlette and FastAPI answer 400 only to a body they cannot parse (not UTF-8
            # JSON, a broken multipart form): invalid input, as a JSON syntax error is.
            message = gettext("Invalid input") + ": " + gettext("The request body cannot be read.")
            return error_response(request, 422, "invalid", message)
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

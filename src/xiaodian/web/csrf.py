"""CSRF protection for browser requests (double-submit of a signed, session-bound cookie).

Requests that a browser could send cross-site with the user's cookies must carry the
token from the ``xd_csrf`` cookie, as a form field ``csrf_token`` or an ``X-CSRF-Token``
header, and the token must have been minted for the session the request's ``xd_session``
cookie names (or, without one, for no session): someone who can plant cookies (a sibling
subdomain, plain HTTP) cannot pair a token of their own with the victim's session. Signing
in and out rotates it (``rotate``). Exempt: safe methods, bearer-token clients (no ambient
credentials), JSON bodies (a cross-site page cannot send them without a CORS preflight,
which we never grant), and the payment notification endpoints, which are verified by
signature instead.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from xiaodian.accounts import security
from xiaodian.errors import DomainError, _
from xiaodian.web.deps import SAFE_METHODS, SESSION_COOKIE
from xiaodian.web.middleware import CSRF_COOKIE, CSRF_ROTATED

EXEMPT_PREFIXES: list[str] = ["/api/v1/payments/notify", "/sandbox/notify"]


class CsrfFailed(DomainError):
    status_code = 403
    code = "csrf_failed"


async def verify_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "")[:7].lower() == "bearer ":
        return
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return
    if any(request.url.path.startswith(p) for p in EXEMPT_PREFIXES):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token")
    if sent is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    secret_key = request.app.state.settings.secret_key
    if (
        not cookie
        or not sent
        or not hmac.compare_digest(cookie, sent)
        or not security.csrf_valid(secret_key, sent, request.cookies.get(SESSION_COOKIE))
    ):
        raise CsrfFailed(_("The form has expired. Reload the page and try again."))


def rotate(request: Request, *, session_token: str | None) -> None:
    """A sign-in (the new session's token) or a sign-out (None): the answer sets a fresh
    CSRF token bound to what comes next, so the tokens of before no longer work."""
    token = security.csrf_token(request.app.state.settings.secret_key, session_token)
    request.state.csrf_token = token
    setattr(request.state, CSRF_ROTATED, token)

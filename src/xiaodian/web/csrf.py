"""CSRF protection for browser requests (double-submit of a signed cookie).

Requests that a browser could send cross-site with the user's cookies must carry the
token from the ``xd_csrf`` cookie, as a form field ``csrf_token`` or an ``X-CSRF-Token``
header. Exempt: safe methods, bearer-token clients (no ambient credentials), JSON bodies
(a cross-site page cannot send them without a CORS preflight, which we never grant), and
the payment notification endpoints, which are verified by signature instead.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from xiaodian.errors import DomainError, _
from xiaodian.web.deps import SAFE_METHODS
from xiaodian.web.middleware import CSRF_COOKIE

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
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfFailed(_("The form has expired. Reload the page and try again."))

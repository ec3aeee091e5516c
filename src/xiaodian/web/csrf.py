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

import hashlib
import hmac
import secrets

from fastapi import Request

from xiaodian.errors import DomainError, _
from xiaodian.web.deps import SAFE_METHODS, SESSION_COOKIE

CSRF_COOKIE = "xd_csrf"
CSRF_ROTATED = "csrf_rotated"  # request state: the token a sign-in or sign-out answer sets

# Server-to-server posts authenticated by their own signature, never by a cookie.
EXEMPT_PREFIXES: list[str] = [
    "/api/v1/payments/notify",
    "/sandbox/notify",
    "/api/v1/logistics/kuaidi100/push",
]


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
        or not csrf_valid(secret_key, sent, request.cookies.get(SESSION_COOKIE))
    ):
        raise CsrfFailed(_("The form has expired. Reload the page and try again."))


def rotate(request: Request, *, session_token: str | None) -> None:
    """A sign-in (the new session's token) or a sign-out (None): the answer sets a fresh
    CSRF token bound to what comes next, so the tokens of before no longer work."""
    token = csrf_token(request.app.state.settings.secret_key, session_token)
    request.state.csrf_token = token
    setattr(request.state, CSRF_ROTATED, token)


def csrf_token(secret_key: str, session_token: str | None) -> str:
    """A random value with its HMAC bound to the session (the hash of its token) or, for a
    visitor without one, to the value itself (a pre-session id). Nobody without the secret
    key can make one, nor use one made for another session."""
    value = secrets.token_urlsafe(18)
    return f"{value}.{_csrf_mac(secret_key, value, session_token)}"


def csrf_valid(secret_key: str, token: str | None, session_token: str | None) -> bool:
    """Whether ``token`` was minted by us for this session (None: for no session)."""
    if not token or "." not in token:
        return False
    value, mac = token.rsplit(".", 1)
    return hmac.compare_digest(mac, _csrf_mac(secret_key, value, session_token))


def _csrf_mac(secret_key: str, value: str, session_token: str | None) -> str:
    # the session as accounts stores it: the SHA-256 of its token
    session = hashlib.sha256(session_token.encode()).hexdigest() if session_token else None
    bound_to = f"session:{session}" if session else "visitor"
    message = f"csrf|{bound_to}|{value}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]

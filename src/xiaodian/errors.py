"""Domain errors: what went wrong, as a stable code plus a translatable message.

Services raise these; one handler in ``app.py`` renders them as
``{"error": {"code", "message"}}`` (API) or as a page (HTML), in the user's language.
Messages are English msgids translated at the edge; ``params`` fill ``%(name)s``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.params = params

    def render(self, gettext: Any = None) -> str:
        text = gettext(self.message) if gettext else self.message
        if self.params:
            try:
                return str(text % self.params)
            except (KeyError, TypeError, ValueError):
                return str(text)
        return str(text)


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    """Also raised for other people's objects, so ids cannot be probed."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class TooLarge(DomainError):
    status_code = 413
    code = "too_large"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"


def _(message: str) -> str:
    """Mark a string for translation where it is defined; translated when rendered."""
    return message

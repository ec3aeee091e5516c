"""Password hashing (argon2), session tokens and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A hash that no password matches, verified against for unknown accounts so that
# "no such account" and "wrong password" take the same time.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    bound_to = f"session:{token_hash(session_token)}" if session_token else "visitor"
    message = f"csrf|{bound_to}|{value}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]

"""Sign-out tells the token listeners (caches of token -> actor) once it is committed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from xiaodian.accounts import service


@pytest.fixture
def heard() -> Iterator[list[str]]:
    """A listener recording what it hears, unregistered afterwards."""
    tokens: list[str] = []
    before = list(service._revocation_listeners)
    service.on_token_revoked(tokens.append)
    yield tokens
    service._revocation_listeners[:] = before


def test_logout_tells_the_listeners_after_commit(db: Any, make_user: Any, heard: list[str]) -> None:
    user = make_user()
    _user, token = service.login(db, login=user.login_name, password="secret123", kind="bearer")
    seen_revoked: list[bool] = []

    def check(revoked: str) -> None:  # by the time a listener runs, the token is refused
        seen_revoked.append(not service.actor_for_token(db, revoked).is_authenticated)

    service.on_token_revoked(check)
    service.on_token_revoked(check)  # registering twice keeps one
    service.logout(db, token=token)
    assert heard == [token] and seen_revoked == [True]


def test_a_failing_listener_does_not_undo_the_sign_out(
    db: Any, make_user: Any, heard: list[str]
) -> None:
    def broken(_token: str) -> None:
        raise RuntimeError("cache down")

    service.on_token_revoked(broken)
    user = make_user()
    token = service.issue_token(db, user_id=user.id)
    service.logout(db, token=token)
    assert heard == [token]
    assert not service.actor_for_token(db, token).is_authenticated


def test_the_live_cache_is_registered() -> None:
    from xiaodian.accounts import authcache

    assert authcache.forget in service._revocation_listeners

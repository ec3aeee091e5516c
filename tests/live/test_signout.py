"""Signing out ends the live rooms' cached token at once (no TTL wait)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.live.conftest import Scene, add_address
from xiaodian.accounts import service as accounts_service


def test_a_signed_out_bearer_token_is_refused_by_the_buy_endpoint_at_once(
    db: Any, database: Any, scene: Scene, make_user: Any, app: Any
) -> None:
    buyer = make_user()
    add_address(db, buyer)
    db.rollback()
    with database.session() as session:
        token = accounts_service.issue_token(session, user_id=buyer.id)
    buy = f"/api/v1/live/rooms/{scene.room_id}/flash-sales/99999/buy"
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        # signed in: the actor is resolved (and cached), the unknown sale is 404
        assert c.post(buy, json={"quantity": 1}).status_code == 404
        assert c.post(buy, json={"quantity": 1}).status_code == 404  # from the cache
        assert c.post("/api/v1/auth/logout").status_code == 204
        r = c.post(buy, json={"quantity": 1})
        assert r.status_code == 401, r.text

"""The cases' tests: the ledger's trade driver (orders paid and shipped through the real
services) and operators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ledger.conftest import ledger_sandbox_keys, sandbox, trade  # noqa: F401 (fixtures)
from xiaodian.actor import Actor


@pytest.fixture
def operators(make_user: Any) -> list[Actor]:
    """Three operators (no roles given: admins until someone gives them roles)."""
    users = [make_user(operator=True, display_name=f"运营{i}") for i in range(3)]
    return [Actor(user_id=u.id, is_operator=True, display_name=u.display_name) for u in users]

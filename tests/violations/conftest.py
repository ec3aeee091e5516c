"""The after-sales world (a shop, buyers, orders, an operator) serves the violations tests,
with a second operator to decide appeals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.health.conftest import World, png, world

__all__ = ["World", "png", "world"]


@pytest.fixture
def other_operator(make_user: Any) -> Any:
    return make_user(display_name="仲裁员", operator=True)

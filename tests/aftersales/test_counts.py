"""The dashboard's count of escalated cases (operators only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.aftersales.test_flows import _rejected_return
from xiaodian.actor import Actor
from xiaodian.aftersales import service
from xiaodian.errors import NotAuthenticated, PermissionDenied


def test_count_arbitration(world: World, clock: Any) -> None:
    assert service.count_arbitration(world.db, world.operator_actor) == 0
    _order, case = _rejected_return(world)
    assert service.count_arbitration(world.db, world.operator_actor) == 0  # rejected only
    service.escalate(world.db, world.buyer_actor, case.id)
    assert service.count_arbitration(world.db, world.operator_actor) == 1
    queue = service.arbitration_queue(world.db, world.operator_actor)
    assert queue.total == 1
    with pytest.raises(PermissionDenied):
        service.count_arbitration(world.db, world.buyer_actor)
    with pytest.raises(NotAuthenticated):
        service.count_arbitration(world.db, Actor())

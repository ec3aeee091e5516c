"""The dashboard's count of escalated cases (operators only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.aftersales.test_flows import _rejected_return
from xiaodian.actor import Actor
from xiaodian.aftersales import arbitration
from xiaodian.errors import NotAuthenticated, PermissionDenied


def test_count_arbitration(world: World, clock: Any) -> None:
    assert arbitration.count_arbitration(world.db, world.operator_actor) == 0
    _order, case = _rejected_return(world)
    assert arbitration.count_arbitration(world.db, world.operator_actor) == 0  # rejected only
    arbitration.escalate(world.db, world.buyer_actor, case.id)
    assert arbitration.count_arbitration(world.db, world.operator_actor) == 1
    queue = arbitration.arbitration_queue(world.db, world.operator_actor)
    assert queue.total == 1
    with pytest.raises(PermissionDenied):
        arbitration.count_arbitration(world.db, world.buyer_actor)
    with pytest.raises(NotAuthenticated):
        arbitration.count_arbitration(world.db, Actor())

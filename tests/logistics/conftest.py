"""Fixtures for logistics: a shipped order, and a sender that posts pushes to the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.orders.conftest import Scene
from tests.orders.conftest import scene as scene
from xiaodian import clock as clock_module
from xiaodian.orders import fulfilment, service
from xiaodian.orders.checkout import checkout

PUSH = "/api/v1/logistics/kuaidi100/push"


def shipped_order(db: Session, scene: Scene, tracking_no: str = "SF1234567890123") -> str:
    order = checkout(
        db, scene.buyer_actor, lines=[(scene.sku_id, 1)], address_id=scene.address_id
    ).orders[0]
    service.mark_paid(db, order_ids=[order.id], paid_at=clock_module.now(), payment_ref="P1")
    db.commit()
    fulfilment.ship_order(
        db, scene.owner_actor, scene.shop.id, order.order_no, carrier="SF", tracking_no=tracking_no
    )
    return order.order_no


@pytest.fixture
def send(client: TestClient) -> Callable[[str, str], Any]:
    """send(param, sign) -> the push endpoint's response (raises nothing)."""

    def _send(param: str, sign: str) -> Any:
        return client.post(PUSH, data={"param": param, "sign": sign})

    return _send

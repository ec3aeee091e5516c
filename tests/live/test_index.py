"""Viewers find the rooms: /live lists live rooms first, then upcoming ones; ended ones go."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.live.conftest import Scene
from xiaodian import clock
from xiaodian.content.live import service as live


def test_live_index_lists_live_rooms_first_and_hides_ended_ones(
    db: Session, scene: Scene, client: Any
) -> None:
    later = live.create_room(
        db,
        scene.host_actor,
        live.RoomInput(
            title="明早的茶会",
            scheduled_at=clock.now() + timedelta(minutes=30),
            shop_id=scene.shop.id,
            product_ids=[scene.product.id],
        ),
    )
    ended = live.create_room(
        db,
        scene.host_actor,
        live.RoomInput(
            title="昨天的直播",
            scheduled_at=clock.now() + timedelta(minutes=5),
            shop_id=scene.shop.id,
            product_ids=[scene.product.id],
        ),
    )
    live.transition(db, scene.host_actor, ended.id, "go_live")
    live.transition(db, scene.host_actor, ended.id, "end")
    # The scene's room starts latest but is the one live now.
    scene.live(db)
    db.rollback()

    page = client.get("/live")
    assert page.status_code == 200
    order = [int(i) for i in re.findall(r'data-room-id="(\d+)"', page.text)]
    assert order == [scene.room_id, later.id]
    assert "昨天的直播" not in page.text

    home = client.get("/")
    assert 'href="/live"' in home.text and 'href="/videos"' in home.text

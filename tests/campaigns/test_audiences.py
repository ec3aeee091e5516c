"""Who may claim a coupon: everyone; new buyers only (no paid order in the shop, for a
shop's coupon); or the viewers of one live room while it is on air (listed in the room,
not on the shop's page). Refusals write nothing; a room of another shop is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.campaigns import claims, service
from xiaodian.campaigns.models import Coupon
from xiaodian.content.live import service as live
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput
from xiaodian.orders import checkout as checkout_module
from xiaodian.orders import service as orders_service


def _claim(scene: Scene, user: Any, template_id: int) -> Any:
    with scene.database.session() as db:
        return claims.claim(db, actor_for(user), template_id)


def _coupons(scene: Scene) -> int:
    with scene.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(Coupon)) or 0


def _room(scene: Scene, *, shop_id: int | None = None) -> int:
    with scene.database.session() as db:
        room = live.create_room(
            db,
            scene.merchant,
            live.RoomInput(
                title="618 直播",
                scheduled_at=clock.now() + timedelta(hours=1),
                shop_id=shop_id or scene.shop_id,
                stream_url="https://live.example.com/hls/a.m3u8",
                product_ids=[scene.product_id],
            ),
        )
        return int(room.id)


def test_a_new_buyers_coupon_is_refused_after_a_paid_order(scene: Scene, make_user: Any) -> None:
    template = scene.template(audience="new_buyers", per_buyer_limit=2)
    newcomer, regular = make_user(), make_user()
    _claim(scene, newcomer, template.id)
    with scene.database.session() as db:
        address_id = make_address(db, regular.id)
        result = checkout_module.checkout(
            db,
            actor_for(regular),
            lines=[(scene.sku_id, 1)],
            address_id=address_id,
            from_cart=False,
        )
        order_id = result.orders[0].id
    _claim(scene, regular, template.id)  # ordered, not paid: still new
    with scene.database.session() as db:
        orders_service.mark_paid(
            db, order_ids=[order_id], paid_at=clock.now(), payment_ref="XDTEST1"
        )
        db.commit()
    before = _coupons(scene)
    with pytest.raises(Conflict) as refused:
        _claim(scene, regular, template.id)
    assert refused.value.code == "not_new_buyer" and _coupons(scene) == before
    # the platform's new-buyers coupon: a buyer who paid anywhere is not new
    platform = scene.template(
        platform=True,
        name="平台新客券",
        audience="new_buyers",
        kind="no_threshold",
        off_fen=500,
        min_spend_fen=0,
    )
    _claim(scene, newcomer, platform.id)
    with pytest.raises(Conflict):
        _claim(scene, regular, platform.id)


def test_a_live_room_coupon_is_claimed_in_its_room_while_it_is_on_air(
    scene: Scene, make_user: Any
) -> None:
    room_id = _room(scene)
    template = scene.template(audience="live_room", room_id=room_id)
    viewer = make_user()
    with scene.database.session(write=False) as db:
        assert [t.id for t in service.room_coupons(db, room_id=room_id)] == [template.id]
        assert template.id not in [t.id for t in service.claimable(db, shop_id=scene.shop_id)]
    with pytest.raises(IllegalTransition) as refused:
        _claim(scene, viewer, template.id)  # the room is not on air yet
    assert refused.value.code == "room_not_live" and _coupons(scene) == 0
    with scene.database.session() as db:
        live.transition(db, scene.merchant, room_id, "go_live")
    _claim(scene, viewer, template.id)
    with scene.database.session() as db:
        live.transition(db, scene.merchant, room_id, "end")
    with pytest.raises(IllegalTransition):
        _claim(scene, make_user(), template.id)
    assert _coupons(scene) == 1


def test_a_live_room_coupon_names_a_room_of_the_shop(scene: Scene, make_user: Any) -> None:
    with scene.database.session() as db:
        other_owner = make_user()
        other = make_shop(db, other_owner)
        theirs = make_product(db, other, skus=[("标准", 1000, 5)])
        their_room = live.create_room(
            db,
            actor_for(other_owner, {other.id: "owner"}),
            live.RoomInput(
                title="别家直播",
                scheduled_at=clock.now() + timedelta(hours=1),
                shop_id=other.id,
                stream_url="https://live.example.com/hls/b.m3u8",
                product_ids=[theirs.id],
            ),
        ).id
    for room_id, code in ((their_room, "bad_room"), (2**31, "bad_room"), (None, "bad_room")):
        with pytest.raises(InvalidInput) as refused:
            scene.template(audience="live_room", room_id=room_id)
        assert refused.value.code == code
    with pytest.raises(InvalidInput) as refused:
        scene.template(audience="friends")
    assert refused.value.code == "bad_audience"

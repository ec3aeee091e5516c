"""Demo live rooms: one live now in 花间衣橱 with products and one pinned, and a creator's
room scheduled for tomorrow evening, so /live and the host console have something to show.
Flash sales are left to the person trying the demo (they run against the clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.content import video_files
from xiaodian.content.live.models import LiveRoom, LiveRoomEvent, LiveRoomProduct, RoomStatus
from xiaodian.settings import Settings


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    now = clock.now()
    shop = ctx["shops"][0]
    host = ctx["merchants"][0]
    creator = ctx["creators"][0]
    shop_products = [p for p in ctx["products"] if p.shop_id == shop.id][:4]
    picks = ctx["products"][-3:]
    rooms = [
        (host, shop.id, "夏日穿搭专场 · 连衣裙上新", now - timedelta(minutes=20), shop_products),
        (creator, None, "达人好物分享夜", now + timedelta(days=1, hours=2), picks),
    ]
    for index, (user, shop_id, title, at, products) in enumerate(rooms):
        cover = media.save_image(video_files.placeholder_cover(f"live-{index}"), folder="covers")
        is_live = at <= now
        room = LiveRoom(
            host_id=user.id,
            shop_id=shop_id,
            title=title,
            cover_path=cover.path,
            cover_thumb_path=cover.thumb_path,
            scheduled_at=at,
            status=RoomStatus.LIVE if is_live else RoomStatus.SCHEDULED,
            pinned_product_id=products[0].id if is_live and products else None,
            started_at=at if is_live else None,
        )
        db.add(room)
        db.flush()
        db.add_all(
            LiveRoomProduct(room_id=room.id, product_id=p.id, position=i + 1)
            for i, p in enumerate(products)
        )
        db.add(
            LiveRoomEvent(room_id=room.id, actor_id=user.id, kind="created", to_status="scheduled")
        )
        if is_live:
            db.add(
                LiveRoomEvent(
                    room_id=room.id,
                    actor_id=user.id,
                    kind="go_live",
                    from_status="scheduled",
                    to_status="live",
                )
            )

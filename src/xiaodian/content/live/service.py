"""Live rooms: scheduling, the 小黄车 product list, going live and ending, pinning a
product, announcements, comments, likes, the snapshot a viewer starts from and the report.

Flash sales are in ``flash.py`` (buying in ``flash_purchase.py``, units of cancelled orders
back in ``flash_returns.py``, their per-process engine in ``flash_engine.py``, the Redis
gate in ``flash_gate.py``); the real-time stream and the batched statistics in
``events.py``. Every public function here is one transaction and commits, unless its
docstring says it joins the caller's transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from xiaodian import clock, realtime
from xiaodian.actor import Actor
from xiaodian.catalog import screening
from xiaodian.catalog import service as catalog_service
from xiaodian.catalog.service import Product, ProductStatus
from xiaodian.content.live.models import (
    ORDER_CHANNEL,
    FlashSale,
    LiveComment,
    LiveProductStat,
    LiveRoom,
    LiveRoomEvent,
    LiveRoomProduct,
    LiveViewer,
    RoomStatus,
    SaleStatus,
)
from xiaodian.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    _,
)
from xiaodian.orders import lifecycle as orders_lifecycle

MAX_PRODUCTS = 50
MAX_TITLE = 60
MAX_COMMENT = 200
MAX_ANNOUNCEMENT = 200
COMMENT_INTERVAL = timedelta(seconds=3)
LAST_COMMENTS = 30

# The room's state machine: action -> (from, to). Anything else is a 409.
TRANSITIONS: dict[str, tuple[RoomStatus, RoomStatus]] = {
    "go_live": (RoomStatus.SCHEDULED, RoomStatus.LIVE),
    "end": (RoomStatus.LIVE, RoomStatus.ENDED),
}
_TRANSITION_MESSAGES = {
    RoomStatus.SCHEDULED: _("The live has not started yet."),
    RoomStatus.LIVE: _("The room is already live."),
    RoomStatus.ENDED: _("The live has ended."),
}


def _rowcount(result: Any) -> int:
    """Rows matched by an UPDATE (a conditional one decides by it)."""
    return int(getattr(result, "rowcount", 0) or 0)


def channel(room_id: int) -> str:
    """The real-time channel of a room."""
    return f"room:{room_id}"


# --------------------------------------------------------------------------- input


@dataclass
class RoomInput:
    title: str
    scheduled_at: datetime
    shop_id: int | None = None
    stream_url: str | None = None
    replay_url: str | None = None
    product_ids: list[int] = field(default_factory=list)


def check_stream_url(value: str | None) -> str | None:
    """An http(s) URL (an HLS playlist usually ends with .m3u8), a file of this
    deployment's ``/media/`` (the demo's generated stream), or None; else 422."""
    value = (value or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    own_media = (
        not parts.scheme
        and not parts.netloc
        and parts.path.startswith("/media/")
        and ".." not in parts.path.split("/")
    )
    web = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not (web or own_media) or len(value) > 500 or any(c.isspace() for c in value):
        raise InvalidInput(
            _("The stream address must be an http:// or https:// URL."), code="bad_stream_url"
        )
    return value


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise InvalidInput(_("Give the live a title."), code="bad_title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            _("The title may have at most %(n)s characters."), code="bad_title", n=MAX_TITLE
        )
    return title


def _clean_text(text: str, limit: int, what: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise InvalidInput(_("Write something first."), code=f"empty_{what}")
    if len(text) > limit:
        raise InvalidInput(_("At most %(n)s characters, please."), code=f"long_{what}", n=limit)
    return text


# --------------------------------------------------------------------------- reading


def get_room(db: Session, room_id: int) -> LiveRoom:
    """Any room by id (public: everybody may watch); NotFound otherwise."""
    room = db.get(LiveRoom, room_id) if isinstance(room_id, int) and room_id > 0 else None
    if room is None:
        raise NotFound(_("Live room not found."), code="room_not_found")
    return room


def is_on_air(db: Session, room_id: int) -> bool:
    """Whether the room is live now (one query)."""
    status = db.scalar(select(LiveRoom.status).where(LiveRoom.id == room_id))
    return status == RoomStatus.LIVE


def host_room(db: Session, actor: Actor, room_id: int) -> LiveRoom:
    """A room the actor hosts; everybody else (signed in or not) gets NotFound."""
    user_id = actor.require_user()
    room = db.get(LiveRoom, room_id) if room_id > 0 else None
    if room is None or room.host_id != user_id:
        raise NotFound(_("Live room not found."), code="room_not_found")
    return room


def can_see_report(actor: Actor, room: LiveRoom) -> bool:
    if actor.user_id is None:
        return False
    if room.host_id == actor.user_id:
        return True
    return room.shop_id is not None and actor.can_manage_shop(room.shop_id)


def room_products(db: Session, room_id: int) -> list[Product]:
    """The 小黄车 in order (position 1..N), products loaded in one query."""
    ids = list(
        db.scalars(
            select(LiveRoomProduct.product_id)
            .where(LiveRoomProduct.room_id == room_id)
            .order_by(LiveRoomProduct.position)
        )
    )
    products = catalog_service.get_products(db, ids)
    return [products[i] for i in ids if i in products]


def list_host_rooms(db: Session, actor: Actor) -> list[LiveRoom]:
    """The rooms the actor hosts, newest first."""
    user_id = actor.require_user()
    return list(
        db.scalars(
            select(LiveRoom)
            .where(LiveRoom.host_id == user_id)
            .order_by(LiveRoom.scheduled_at.desc(), LiveRoom.id.desc())
        )
    )


def list_shop_rooms(db: Session, actor: Actor, shop_id: int) -> list[LiveRoom]:
    """The rooms of a shop (its staff only), newest first."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(LiveRoom)
            .where(LiveRoom.shop_id == shop_id)
            .order_by(LiveRoom.scheduled_at.desc(), LiveRoom.id.desc())
        )
    )


def followed_rooms(
    db: Session, *, shop_ids: list[int], host_ids: list[int], limit: int = 20
) -> list[LiveRoom]:
    """Rooms of these shops or creators that are live now or coming (live first)."""
    if not shop_ids and not host_ids:
        return []
    return list(
        db.scalars(
            select(LiveRoom)
            .where(
                LiveRoom.status != RoomStatus.ENDED,
                or_(
                    LiveRoom.shop_id.in_(shop_ids),
                    and_(LiveRoom.shop_id.is_(None), LiveRoom.host_id.in_(host_ids)),
                ),
            )
            .order_by(case((LiveRoom.status == RoomStatus.LIVE, 0), else_=1), LiveRoom.scheduled_at)
            .limit(limit)
        )
    )


def list_public_rooms(db: Session, *, limit: int = 20) -> list[LiveRoom]:
    """Rooms live now, then the upcoming ones (for a "live" section on the home page)."""
    return list(
        db.scalars(
            select(LiveRoom)
            .where(LiveRoom.status != RoomStatus.ENDED)
            .order_by(case((LiveRoom.status == RoomStatus.LIVE, 0), else_=1), LiveRoom.scheduled_at)
            .limit(limit)
        )
    )


def room_events(db: Session, room_id: int) -> list[LiveRoomEvent]:
    return list(
        db.scalars(
            select(LiveRoomEvent).where(LiveRoomEvent.room_id == room_id).order_by(LiveRoomEvent.id)
        )
    )


def recent_comments(db: Session, room_id: int, limit: int = LAST_COMMENTS) -> list[LiveComment]:
    rows = list(
        db.scalars(
            select(LiveComment)
            .where(LiveComment.room_id == room_id)
            .order_by(LiveComment.id.desc())
            .limit(limit)
        )
    )
    rows.reverse()
    return rows


# --------------------------------------------------------------------------- writing


def _record(
    db: Session,
    room: LiveRoom,
    actor_id: int | None,
    kind: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
) -> None:
    db.add(
        LiveRoomEvent(
            room_id=room.id,
            actor_id=actor_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            note=note,
            at=clock.now(),
        )
    )


def _check_products(
    db: Session, actor: Actor, shop_id: int | None, product_ids: list[int]
) -> list[int]:
    """Unique ids, each an on-sale product; a merchant room may only list its shop's."""
    ids: list[int] = []
    for pid in product_ids:
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise NotFound(_("Product not found."), code="product_not_found")
        if pid not in ids:
            ids.append(pid)
    if len(ids) > MAX_PRODUCTS:
        raise InvalidInput(
            _("At most %(n)s products per live."), code="too_many_products", n=MAX_PRODUCTS
        )
    products = catalog_service.get_products(db, ids)
    for pid in ids:
        product = products.get(pid)
        if product is None or (shop_id is not None and product.shop_id != shop_id):
            raise NotFound(_("Product not found."), code="product_not_found")
        if product.status != ProductStatus.ON_SALE:
            raise Conflict(
                _("%(item)s is not on sale."), code="product_not_on_sale", item=product.title
            )
    return ids


def _set_products(db: Session, room: LiveRoom, ids: list[int]) -> None:
    existing = {
        row.product_id: row
        for row in db.scalars(select(LiveRoomProduct).where(LiveRoomProduct.room_id == room.id))
    }
    for pid, row in existing.items():
        if pid not in ids:
            db.delete(row)
    for position, pid in enumerate(ids, start=1):
        found = existing.get(pid)
        if found is None:
            db.add(LiveRoomProduct(room_id=room.id, product_id=pid, position=position))
        else:
            found.position = position
    if room.pinned_product_id is not None and room.pinned_product_id not in ids:
        room.pinned_product_id = None


RoomCheck = Callable[[Session, int], DomainError | None]
_room_checks: list[RoomCheck] = []


def room_check(check: RoomCheck) -> RoomCheck:
    """Register a check of "may this shop open a new live room?" (a higher domain's, as
    merchant health's threshold): it gets the shop id and returns the error to refuse with,
    or None. Asked by ``create_room`` for a shop's room, in registration order."""
    _room_checks.append(check)
    return check


_air_checks: list[RoomCheck] = []


def air_check(check: RoomCheck) -> RoomCheck:
    """Register a check of "may this shop's room go on air now?" (a higher domain's, as a
    violation's limit on live selling): asked by ``transition`` before a shop's room goes
    live, as ``room_check`` is before one is created."""
    _air_checks.append(check)
    return check


def _may_go_on_air(db: Session, shop_id: int) -> None:
    for check in _air_checks:
        refusal = check(db, shop_id)
        if refusal is not None:
            raise refusal


def _may_open_room(db: Session, shop_id: int) -> None:
    for check in _room_checks:
        refusal = check(db, shop_id)
        if refusal is not None:
            raise refusal


def create_room(
    db: Session,
    actor: Actor,
    data: RoomInput,
    *,
    cover: bytes | None = None,
) -> LiveRoom:
    """Schedule a live. Merchants host for their shop (``shop_id``, staff or owner),
    creators for themselves; anyone else: PermissionDenied."""
    user_id = actor.require_user()
    if data.shop_id is not None:
        actor.require_shop(data.shop_id)
        _may_open_room(db, data.shop_id)
    elif not actor.is_creator:
        raise PermissionDenied(_("Only creators and merchants can host a live."), code="not_a_host")
    title = _clean_title(data.title)
    stream_url = check_stream_url(data.stream_url)
    replay_url = check_stream_url(data.replay_url)
    if data.scheduled_at.tzinfo is None:
        raise InvalidInput(_("Choose a start time."), code="bad_time")
    ids = _check_products(db, actor, data.shop_id, data.product_ids)
    stored = _save_cover(cover)
    room = LiveRoom(
        host_id=user_id,
        shop_id=data.shop_id,
        title=title,
        scheduled_at=data.scheduled_at,
        stream_url=stream_url,
        replay_url=replay_url,
        status=RoomStatus.SCHEDULED,
        cover_path=stored.path if stored else None,
        cover_thumb_path=stored.thumb_path if stored else None,
        created_at=clock.now(),
    )
    db.add(room)
    db.flush()
    _set_products(db, room, ids)
    _record(db, room, user_id, "created", to_status=str(RoomStatus.SCHEDULED))
    db.commit()
    return room


def _save_cover(cover: bytes | None) -> Any:
    if not cover:
        return None
    from xiaodian import media

    return media.save_image(cover, folder="live")


def update_room(
    db: Session, actor: Actor, room_id: int, data: RoomInput, *, cover: bytes | None = None
) -> LiveRoom:
    """Edit a room (host only) before it ends: title, time, URLs, products, cover."""
    room = host_room(db, actor, room_id)
    if room.status == RoomStatus.ENDED and data.product_ids:
        # After the live only the replay link may change.
        pass
    title = _clean_title(data.title)
    stream_url = check_stream_url(data.stream_url)
    replay_url = check_stream_url(data.replay_url)
    if room.status != RoomStatus.ENDED:
        ids = _check_products(db, actor, room.shop_id, data.product_ids)
        _set_products(db, room, ids)
        if data.scheduled_at.tzinfo is not None and room.status == RoomStatus.SCHEDULED:
            room.scheduled_at = data.scheduled_at
    stored = _save_cover(cover)
    room.title = title
    room.stream_url = stream_url
    room.replay_url = replay_url
    if stored:
        room.cover_path, room.cover_thumb_path = stored.path, stored.thumb_path
    _record(db, room, actor.user_id, "edited")
    realtime.publish(channel(room.id), {"type": "room", "room": room_view(room)}, db=db)
    db.commit()
    return room


def transition(db: Session, actor: Actor, room_id: int, action: str) -> LiveRoom:
    """Go live or end (host only). Ending stops the room's flash sales: their unsold units
    go back to the SKU. Illegal moves raise IllegalTransition (409)."""
    room = host_room(db, actor, room_id)
    if action not in TRANSITIONS:
        raise InvalidInput(_("Unknown action."), code="bad_action")
    source, target = TRANSITIONS[action]
    if target == RoomStatus.LIVE and room.shop_id is not None:
        _may_go_on_air(db, room.shop_id)
    now = clock.now()
    stamp = {"started_at": now} if target == RoomStatus.LIVE else {"ended_at": now}
    moved = _rowcount(
        db.execute(
            update(LiveRoom)
            .where(LiveRoom.id == room.id, LiveRoom.status == source)
            .values(status=target, **stamp)
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        db.rollback()
        current = get_room(db, room_id).status
        raise IllegalTransition(_TRANSITION_MESSAGES[current], code="illegal_transition")
    db.expire(room)
    _record(db, room, actor.user_id, action, from_status=str(source), to_status=str(target))
    if target == RoomStatus.ENDED:
        from xiaodian.content.live import flash

        for sale in db.scalars(
            select(FlashSale).where(
                FlashSale.room_id == room.id,
                FlashSale.status.in_([SaleStatus.RUNNING, SaleStatus.DRAFT]),
            )
        ):
            flash.stop_sale_in_tx(db, sale, actor_id=actor.user_id, reason="room ended")
    realtime.publish(
        channel(room.id),
        {"type": "room", "room": room_view(room)},
        db=db,
    )
    db.commit()
    return room


def pin_product(db: Session, actor: Actor, room_id: int, product_id: int | None) -> LiveRoom:
    """Pin (讲解中) one of the room's products, or unpin with None. Host only, while live."""
    room = host_room(db, actor, room_id)
    if room.status != RoomStatus.LIVE:
        raise IllegalTransition(_("Pin products while the room is live."), code="not_live")
    card = None
    if product_id is not None:
        listed = db.scalar(
            select(LiveRoomProduct.position).where(
                LiveRoomProduct.room_id == room.id, LiveRoomProduct.product_id == product_id
            )
        )
        if listed is None:
            raise NotFound(_("This product is not in the room's list."), code="product_not_listed")
        card = product_card(catalog_service.get_product(db, product_id), listed)
    room.pinned_product_id = product_id
    _record(db, room, actor.user_id, "pin", note=str(product_id) if product_id else None)
    realtime.publish(channel(room.id), {"type": "pin", "product": card}, db=db)
    db.commit()
    return room


def announce(db: Session, actor: Actor, room_id: int, text: str) -> None:
    """Push a coupon-like announcement to every viewer (host only, while live)."""
    room = host_room(db, actor, room_id)
    if room.status != RoomStatus.LIVE:
        raise IllegalTransition(_("Announcements are for live rooms."), code="not_live")
    text = _clean_text(text, MAX_ANNOUNCEMENT, "announcement")
    _record(db, room, actor.user_id, "announcement", note=text)
    realtime.publish(
        channel(room.id),
        {"type": "announcement", "text": text, "at": clock.now().isoformat()},
        db=db,
    )
    db.commit()


class _CommentLimiter:
    """One comment per user every few seconds (per process; enough to stop a flood)."""

    def __init__(self) -> None:
        self._last: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def check(self, user_id: int) -> None:
        now = clock.now()
        with self._lock:
            last = self._last.get(user_id)
            if last is not None and now - last < COMMENT_INTERVAL and now >= last:
                raise RateLimited(_("You are commenting too fast."), code="too_fast")
            if len(self._last) > 100_000:
                self._last.clear()
            self._last[user_id] = now


comment_limiter = _CommentLimiter()


def _screen(text: str) -> str:
    hits = screening.find_hits(text)
    for word in hits:
        text = text.replace(word, "*" * len(word))
    return text


def post_comment(db: Session, actor: Actor, room_id: int, body: str) -> LiveComment:
    """A signed-in viewer comments on a live room (length-limited, screened, rate-limited)."""
    user_id = actor.require_user()
    room = get_room(db, room_id)
    if room.status != RoomStatus.LIVE:
        raise IllegalTransition(_("Comments are open while the room is live."), code="not_live")
    text = _screen(_clean_text(body, MAX_COMMENT, "comment"))
    comment_limiter.check(user_id)
    comment = LiveComment(
        room_id=room.id,
        user_id=user_id,
        author=actor.display_name or "",
        body=text,
        at=clock.now(),
    )
    db.add(comment)
    db.flush()
    realtime.publish(channel(room.id), {"type": "comment", **comment_view(comment)}, db=db)
    db.commit()
    return comment


# --------------------------------------------------------------------------- views


def room_view(room: LiveRoom) -> dict[str, Any]:
    return {
        "id": room.id,
        "title": room.title,
        "status": str(room.status),
        "stream_url": room.stream_url if room.status == RoomStatus.LIVE else None,
        "replay_url": room.replay_url if room.status == RoomStatus.ENDED else None,
        "cover": f"/media/{room.cover_path}" if room.cover_path else None,
        "scheduled_at": room.scheduled_at.isoformat(),
        "likes": room.likes,
    }


def product_card(product: Product, position: int | None = None) -> dict[str, Any]:
    skus = [s for s in product.skus if s.is_active]
    return {
        "id": product.id,
        "position": position,
        "title": product.title,
        "price_fen": product.min_price_fen,
        "thumb": f"/media/{product.cover_path}" if product.cover_path else None,
        "url": f"/products/{product.id}",
        "on_sale": product.status == ProductStatus.ON_SALE,
        "skus": [{"id": s.id, "spec": s.spec_key, "price_fen": s.price_fen} for s in skus],
    }


def comment_view(comment: LiveComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "author": comment.author,
        "body": comment.body,
        "at": comment.at.isoformat(),
    }


def snapshot(db: Session, room_id: int) -> dict[str, Any]:
    """Everything a viewer needs to draw the room now (the SSE ``snapshot`` event).
    Read only; a constant number of queries."""
    from xiaodian.content.live import flash

    room = get_room(db, room_id)
    products = room_products(db, room.id)
    cards = [product_card(p, i) for i, p in enumerate(products, start=1)]
    pinned = next((c for c in cards if c["id"] == room.pinned_product_id), None)
    sales = [flash.sale_view(s) for s in flash.room_sales(db, room.id)]
    return {
        "type": "snapshot",
        "room": room_view(room),
        "pinned": pinned,
        "products": cards,
        "sales": sales,
        "comments": [comment_view(c) for c in recent_comments(db, room.id)],
    }


# --------------------------------------------------------------------------- report


@dataclass
class ProductRow:
    product_id: int
    title: str
    clicks: int = 0
    orders: int = 0
    units: int = 0
    gmv_fen: int = 0


@dataclass
class Report:
    room: LiveRoom
    peak_viewers: int
    total_viewers: int
    watch_seconds: int
    clicks: int
    orders: int
    paid_orders: int
    buyers: int
    gmv_fen: int
    likes: int
    comments: int
    rows: list[ProductRow]

    @property
    def conversion(self) -> float:
        """Buyers (paid) per distinct viewer, 0..1."""
        return self.buyers / self.total_viewers if self.total_viewers else 0.0

    @property
    def watch_minutes(self) -> int:
        return round(self.watch_seconds / 60)


def report(db: Session, actor: Actor, room_id: int) -> Report:
    """Figures of a live for its host and its shop's staff (others: NotFound). Read only."""
    from xiaodian.orders import service as orders_service
    from xiaodian.orders.service import OrderStatus

    actor.require_user()
    room = db.get(LiveRoom, room_id) if room_id > 0 else None
    if room is None or not can_see_report(actor, room):
        raise NotFound(_("Live room not found."), code="room_not_found")
    total_viewers, watch = db.execute(
        select(
            func.count(LiveViewer.id), func.coalesce(func.sum(LiveViewer.watch_seconds), 0)
        ).where(LiveViewer.room_id == room.id)
    ).one()
    clicks = dict(
        db.execute(
            select(LiveProductStat.product_id, LiveProductStat.clicks).where(
                LiveProductStat.room_id == room.id
            )
        ).all()
    )
    comments = db.scalar(select(func.count(LiveComment.id)).where(LiveComment.room_id == room.id))
    orders = orders_service.channel_orders(db, channel=ORDER_CHANNEL, ref_id=room.id)
    paid_states = {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED}
    paid = [o for o in orders if o.status in paid_states or o.paid_fen > 0]
    listed = room_products(db, room.id)
    rows = {p.id: ProductRow(p.id, p.title, clicks=int(clicks.get(p.id, 0))) for p in listed}
    for order in orders:
        for line in order.lines:
            row = rows.get(line.product_id)
            if row is None:
                row = rows[line.product_id] = ProductRow(line.product_id, line.title)
            row.orders += 1
            if order in paid:
                row.units += line.quantity
                row.gmv_fen += line.amount_fen
    return Report(
        room=room,
        peak_viewers=room.peak_viewers,
        total_viewers=int(total_viewers or 0),
        watch_seconds=int(watch or 0),
        clicks=sum(int(v) for v in clicks.values()),
        orders=len(orders),
        paid_orders=len(paid),
        buyers=len({o.buyer_id for o in paid}),
        gmv_fen=sum(o.total_fen for o in paid),
        likes=room.likes,
        comments=int(comments or 0),
        rows=list(rows.values()),
    )


def choosable_products(db: Session, actor: Actor, *, shop_id: int | None) -> list[Product]:
    """On-sale products offered as checkboxes in the room form: a merchant room's shop
    products (newest 100). Creators type product numbers instead (any on-sale product)."""
    if shop_id is None:
        return []
    page = catalog_service.list_shop_products(
        db, actor, shop_id, status=ProductStatus.ON_SALE, per_page=100
    )
    return list(page.items)


@orders_lifecycle.channel_check(ORDER_CHANNEL)
def _prove_room(db: Session, room_id: int, product_ids: list[int]) -> int | None:
    """Checkout's "live" channel claimed by a page counts only when the room's 小黄车 lists
    one of the products (``orders.lifecycle``). One query; joins the caller's transaction
    (read only)."""
    found = db.scalar(
        select(LiveRoomProduct.id)
        .where(LiveRoomProduct.room_id == room_id, LiveRoomProduct.product_id.in_(product_ids))
        .limit(1)
    )
    return room_id if found is not None else None

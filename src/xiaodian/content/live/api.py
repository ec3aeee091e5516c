"""JSON API of live rooms, under /api/v1/live. Routers are thin: parse, call, shape."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from xiaodian.content.live import events, flash, flash_engine
from xiaodian.content.live import service as live_service
from xiaodian.content.live.schemas import (
    BuyOut,
    ClickIn,
    CommentIn,
    CommentOut,
    LikesIn,
    PinIn,
    ReportOut,
    RoomIn,
    RoomOut,
    SaleIn,
    SaleOut,
    TextIn,
    report_out,
)
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn, get_actor
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id, existing_id

router = routing.router(
    prefix="/live",
    tags=["live"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429),
)

VIEWER_COOKIE = "xd_viewer"


def _room_in(body: RoomIn) -> live_service.RoomInput:
    return live_service.RoomInput(
        title=body.title,
        scheduled_at=body.scheduled_at,
        shop_id=body.shop_id,
        stream_url=body.stream_url,
        replay_url=body.replay_url,
        product_ids=body.product_ids,
    )


@router.get("/rooms")
def my_rooms(db: DbDep, actor: SignedIn) -> list[RoomOut]:
    """The rooms the signed-in user hosts."""
    return [RoomOut.model_validate(r) for r in live_service.list_host_rooms(db, actor)]


@router.post("/rooms", status_code=status.HTTP_201_CREATED)
def create_room(body: RoomIn, db: DbDep, actor: SignedIn) -> RoomOut:
    """Schedule a live (merchant staff with ``shop_id``, or a creator)."""
    return RoomOut.model_validate(live_service.create_room(db, actor, _room_in(body)))


@router.get("/rooms/{room_id}")
def get_room(room_id: Id, db: DbDep) -> dict[str, Any]:
    """The room as a viewer first sees it (the same as the stream's snapshot)."""
    return live_service.snapshot(db, room_id)


@router.patch("/rooms/{room_id}")
def update_room(room_id: Id, body: RoomIn, db: DbDep, actor: SignedIn) -> RoomOut:
    return RoomOut.model_validate(live_service.update_room(db, actor, room_id, _room_in(body)))


@router.post("/rooms/{room_id}/go-live")
def go_live(room_id: Id, db: DbDep, actor: SignedIn) -> RoomOut:
    return RoomOut.model_validate(live_service.transition(db, actor, room_id, "go_live"))


@router.post("/rooms/{room_id}/end")
def end(room_id: Id, db: DbDep, actor: SignedIn) -> RoomOut:
    return RoomOut.model_validate(live_service.transition(db, actor, room_id, "end"))


@router.post("/rooms/{room_id}/pin")
def pin(room_id: Id, body: PinIn, db: DbDep, actor: SignedIn) -> RoomOut:
    return RoomOut.model_validate(live_service.pin_product(db, actor, room_id, body.product_id))


@router.post("/rooms/{room_id}/announcements", status_code=status.HTTP_204_NO_CONTENT)
def announce(room_id: Id, body: TextIn, db: DbDep, actor: SignedIn) -> None:
    live_service.announce(db, actor, room_id, body.text)


@router.get("/rooms/{room_id}/comments")
def comments(room_id: Id, db: DbDep) -> list[CommentOut]:
    live_service.get_room(db, room_id)
    return [
        CommentOut(**live_service.comment_view(c))
        for c in live_service.recent_comments(db, room_id)
    ]


@router.post("/rooms/{room_id}/comments", status_code=status.HTTP_201_CREATED)
def post_comment(room_id: Id, body: CommentIn, db: DbDep, actor: SignedIn) -> CommentOut:
    comment = live_service.post_comment(db, actor, room_id, body.body)
    return CommentOut(**live_service.comment_view(comment))


@router.post("/rooms/{room_id}/likes", status_code=status.HTTP_202_ACCEPTED)
def like(room_id: Id, body: LikesIn, db: DbDep) -> dict[str, int]:
    """Taps on the heart, batched by the page (counted in memory, written every few s)."""
    live_service.get_room(db, room_id)
    return {"accepted": events.record_likes(room_id, body.count)}


@router.post("/rooms/{room_id}/clicks", status_code=status.HTTP_202_ACCEPTED)
def click(room_id: Id, body: ClickIn, db: DbDep) -> dict[str, bool]:
    """A beacon: a product card or the 小黄车 sheet was opened."""
    products = {p.id for p in live_service.room_products(db, room_id)}
    if body.product_id not in products:
        raise NotFound(_("This product is not in the room's list."), code="product_not_listed")
    events.record_click(room_id, body.product_id)
    return {"ok": True}


@router.get("/rooms/{room_id}/report")
def report(room_id: Id, db: DbDep, actor: SignedIn) -> ReportOut:
    return report_out(live_service.report(db, actor, room_id))


# --------------------------------------------------------------------------- flash sales


def _sale_in(body: SaleIn) -> flash.SaleInput:
    return flash.SaleInput(**body.model_dump())


@router.get("/rooms/{room_id}/flash-sales")
def sales(room_id: Id, db: DbDep) -> list[SaleOut]:
    live_service.get_room(db, room_id)
    return [SaleOut(**flash.sale_view(s)) for s in flash.room_sales(db, room_id)]


@router.post("/rooms/{room_id}/flash-sales", status_code=status.HTTP_201_CREATED)
def open_sale(room_id: Id, body: SaleIn, db: DbDep, actor: SignedIn) -> SaleOut:
    return SaleOut(**flash.sale_view(flash.open_sale(db, actor, room_id, _sale_in(body))))


@router.post("/rooms/{room_id}/flash-sales/{sale_id}/start")
def start_sale(room_id: Id, sale_id: Id, db: DbDep, actor: SignedIn) -> SaleOut:
    return SaleOut(**flash.sale_view(flash.start_sale(db, actor, room_id, sale_id)))


@router.post("/rooms/{room_id}/flash-sales/{sale_id}/stop")
def stop_sale(room_id: Id, sale_id: Id, db: DbDep, actor: SignedIn) -> SaleOut:
    return SaleOut(**flash.sale_view(flash.stop_sale(db, actor, room_id, sale_id)))


async def engine_for(request: Request) -> flash_engine.FlashEngine:
    if flash_engine.engine is None or events.runtime.database is not request.app.state.db:
        await events.ensure_started(request.app)
    assert flash_engine.engine is not None
    return flash_engine.engine


@router.post(
    "/rooms/{room_id}/flash-sales/{sale_id}/buy",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "sold out, limit reached, not running or not live"}},
)
async def buy(room_id: Id, sale_id: Id, request: Request) -> JSONResponse:
    """Buy from a running flash sale: ``{"quantity": 1, "address_id": null}`` (the default
    address when omitted). 201 with the order number and the cashier URL; 409 sold out /
    limit reached / not running; 422 bad quantity or no address yet; 404 unknown."""
    actor = await get_actor(request)
    actor.require_user()
    try:
        body = await request.json()
    except (ValueError, ClientDisconnect):
        body = None
    if not isinstance(body, dict):
        raise InvalidInput(_("The request body is not valid JSON."), code="invalid")
    address_id = buy_address(body)
    engine = await engine_for(request)
    done = await engine.buy(
        actor,
        room_id=room_id,
        sale_id=sale_id,
        quantity=body.get("quantity", 1),
        address_id=address_id,
    )
    out = BuyOut(
        order_no=done.order_no,
        pay_url=done.pay_url,
        quantity=done.quantity,
        amount_fen=done.amount_fen,
        remaining=done.remaining,
    )
    return JSONResponse(out.model_dump(), status_code=201)


def buy_address(body: dict[str, Any]) -> int | None:
    """The address a buy names (None: the default one); the fast path reads it the same."""
    address_id = body.get("address_id")
    if address_id is None:
        return None
    if not isinstance(address_id, int) or isinstance(address_id, bool):
        raise InvalidInput(_("Choose an address."), code="bad_address")
    return existing_id(address_id)


# --------------------------------------------------------------------------- events


async def event_stream(request: Request, room_id: int) -> StreamingResponse:
    """Server-Sent Events of a room: ``snapshot`` first (on every reconnection), then
    ``room``, ``pin``, ``sale``, ``sale_progress``, ``comment``, ``announcement``,
    ``likes`` and ``viewers`` events, with a keep-alive comment every ~15 s."""
    await engine_for(request)
    database = request.app.state.db
    from starlette.concurrency import run_in_threadpool

    if room_id <= 0 or not await run_in_threadpool(events.room_exists, database, room_id):
        raise NotFound(_("Live room not found."), code="room_not_found")
    actor = await get_actor(request)
    anon = request.cookies.get(VIEWER_COOKIE, "")
    if actor.user_id is not None:
        key = f"u:{actor.user_id}"
    elif anon.isalnum() and 8 <= len(anon) <= 40:
        key = f"a:{anon}"
    else:
        key = f"a:{secrets.token_hex(8)}"
    return StreamingResponse(
        events.stream(database, room_id, viewer_key=key, user_id=actor.user_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/rooms/{room_id}/events", response_class=StreamingResponse)
async def room_events(room_id: Id, request: Request) -> StreamingResponse:
    return await event_stream(request, room_id)

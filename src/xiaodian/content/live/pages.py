"""Live room pages: the viewer's room, the host console, the report, the host lists.

Host actions are plain forms (POST, CSRF, redirect back); the live parts (events, buying,
comments, likes) are small hand-written scripts under /static/live/ calling the JSON API.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fastapi import File, Request, UploadFile
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from xiaodian import clock, media
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.content.live import api as live_api
from xiaodian.content.live import events, flash
from xiaodian.content.live import service as live_service
from xiaodian.content.live.models import LiveRoom, RoomStatus
from xiaodian.errors import DomainError, InvalidInput, _
from xiaodian.follows import service as follows_service
from xiaodian.merchants import service as merchants_service
from xiaodian.web import forms, routing
from xiaodian.web.deps import CurrentActor, DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_fen, form_id, form_int

router = routing.router(include_in_schema=False, lifespan=events.lifespan)


def _parse_time(value: str) -> datetime:
    """A ``datetime-local`` input, read as Beijing time."""
    try:
        local = datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(_("Choose a start time."), code="bad_time") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=clock.BUSINESS_TZ)
    return local


def _ids(value: str | list[str]) -> list[int]:
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        for part in str(item).replace("，", ",").replace(" ", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(form_id(part))
            except ValueError:
                raise InvalidInput(
                    _("Product numbers are digits, separated by commas."), code="bad_ids"
                ) from None
    return out


def _yuan(value: str) -> int:
    try:
        return form_fen((value or "").strip())
    except ValueError:
        raise InvalidInput(_("Enter a price in yuan, e.g. 9.90."), code="bad_price") from None


def _int(value: str, code: str) -> int:
    try:
        return form_int(value)
    except ValueError:
        raise InvalidInput(_("Enter a whole number."), code=code) from None


async def _cover(upload: UploadFile | None) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    return await media.read_upload(upload, limit=settings_module.current().max_image_bytes)


# --------------------------------------------------------------------------- viewer


@router.get("/live")
def rooms_page(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    """Where viewers find the rooms: live now first, then the upcoming ones."""
    return render(request, "live/index.html", {"rooms": live_service.list_public_rooms(db)})


@router.get("/live/{room_id}")
def room_page(request: Request, db: DbDep, actor: CurrentActor, room_id: Id) -> Response:
    room = live_service.get_room(db, room_id)
    snap = live_service.snapshot(db, room.id)
    ctx = {
        "room": room,
        "snap": snap,
        "is_host": actor.user_id == room.host_id,
        "can_report": live_service.can_see_report(actor, room),
        "running": [s for s in snap["sales"] if s["status"] == "running"],
    }
    # the room's follow: its shop's (a merchant room) or its creator's
    kind, target = ("shop", room.shop_id) if room.shop_id else ("creator", room.host_id)
    ctx["follow_kind"], ctx["follow_id"] = kind, target
    ctx["is_following"] = bool(follows_service.following(db, actor.user_id, kind, [target]))
    response = render(request, "live/room.html", ctx)
    if not request.cookies.get(live_api.VIEWER_COOKIE):
        response.set_cookie(
            live_api.VIEWER_COOKIE, secrets.token_hex(8), max_age=365 * 86400, samesite="lax"
        )
    return response


@router.get("/live/{room_id}/events", response_class=StreamingResponse)
async def room_events(request: Request, room_id: Id) -> StreamingResponse:
    return await live_api.event_stream(request, room_id)


@router.post("/live/{room_id}/sales/{sale_id}/buy")
async def buy_form(request: Request, actor: PageUser, room_id: Id, sale_id: Id) -> Response:
    """The no-script buy button: buy one, then go to the cashier."""
    form = await request.form()
    raw = str(form.get("quantity") or "1")
    try:
        quantity: int | str = form_int(raw)
    except ValueError:
        quantity = raw  # refused by the sale as not a whole number
    try:
        engine = await live_api.engine_for(request)
        done = await engine.buy(actor, room_id=room_id, sale_id=sale_id, quantity=quantity)
    except DomainError as exc:
        if exc.code == "address_required":
            return RedirectResponse(f"/addresses?next=/live/{room_id}", status_code=303)
        raise
    return RedirectResponse(done.pay_url, status_code=303)


# --------------------------------------------------------------------------- host lists


def _room_form_ctx(db: Any, actor: Actor, *, shop_id: int | None) -> dict[str, Any]:
    return {
        "choosable": live_service.choosable_products(db, actor, shop_id=shop_id),
        "form": {},
        "shop_id": shop_id,
    }


STUDIO = "live/studio.html"
SHOP_ROOMS = "live/shop_rooms.html"
HOST = "live/host.html"


def _studio_ctx(db: Any, actor: Actor) -> dict[str, Any]:
    return {
        "rooms": live_service.list_host_rooms(db, actor),
        "shops": merchants_service.my_shops(db, actor),
        **_room_form_ctx(db, actor, shop_id=None),
    }


def _shop_rooms_ctx(db: Any, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "content",
        "rooms": live_service.list_shop_rooms(db, actor, shop_id),
        **_room_form_ctx(db, actor, shop_id=shop_id),
    }


@router.get("/studio/live")
def studio_rooms(request: Request, db: DbDep, actor: PageUser) -> Response:
    return render(request, STUDIO, _studio_ctx(db, actor))


async def _create(
    request: Request, db: Any, actor: Actor, shop_id: int | None, cover: UploadFile | None
) -> LiveRoom:
    form = await request.form()
    data = live_service.RoomInput(
        title=str(form.get("title") or ""),
        scheduled_at=_parse_time(str(form.get("scheduled_at") or "")),
        shop_id=shop_id,
        stream_url=str(form.get("stream_url") or ""),
        replay_url=str(form.get("replay_url") or ""),
        product_ids=_ids(
            [str(v) for v in form.getlist("product_ids")] + [str(form.get("product_numbers") or "")]
        ),
    )
    return live_service.create_room(db, actor, data, cover=await _cover(cover))


@router.post("/studio/live")
async def studio_create(
    request: Request, db: DbDep, actor: PageUser, cover: UploadFile | None = File(None)
) -> Response:
    return await forms.submit_async(
        request,
        db,
        lambda: _create(request, db, actor, None, cover),
        done=lambda room: f"/live/{room.id}/host",
        template=STUDIO,
        context=lambda: _studio_ctx(db, actor),
        values={"form": await request.form()},
        page_errors=(),
    )


@router.get("/merchant/shops/{shop_id}/live")
def shop_rooms(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    return render(request, SHOP_ROOMS, _shop_rooms_ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/live")
async def shop_create(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    cover: UploadFile | None = File(None),
) -> Response:
    merchants_service.console_shop(db, actor, shop_id)  # strangers: 404 before anything else
    return await forms.submit_async(
        request,
        db,
        lambda: _create(request, db, actor, shop_id, cover),
        done=lambda room: f"/live/{room.id}/host",
        template=SHOP_ROOMS,
        context=lambda: _shop_rooms_ctx(db, actor, shop_id),
        values={"form": await request.form()},
        page_errors=(),
    )


# --------------------------------------------------------------------------- host console


def _console_ctx(request: Request, db: Any, actor: Actor, room_id: int) -> dict[str, Any]:
    room = live_service.host_room(db, actor, room_id)
    products = live_service.room_products(db, room.id)
    sales = flash.room_sales(db, room.id)
    return {
        "room": room,
        "products": products,
        "sales": sales,
        "sale_views": [flash.sale_view(s) for s in sales],
        "comments": live_service.recent_comments(db, room.id),
        "notice": request.query_params.get("done"),
        "live": room.status == RoomStatus.LIVE,
        "product_numbers": ",".join(str(p.id) for p in products),
    }


@router.get("/live/{room_id}/host")
def host_console(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    return render(request, HOST, _console_ctx(request, db, actor, room_id))


async def _host_action(
    request: Request, db: Any, actor: Actor, room_id: int, action: Any
) -> Response:
    live_service.host_room(db, actor, room_id)  # strangers: 404 before anything else
    form = await request.form()
    return forms.submit(
        request,
        db,
        lambda: action(form),
        done=f"/live/{room_id}/host?done=1",
        template=HOST,
        context=lambda: _console_ctx(request, db, actor, room_id),
        page_errors=(),
    )


@router.post("/live/{room_id}/host/go-live")
async def host_go_live(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    return await _host_action(
        request,
        db,
        actor,
        room_id,
        lambda f: live_service.transition(db, actor, room_id, "go_live"),
    )


@router.post("/live/{room_id}/host/end")
async def host_end(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    return await _host_action(
        request, db, actor, room_id, lambda f: live_service.transition(db, actor, room_id, "end")
    )


@router.post("/live/{room_id}/host/pin")
async def host_pin(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    def act(form: Any) -> None:
        try:
            product_id: int | None = form_id(str(form.get("product_id") or ""))
        except ValueError:
            product_id = None  # "none pinned"
        live_service.pin_product(db, actor, room_id, product_id)

    return await _host_action(request, db, actor, room_id, act)


@router.post("/live/{room_id}/host/announce")
async def host_announce(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    return await _host_action(
        request,
        db,
        actor,
        room_id,
        lambda f: live_service.announce(db, actor, room_id, str(f.get("text") or "")),
    )


@router.post("/live/{room_id}/host/edit")
async def host_edit(
    request: Request,
    db: DbDep,
    actor: PageUser,
    room_id: Id,
    cover: UploadFile | None = File(None),
) -> Response:
    data_cover = await _cover(cover)

    def act(form: Any) -> None:
        room = live_service.host_room(db, actor, room_id)
        when = str(form.get("scheduled_at") or "")
        data = live_service.RoomInput(
            title=str(form.get("title") or ""),
            scheduled_at=_parse_time(when) if when else room.scheduled_at,
            shop_id=room.shop_id,
            stream_url=str(form.get("stream_url") or ""),
            replay_url=str(form.get("replay_url") or ""),
            product_ids=_ids(str(form.get("product_numbers") or "")),
        )
        live_service.update_room(db, actor, room_id, data, cover=data_cover)

    return await _host_action(request, db, actor, room_id, act)


@router.post("/live/{room_id}/host/sales")
async def host_open_sale(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    def act(form: Any) -> None:
        raw_sku = str(form.get("sku_id") or "")
        sku_id = _int(raw_sku, "bad_sku")
        product_id = _int(str(form.get("product_id") or ""), "bad_product")
        data = flash.SaleInput(
            product_id=product_id,
            sku_id=sku_id,
            price_fen=_yuan(str(form.get("price") or "")),
            quantity=_int(str(form.get("quantity") or ""), "bad_quantity"),
            per_buyer_limit=_int(str(form.get("per_buyer_limit") or "1"), "bad_limit"),
            duration_seconds=_int(str(form.get("duration_minutes") or "5"), "bad_duration") * 60,
        )
        flash.open_sale(db, actor, room_id, data)

    return await _host_action(request, db, actor, room_id, act)


@router.post("/live/{room_id}/host/sales/{sale_id}/start")
async def host_start_sale(
    request: Request, db: DbDep, actor: PageUser, room_id: Id, sale_id: Id
) -> Response:
    return await _host_action(
        request, db, actor, room_id, lambda f: flash.start_sale(db, actor, room_id, sale_id)
    )


@router.post("/live/{room_id}/host/sales/{sale_id}/stop")
async def host_stop_sale(
    request: Request, db: DbDep, actor: PageUser, room_id: Id, sale_id: Id
) -> Response:
    return await _host_action(
        request, db, actor, room_id, lambda f: flash.stop_sale(db, actor, room_id, sale_id)
    )


# --------------------------------------------------------------------------- report


@router.get("/live/{room_id}/report")
def report_page(request: Request, db: DbDep, actor: PageUser, room_id: Id) -> Response:
    report = live_service.report(db, actor, room_id)
    return render(request, "live/report.html", {"report": report, "room": report.room})

"""The live room's hot endpoints on the web fast path (``xiaodian.web.fastpath``).

``POST /api/v1/live/rooms/{room_id}/flash-sales/{sale_id}/buy`` with ``Authorization:
Bearer`` is the hottest request of the platform: thousands of buyers press "buy" within
seconds, and most of them are answered from memory (sold out, limit reached). The handler
answers those requests with the same code as the route (``authcache``, ``FlashEngine.buy``),
the same status codes and JSON bodies. Cookie-authenticated buys from the browser (which
need the CSRF rules) go through the app as usual.

Every attempt is authenticated and answered truthfully; nothing about a purchase is cached.

It also serves the rooms' event streams (``GET /live/{id}/events`` and
``/api/v1/live/rooms/{id}/events``) with ``events.serve``: 5,000 open streams receive every
event, and each pass through the middleware stack (and Starlette's streaming response with
its task group) cost more than writing the event; the stream gets the server's own ``send``
so it can be handed over to the fan-out thread (``xiaodian.fanout``). Unknown rooms go
through the app (its 404).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from xiaodian.accounts import authcache
from xiaodian.actor import Actor
from xiaodian.content.live import events, flash, flash_engine
from xiaodian.content.live.api import buy_address
from xiaodian.errors import DomainError, NotAuthenticated
from xiaodian.web.fastpath import ID, Hot, HotRoute

VIEWER_COOKIE = "xd_viewer"  # the same as api.VIEWER_COOKIE

EVENTS_PATH = re.compile(rf"^/(?:api/v1/live/rooms|live)/{ID}/events$")
BUY_PATH = re.compile(rf"^/api/v1/live/rooms/{ID}/flash-sales/{ID}/buy$")


async def _started(app: Any) -> flash_engine.FlashEngine:
    if flash_engine.engine is None or events.runtime.database is not app.state.db:
        await events.ensure_started(app)
    assert flash_engine.engine is not None
    return flash_engine.engine


async def serve_events(hot: Hot, found: re.Match[str]) -> bool:
    """Serve a room's event stream; False (nothing sent) when the app should answer."""
    room_id = int(found.group(1))
    database = hot.app.state.db
    await _started(hot.app)
    if not await events.known_room(database, room_id):
        return False
    actor = await hot.actor(hot.session_token())
    anon = hot.cookies().get(VIEWER_COOKIE, "")
    if actor.user_id is not None:
        viewer_key = f"u:{actor.user_id}"
    elif anon.isalnum() and 8 <= len(anon) <= 40:
        viewer_key = f"a:{anon}"
    else:
        viewer_key = f"a:{secrets.token_hex(8)}"
    await events.serve(
        database,
        room_id,
        viewer_key=viewer_key,
        user_id=actor.user_id,
        send=hot.send,
        receive=hot.receive,
    )
    return True


async def buy(hot: Hot, found: re.Match[str]) -> bool:
    """A bearer buy of a flash sale; a browser's (no bearer token) goes through the app."""
    if not hot.token:
        return False
    room_id, sale_id = int(found.group(1)), int(found.group(2))
    # A token this process has seen is answered from memory; a new one (a buyer's first
    # press) is resolved by the flash writer inside its batch (``buy_by_token``).
    actor = authcache.cached(hot.token)
    try:
        done = await _purchase(hot, actor, room_id, sale_id)
    except DomainError as exc:
        if actor is None and not isinstance(exc, NotAuthenticated):
            # As on the documented route, who is asking is checked first: a refusal goes
            # only to a signed-in buyer, anyone else gets the 401.
            (await hot.actor()).require_user()
        raise
    await hot.answer(
        201,
        {
            "order_no": done.order_no,
            "pay_url": done.pay_url,
            "quantity": done.quantity,
            "amount_fen": done.amount_fen,
            "remaining": done.remaining,
        },
    )
    return True


async def _purchase(hot: Hot, actor: Actor | None, room_id: int, sale_id: int) -> flash.Purchased:
    body = await hot.json_object()
    address_id = buy_address(body)
    engine = await _started(hot.app)
    wanted: dict[str, Any] = {
        "room_id": room_id,
        "sale_id": sale_id,
        "quantity": body.get("quantity", 1),
        "address_id": address_id,
    }
    if actor is not None:
        return await engine.buy(actor, **wanted)
    return await engine.buy_by_token(hot.token, **wanted)


ROUTES = (
    HotRoute("GET", EVENTS_PATH, serve_events, errors_answered=False),
    HotRoute("POST", BUY_PATH, buy),
)

"""The buyer's checkout on the web fast path (``xiaodian.web.fastpath``).

A bearer client's checkout with a JSON body the route's model accepts is placed here, by
the route's own function (``api.place``) in one thread hop, and answered as the route
answers (201 with ``CheckoutOut``; a refusal with the error body). Anything else (no
bearer token, a body the model refuses, an ``Idempotency-Key`` longer than the route
takes, a visitor not signed in) goes through the app, which answers as it always did.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from xiaodian.actor import Actor
from xiaodian.orders import api
from xiaodian.orders.schemas import CheckoutIn, CheckoutOut
from xiaodian.web.deps import TOUCH_COOKIE
from xiaodian.web.fastpath import Hot, HotRoute

CHECKOUT_PATH = re.compile(r"^/api/v1/checkout$")
KEY_MAX = 100  # the route's Idempotency-Key max_length


def _place(
    database: Any, actor: Actor, body: CheckoutIn, touch: str, key: str | None
) -> CheckoutOut:
    with database.session(write=True) as db:
        return api.place(db, actor, body, touch=touch, idempotency_key=key)


async def checkout(hot: Hot, found: re.Match[str]) -> bool:
    if not hot.token or not hot.json_body_fits():
        return False
    key = hot.header(b"idempotency-key")
    if key is not None and len(key) > KEY_MAX:
        return False
    actor = await hot.actor()
    if not actor.is_authenticated:
        return False
    try:
        body = CheckoutIn.model_validate(json.loads(await hot.body()))
    except (ValueError, ValidationError):  # the app says what is wrong
        return False
    touch = hot.cookies().get(TOUCH_COOKIE, "")  # as ``web.deps.request_touch`` reads it
    touch = touch if len(touch) <= 100 else ""
    out = await hot.in_thread(_place, hot.app.state.db, actor, body, touch, key)
    await hot.answer(201, out.model_dump_json().encode())
    return True


ROUTES = (HotRoute("POST", CHECKOUT_PATH, checkout),)

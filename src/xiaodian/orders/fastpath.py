"""The buyer's checkout on the web fast path (``xiaodian.web.fastpath``).

A bearer client's checkout with a JSON body the route's model accepts is placed here, by
the route's own function (``api.place``) in one thread hop, and answered as the route
answers (201 with ``CheckoutOut``; a refusal with the error body). Anything else (no
bearer token, a body the model refuses, an ``Idempotency-Key`` longer than the route
takes, a visitor not signed in) goes through the app, which answers as it always did.
"""

from __future__ import annotations

import re
from typing import Any

from xiaodian.actor import Actor
from xiaodian.orders import api
from xiaodian.orders.schemas import CheckoutIn, CheckoutOut
from xiaodian.web.deps import touch_of
from xiaodian.web.fastpath import Hot, HotRoute

CHECKOUT_PATH = re.compile(r"^/api/v1/checkout$")
KEY_MAX = 100  # the route's Idempotency-Key max_length


def _place(
    database: Any, actor: Actor, body: CheckoutIn, touch: str, key: str | None
) -> CheckoutOut:
    with database.session(write=True) as db:
        return api.place(db, actor, body, touch=touch, idempotency_key=key)


async def checkout(hot: Hot, found: re.Match[str]) -> bool:
    key = hot.header(b"idempotency-key")
    if key is not None and len(key) > KEY_MAX:
        return False
    actor = await hot.signed_in()
    if actor is None:
        return False
    body = await hot.parsed(CheckoutIn)
    if body is None:
        return False
    out = await hot.in_thread(_place, hot.app.state.db, actor, body, touch_of(hot.cookies()), key)
    await hot.answer(201, out.model_dump_json().encode())
    return True


ROUTES = (HotRoute("POST", CHECKOUT_PATH, checkout),)

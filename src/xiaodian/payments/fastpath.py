"""The everyday payment on the web fast path (``xiaodian.web.fastpath``).

Four requests of every paid order, answered by the routes' own functions in one thread hop
and as the routes answer them: a bearer client's ``POST /api/v1/payments`` and its wait on
``GET /api/v1/payments/{no}``, the sandbox cashier's "确认支付" asked for in JSON, and the
provider's notification (``/api/v1/payments/notify``, verified by its signature as on the
route). Whatever is not the plain case (no bearer token, a visitor not signed in, a body or
a parameter the route's rules refuse, a body larger than the fast path reads) goes through
the app, which answers as it always did.
"""

from __future__ import annotations

import re
from typing import Any

from xiaodian.actor import Actor
from xiaodian.payments import api, pages, service
from xiaodian.payments.schemas import PaymentStartIn, PaymentStartOut
from xiaodian.web.fastpath import Hot, HotRoute

START_PATH = re.compile(r"^/api/v1/payments$")
STATUS_PATH = re.compile(r"^/api/v1/payments/([0-9A-Za-z_-]{1,32})$")
NOTIFY_PATH = re.compile(r"^/api/v1/payments/notify(?:/refund)?$")
PAY_PATH = re.compile(r"^/sandbox/cashier/([0-9A-Za-z_-]{1,64})/pay$")
KEY_MAX = 64  # the payment route's Idempotency-Key max_length
WAIT = re.compile(r"^[0-9]{1,2}(\.[0-9]{1,3})?$")


def _begin(database: Any, actor: Actor, body: PaymentStartIn, base_url: str) -> PaymentStartOut:
    with database.session(write=True) as db:
        return api.begin(db, actor, body, base_url)


async def start(hot: Hot, found: re.Match[str]) -> bool:
    key = hot.header(b"idempotency-key")
    if key is not None and len(key) > KEY_MAX:
        return False
    actor = await hot.signed_in()
    if actor is None:
        return False
    body = await hot.parsed(PaymentStartIn)
    if body is None:
        return False
    base_url = hot.app.state.settings.public_base_url
    out = await hot.in_thread(_begin, hot.app.state.db, actor, body, base_url)
    await hot.answer(200, out.model_dump_json().encode())
    return True


async def status(hot: Hot, found: re.Match[str]) -> bool:
    params = hot.query()
    if params is None:
        return False
    wait = params.get("wait", "0")
    if not WAIT.match(wait) or float(wait) > api.WAIT_MAX:
        return False
    actor = await hot.signed_in()
    if actor is None:
        return False
    out = await api.payment_status(hot.app.state.db, actor, found.group(1), float(wait))
    await hot.answer(200, out.model_dump_json().encode())
    return True


async def notify(hot: Hot, found: re.Match[str]) -> bool:
    if not hot.body_fits():
        return False
    body = await hot.body()
    headers: dict[str, str] = {}
    for key, value in hot.scope["headers"]:
        headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    result = await hot.in_thread(api.handle, hot.app.state.db, headers, body)
    if result.ok:
        await hot.answer(204, None)
    else:
        message = {"code": "FAIL", "message": result.message or "失败"}
        await hot.answer(result.status_code, message)
    return True


def _pay(database: Any, actor: Actor, out_trade_no: str) -> service.SandboxPaid:
    with database.session(write=True) as db:
        return service.sandbox_pay(db, actor, out_trade_no, claim=True)


async def pay(hot: Hot, found: re.Match[str]) -> bool:
    if "application/json" not in (hot.header(b"accept") or ""):
        return False
    actor = await hot.signed_in()
    if actor is None:
        return False
    out_trade_no = found.group(1)
    paid = await hot.in_thread(_pay, hot.app.state.db, actor, out_trade_no)
    poll = f"/api/v1/payments/{out_trade_no}"
    await hot.answer(200, {"status": paid.payment.status.value, "poll": poll})
    # after the answer, as the route
    await pages.deliver_soon(hot.app.state.db, out_trade_no, paid.claimed)
    return True


ROUTES = (
    HotRoute("POST", START_PATH, start),
    HotRoute("POST", NOTIFY_PATH, notify),
    HotRoute("GET", STATUS_PATH, status),
    HotRoute("POST", PAY_PATH, pay),
)

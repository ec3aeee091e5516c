from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from xiaodian import realtime
from xiaodian.actor import Actor
from xiaodian.db import Database
from xiaodian.payments import service
from xiaodian.payments.notify import NotifyResult
from xiaodian.payments.schemas import (
    PaymentOut,
    PaymentStartIn,
    PaymentStartOut,
    RefundIn,
    RefundModeIn,
    RefundOut,
    RefundOutcomeIn,
)
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses

router = routing.router(tags=["payments"], responses=error_responses(401, 403, 404, 409, 413, 422))

# How a payment notification is refused: WeChat Pay's own body, not the error body.
_FAIL = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": ["FAIL"]},
                "message": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    }
}
NOTIFY_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "It does not match our payment or refund", "content": _FAIL},
    401: {"description": "Not signed by the provider (or stale, undecryptable)", "content": _FAIL},
    413: {"description": "The body is too large", "content": _FAIL},
}


def _absolute(base_url: str, path: str | None) -> str | None:
    if not path or not path.startswith("/"):
        return path
    return base_url.rstrip("/") + path


@router.post("/payments")
def start_payment(
    request: Request,
    body: PaymentStartIn,
    db: DbDep,
    actor: SignedIn,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> PaymentStartOut:
    """Pay one or several of your pending orders. An open payment for the same orders is
    returned again (``reused``), so retries (with or without an ``Idempotency-Key``) and
    double clicks pay once."""
    return begin(db, actor, body, request.app.state.settings.public_base_url)


def begin(db: Session, actor: Actor, body: PaymentStartIn, base_url: str) -> PaymentStartOut:
    """The payment route's work (also the fast path's, ``payments.fastpath``)."""
    start = service.start_payment(
        db, actor, order_nos=body.order_nos, method=body.method, openid=body.openid
    )
    out = PaymentStartOut.model_validate(start, from_attributes=True)
    out.cashier_url = _absolute(base_url, start.cashier_url)
    if start.method == "native" and start.code_url and start.code_url.startswith("/"):
        out.code_url = _absolute(base_url, start.code_url)
    return out


WAIT_MAX = 30  # seconds a buyer's app may wait for a payment to change


def _payment_out(database: Database, actor: Actor, out_trade_no: str) -> PaymentOut:
    with database.session(write=False) as db:
        return PaymentOut(**service.buyers_payment_view(db, actor, out_trade_no))


@router.get("/payments/{out_trade_no}")
async def get_payment(
    request: Request,
    out_trade_no: Annotated[str, Path(max_length=32)],
    actor: SignedIn,
    wait: Annotated[float, Query(ge=0, le=WAIT_MAX)] = 0,
) -> PaymentOut:
    """The status of one of your payments. With ``wait`` (seconds, at most 30) an open
    payment is answered as soon as it is paid or closed (the notification's commit wakes
    it), or when the time is up, still open: the cashier waits this way, no polling."""
    return await payment_status(request.app.state.db, actor, out_trade_no, wait)


async def payment_status(
    database: Database, actor: Actor, out_trade_no: str, wait: float
) -> PaymentOut:
    """The status route's work (also the fast path's): at once, or after up to ``wait``
    seconds for the payment to change."""
    if wait <= 0:
        return await run_in_threadpool(_payment_out, database, actor, out_trade_no)
    # Subscribe before reading: a payment paid between the read and the subscription
    # would otherwise wake nobody.
    async with realtime.subscribe(service.payment_channel(out_trade_no)) as sub:
        out = await run_in_threadpool(_payment_out, database, actor, out_trade_no)
        if out.status != "open":
            return out
        message = await sub.get(wait)
    if message is not None and isinstance(message.event.get("payment"), dict):
        return PaymentOut(**message.event["payment"])
    return await run_in_threadpool(_payment_out, database, actor, out_trade_no)


def handle(database: Database, headers: dict[str, str], body: bytes) -> NotifyResult:
    with database.session(write=True) as db:
        return service.handle_notification(db, headers=headers, body=body)


async def _notify(request: Request) -> Response:
    body = await request.body()
    result = await run_in_threadpool(handle, request.app.state.db, dict(request.headers), body)
    if result.ok:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(
        {"code": "FAIL", "message": result.message or "失败"}, status_code=result.status_code
    )


@router.post(
    "/payments/notify", status_code=204, response_class=Response, responses=NOTIFY_REFUSALS
)
async def notify(request: Request) -> Response:
    """WeChat Pay (or the sandbox) reports a payment or refund result. Verified by
    signature; answers 204, or 4xx/5xx with ``{"code": "FAIL", "message": ...}``."""
    return await _notify(request)


@router.post(
    "/payments/notify/refund", status_code=204, response_class=Response, responses=NOTIFY_REFUSALS
)
async def notify_refund(request: Request) -> Response:
    """The same endpoint for refund notifications, if configured separately."""
    return await _notify(request)


@router.post("/payments/refunds", status_code=status.HTTP_201_CREATED)
def refund(
    body: RefundIn,
    db: DbDep,
    actor: SignedIn,
    idempotency_key: Annotated[str | None, Header(max_length=40)] = None,
) -> RefundOut:
    """Operators: refund (part of) a paid order. Never more than what is left of it."""
    row = service.operator_refund(
        db,
        actor,
        order_no=body.order_no,
        amount_fen=body.amount_fen,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    return RefundOut.model_validate(row)


@router.post("/payments/refunds/{out_refund_no}/retry", status_code=status.HTTP_201_CREATED)
def retry_refund(
    out_refund_no: Annotated[str, Path(max_length=64)], db: DbDep, actor: SignedIn
) -> RefundOut:
    """Operators: send a failed refund again, as a new refund of the same amount (the same
    one if it was already sent again). Its after-sales case settles when it succeeds."""
    row = service.retry_refund(db, actor, out_refund_no=out_refund_no)
    return RefundOut.model_validate(row)


@router.put("/payments/sandbox/refund-mode", status_code=204, response_class=Response)
def sandbox_refund_mode(body: RefundModeIn, actor: SignedIn) -> None:
    """Operators, sandbox only: refunds succeed at once ("success") or wait ("processing")."""
    service.sandbox_set_refund_mode(actor, body.mode)


@router.post("/payments/sandbox/refunds/{out_refund_no}/outcome")
def sandbox_refund_outcome(
    out_refund_no: str, body: RefundOutcomeIn, db: DbDep, actor: SignedIn
) -> dict[str, Any]:
    """Operators, sandbox only: decide a processing refund; WeChat-style notification follows."""
    result = service.sandbox_refund_outcome(
        db, actor, out_refund_no=out_refund_no, outcome=body.outcome
    )
    return {"out_refund_no": out_refund_no, "status": result}

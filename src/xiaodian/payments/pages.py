from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import qrcode
import qrcode.image.svg
from fastapi import BackgroundTasks, Body, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from xiaodian.db import Database
from xiaodian.payments import operator, service
from xiaodian.payments.delivery import deliver_due, next_due, post_claimed
from xiaodian.payments.models import PaymentStatus
from xiaodian.payments.providers.sandbox import Queued
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render

router = routing.router(include_in_schema=False)
"""A domain error of these pages (an order already paid, a payment not found) is shown by
the app's error page (``web.errors``), in the visitor's language, with its status."""


def qr_svg(data: str) -> Markup:
    """A QR code as inline SVG, made here (no CDN, works offline)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return Markup(image.to_string(encoding="unicode"))


@router.get("/pay")
def pay(request: Request, actor: PageUser, orders: str = "") -> Response:
    """Create (or reuse) the payment for these orders and send the buyer to pay it."""
    order_nos = [no.strip() for no in orders.split(",") if no.strip()][:50]
    settings = request.app.state.settings
    method = "sandbox" if settings.payment_provider == "sandbox" else "native"
    inside_wechat = "MicroMessenger" in request.headers.get("user-agent", "")
    database: Database = request.app.state.db
    with database.session(write=True) as db:
        if inside_wechat and service.payer_openid(db, actor):  # signed in with WeChat
            method = "jsapi"
        start = service.start_payment(db, actor, order_nos=order_nos, method=method)
    if start.jsapi:
        sandbox = settings.payment_provider == "sandbox"
        return render(request, "payments/jsapi.html", {"start": start, "sandbox": sandbox})
    if start.cashier_url:
        return RedirectResponse(start.cashier_url, status_code=303)
    return render(
        request,
        "payments/native.html",
        {"start": start, "qr": qr_svg(start.code_url or "")},
    )


@router.get("/sandbox/cashier/{out_trade_no}")
def cashier(
    request: Request,
    out_trade_no: str,
    db: DbDep,
    actor: PageUser,
    paying: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    """The sandbox's cashier: what WeChat would show the buyer, with 确认支付 / 取消."""
    view = service.cashier(db, actor, out_trade_no)
    if view.payment.status == PaymentStatus.PAID:
        return RedirectResponse(view.return_url, status_code=303)
    url = str(request.base_url).rstrip("/") + request.url.path
    return render(
        request,
        "payments/cashier.html",
        {"view": view, "qr": qr_svg(url), "paying": bool(paying)},
    )


# The sandbox plays WeChat Pay's servers, which are not ours: its first deliveries run on
# threads of their own. Run as the app's worker threads, each held its thread while it
# POSTed the notification back to this same server, whose answer needed a worker thread
# too: a crowd of payments held every thread waiting for the notifications they were
# sending (on PostgreSQL, where the threads are as many as the pool's connections, the
# deliveries timed out after 10 s and the orders were paid by the retry job).
_SANDBOX_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-delivery")


async def deliver_soon(
    database: Database, out_trade_no: str, claimed: Queued | None = None
) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(_SANDBOX_THREADS, _deliver, database, out_trade_no, claimed)


def _deliver(database: Database, out_trade_no: str, claimed: Queued | None = None) -> None:
    """The first delivery attempt, right after the buyer paid (retries: the job): the one
    ``sandbox_pay`` claimed, posted at once, or whatever of the trade is due."""
    with database.session(write=True) as db:
        if claimed is not None:
            report = post_claimed(db, claimed)
        else:
            report = deliver_due(db, out_trade_no=out_trade_no)
        due = next_due(db, out_trade_no=out_trade_no) if report.failed else None
    if due is not None:
        from xiaodian.payments.jobs import schedule_delivery

        schedule_delivery(out_trade_no, due)


@router.post("/sandbox/cashier/{out_trade_no}/pay")
def cashier_pay(
    request: Request,
    out_trade_no: str,
    db: DbDep,
    actor: PageUser,
    background: BackgroundTasks,
) -> Response:
    paid = service.sandbox_pay(db, actor, out_trade_no, claim=True)
    payment = paid.payment
    background.add_task(deliver_soon, request.app.state.db, out_trade_no, paid.claimed)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {"status": payment.status.value, "poll": f"/api/v1/payments/{out_trade_no}"}
        )
    return RedirectResponse(f"/sandbox/cashier/{out_trade_no}?paying=1", status_code=303)


@router.post("/sandbox/wechat/pay")
def bridge_pay(
    request: Request,
    db: DbDep,
    actor: PageUser,
    background: BackgroundTasks,
    params: Annotated[dict[str, Any], Body(max_length=20)],
) -> Response:
    """The sandbox's WeixinJSBridge: getBrandWCPayRequest, answered with WeChat's err_msg."""
    payment = service.sandbox_bridge_pay(db, actor, params)
    background.add_task(deliver_soon, request.app.state.db, payment.out_trade_no)
    return JSONResponse({"err_msg": "get_brand_wcpay_request:ok"})


@router.post("/sandbox/cashier/{out_trade_no}/cancel")
def cashier_cancel(request: Request, out_trade_no: str, db: DbDep, actor: PageUser) -> Response:
    """The buyer leaves without paying: back to the order, nothing paid."""
    payment = service.sandbox_cancel(db, actor, out_trade_no)
    return RedirectResponse(service.return_url(payment), status_code=303)


# --------------------------------------------------------------------------- operators


@router.get("/ops/payments")
def ops_payments(
    request: Request,
    db: DbDep,
    actor: PageUser,
    q: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Operators: recent payments with their status, amount and orders; search by number."""
    result = operator.operator_payments(db, actor, q=q, page=page)
    ctx = {"section": "payments", "result": result, "q": q}
    return render(request, "payments/ops_payments.html", ctx)


@router.get("/ops/payments/notifications")
def ops_notifications(
    request: Request,
    db: DbDep,
    actor: PageUser,
    filter: Annotated[str, Query(max_length=10)] = "all",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Operators: the notification log, newest first, filtered by outcome."""
    result = operator.notification_log(db, actor, filter=filter, page=page)
    chosen = operator.parse_notification_filter(filter)
    ctx = {"section": "notifications", "result": result, "filter": chosen}
    return render(request, "payments/ops_notifications.html", ctx)


@router.get("/ops/payments/refunds")
def ops_refunds(
    request: Request,
    db: DbDep,
    actor: PageUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Operators: refunds, failed / pending / processing first."""
    result = operator.operator_refunds(db, actor, page=page)
    retried = request.query_params.get("retried", "")
    if not (retried.startswith("RF") and retried[2:].isdigit() and len(retried) <= 64):
        retried = ""  # only a refund number is shown back, no other text from the address
    ctx = {"section": "refunds", "result": result, "retried": retried}
    return render(request, "payments/ops_refunds.html", ctx)


@router.post("/ops/payments/refunds/{out_refund_no}/retry")
def ops_retry_refund(request: Request, db: DbDep, actor: PageUser, out_refund_no: str) -> Response:
    """Operators: send a failed refund again (see ``service.retry_refund``)."""
    retry = service.retry_refund(db, actor, out_refund_no=out_refund_no)
    return RedirectResponse(f"/ops/payments/refunds?retried={retry.out_refund_no}", status_code=303)

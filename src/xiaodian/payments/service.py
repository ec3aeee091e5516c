"""Payments: paying for orders, refunds, reconciliation, and the sandbox cashier.

The contract with orders (see ``orders/service.py``): payments asks ``payable_orders`` what
may be paid, calls ``mark_paid`` when the provider says the money arrived, and
``apply_refund`` when a refund succeeded. After-sales (and orders) call ``request_refund``.

Public use cases commit; ``request_refund`` joins the caller's transaction. Provider calls
for refunds happen after commit, in :func:`submit_refunds` (a job).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.db import loaded
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput, NotFound, _
from xiaodian.money import format_fen
from xiaodian.orders import service as orders_service
from xiaodian.payments import core, delivery
from xiaodian.payments.core import (
    ProviderUnavailable,
    Rejected,
    payment_channel,
    payment_view,
    return_url,
)
from xiaodian.payments.models import (
    Payment,
    PaymentMethod,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxRefundStatus,
)
from xiaodian.payments.notify import NotifyResult, handle_notification
from xiaodian.payments.operator import count_failed_refunds as count_failed_refunds  # ops console
from xiaodian.payments.operator import (
    count_refused_notifications_today as count_refused_notifications_today,
)
from xiaodian.payments.providers import get_provider, get_sandbox
from xiaodian.payments.providers.base import (
    TRADE_REFUND,
    TRADE_SUCCESS,
    ProviderError,
    ProviderRejected,
    TransferState,
)
from xiaodian.payments.providers.sandbox import Queued

__all__ = [
    "NotifyResult",
    "PaymentStart",
    "buyers_payment_view",
    "get_payment",
    "handle_notification",
    "payment_channel",
    "payment_view",
    "request_refund",
    "return_url",
    "start_payment",
    "submit_refunds",
]

log = logging.getLogger(__name__)
P = PaymentStatus
R = RefundStatus

METHODS = {
    "sandbox": (PaymentMethod.SANDBOX, PaymentMethod.NATIVE, PaymentMethod.JSAPI),
    "wechatpay": (PaymentMethod.NATIVE, PaymentMethod.JSAPI),
}
MAX_ORDERS = 20


@dataclass
class PaymentStart:
    """What the client needs to pay: sandbox -> cashier_url; native -> code_url; jsapi."""

    out_trade_no: str
    amount_fen: int
    method: str
    status: str
    expires_at: Any
    cashier_url: str | None = None
    code_url: str | None = None
    jsapi: dict[str, str] | None = None
    reused: bool = False
    order_nos: list[str] = field(default_factory=list)


def _start_of(payment: Payment, *, reused: bool) -> PaymentStart:
    prepay = payment.prepay or {}
    return PaymentStart(
        out_trade_no=payment.out_trade_no,
        amount_fen=payment.amount_fen,
        method=payment.method.value,
        status=payment.status.value,
        expires_at=payment.expires_at,
        cashier_url=prepay.get("cashier_url"),
        code_url=prepay.get("code_url"),
        jsapi=prepay.get("jsapi"),
        reused=reused,
        order_nos=[link.order_no for link in payment.orders],
    )


def _method(provider_name: str, method: str) -> PaymentMethod:
    allowed = METHODS.get(provider_name, ())
    for candidate in allowed:
        if candidate.value == method:
            return candidate
    raise InvalidInput(
        _("This payment method is not available: %(method)s."),
        code="bad_method",
        method=str(method)[:20],
    )


def start_payment(
    db: Session,
    actor: Actor,
    *,
    order_nos: list[str],
    method: str,
    openid: str | None = None,
) -> PaymentStart:
    """One payment for one or several of the buyer's pending orders; commits.

    The amount is the sum of the orders' totals. An open payment for exactly the same
    orders (and method) is reused, so a retry or a double click pays once.
    """
    buyer_id = actor.require_user()
    provider = get_provider(db)
    chosen = _method(provider.name, method)
    if len(order_nos) > MAX_ORDERS:
        raise InvalidInput(_("Too many orders in one payment."), code="too_many_orders")
    if chosen == PaymentMethod.JSAPI and openid is None:  # the buyer's own, signed in by WeChat
        openid = accounts_service.openid_for(db, user_id=buyer_id, app_id=provider.appid)
    if chosen == PaymentMethod.JSAPI and not (openid and len(openid) <= 128):
        raise InvalidInput(_("Paying inside WeChat needs the payer's openid."), code="no_openid")
    orders = sorted(orders_service.payable_orders(db, actor, order_nos), key=lambda o: o.id)
    open_key = f"{buyer_id}:" + ",".join(str(o.id) for o in orders)
    existing = db.scalar(_OPEN_FOR, {"key": open_key})
    if existing is not None:
        if existing.method == chosen and existing.prepay:
            result = _start_of(existing, reused=True)
            db.rollback()
            return result
        close_at_provider(db, existing, actor_id=buyer_id, note=f"replaced by {chosen}")
        db.flush()
    first = orders[0].title
    description = (f"小店-{first}" if len(orders) == 1 else f"小店-{first}等{len(orders)}笔")[:40]
    payment = Payment(
        out_trade_no=core.new_number("XD"),
        buyer_id=buyer_id,
        provider=provider.name,
        method=chosen,
        status=P.OPEN,
        amount_fen=sum(o.total_fen for o in orders),
        description=description,
        open_key=open_key,
        expires_at=min(o.pay_deadline for o in orders),
        created_at=clock.now(),
        profit_sharing=settings_module.current().profit_sharing,
    )
    db.add(payment)
    try:
        db.flush()
        _link_orders(db, payment, orders)
    except IntegrityError:
        db.rollback()  # the same orders started concurrently: give back that payment
        winner = db.scalar(select(Payment).where(Payment.open_key == open_key))
        if winner is None or not winner.prepay:
            raise Conflict(
                _("This payment is being prepared. Try again in a moment."),
                code="payment_busy",
            ) from None
        return _start_of(winner, reused=True)
    try:
        prepay = provider.prepay(payment, chosen.value, openid=openid)
    except ProviderRejected as exc:
        db.rollback()
        raise Conflict(
            _("The payment provider refused this payment: %(reason)s"),
            code="provider_rejected",
            reason=exc.message[:100],
        ) from None
    except ProviderError:
        db.rollback()
        log.exception("prepay failed")
        raise ProviderUnavailable(
            _("The payment service cannot be reached. Try again later."),
        ) from None
    payment.prepay = prepay.as_dict()
    core.event(db, "created", payment_id=payment.id, actor_id=buyer_id, note=chosen.value)
    db.commit()
    return _start_of(payment, reused=False)


def _link_orders(db: Session, payment: Payment, orders: list[Any]) -> None:
    """The payment's order lines in one INSERT however many orders, loaded as the
    payment's ``orders`` (nothing to read again)."""
    rows = [
        {
            "payment_id": payment.id,
            "order_id": o.id,
            "order_no": o.order_no,
            "amount_fen": o.total_fen,
        }
        for o in orders
    ]
    table = cast(Any, PaymentOrder.__table__)
    # The rows as parameters (one multi-row INSERT, compiled once): ``.values(rows)`` has
    # no cache key and was compiled anew at every payment.
    returned = db.execute(insert(table).returning(table.c.order_id, table.c.id), rows)
    ids: dict[int, int] = {order_id: link_id for order_id, link_id in returned}
    links = [
        loaded(PaymentOrder, {**row, "id": ids[row["order_id"]], "outcome": None}) for row in rows
    ]
    db.add_all(links)
    set_committed_value(payment, "orders", links)


def close_at_provider(db: Session, payment: Payment, *, actor_id: int | None, note: str) -> bool:
    """Close an open payment at the provider and here; False if it turned out paid."""
    provider = get_provider(db)
    try:
        provider.close(payment.out_trade_no)
    except ProviderRejected as exc:
        if exc.code == "ORDERPAID":
            state = provider.query(payment.out_trade_no)
            if state.state in (TRADE_SUCCESS, TRADE_REFUND):
                core.apply_trade_success(db, provider, state.raw, source="query")
                return False
        elif exc.code != "ORDER_NOT_EXIST":
            raise Conflict(
                _("The payment provider refused this payment: %(reason)s"),
                code="provider_rejected",
                reason=exc.message[:100],
            ) from None
    except ProviderError:
        raise ProviderUnavailable(
            _("The payment service cannot be reached. Try again later.")
        ) from None
    core.close_payment(db, payment, actor_id=actor_id, note=note)
    return True


_BUYERS_PAYMENT = select(Payment).where(
    Payment.out_trade_no == bindparam("no"), Payment.buyer_id == bindparam("buyer")
)
_BUYERS_PAYMENT_WITH_ORDERS = _BUYERS_PAYMENT.options(selectinload(Payment.orders))
_OPEN_FOR = select(Payment).where(Payment.open_key == bindparam("key"))


_P = cast(Any, Payment.__table__)
_L = cast(Any, PaymentOrder.__table__)
# A payment with its orders' numbers, one row per order (a payment has at least one).
_VIEW = (
    select(
        _P.c.out_trade_no,
        _P.c.status,
        _P.c.amount_fen,
        _P.c.method,
        _P.c.created_at,
        _P.c.expires_at,
        _P.c.paid_at,
        _L.c.order_no,
    )
    .join(_L, _L.c.payment_id == _P.c.id)
    .where(_P.c.out_trade_no == bindparam("no"), _P.c.buyer_id == bindparam("buyer"))
    .order_by(_L.c.id)
)


def buyers_payment_view(db: Session, actor: Actor, out_trade_no: str) -> dict[str, Any]:
    """``payment_view`` of the buyer's own payment, read in ONE statement (the status a
    buyer's app asks for, and waits on); anyone else's is "not found"."""
    rows = db.execute(_VIEW, {"no": out_trade_no[:32], "buyer": actor.require_user()}).all()
    if not rows:
        raise NotFound(_("Payment not found."), code="payment_not_found")
    first = rows[0]
    order_nos = [row.order_no for row in rows]
    return {
        "out_trade_no": first.out_trade_no,
        "status": first.status.value,
        "amount_fen": first.amount_fen,
        "method": first.method.value,
        "order_nos": order_nos,
        "created_at": first.created_at.isoformat(),
        "expires_at": first.expires_at.isoformat(),
        "paid_at": first.paid_at.isoformat() if first.paid_at else None,
        "return_url": f"/orders/{order_nos[0]}" if len(order_nos) == 1 else "/orders",
    }


def get_payment(
    db: Session, actor: Actor, out_trade_no: str, *, with_orders: bool = True
) -> Payment:
    """The buyer's own payment (with its order links unless ``with_orders`` is False);
    anyone else's is "not found"."""
    buyer_id = actor.require_user()
    query = _BUYERS_PAYMENT_WITH_ORDERS if with_orders else _BUYERS_PAYMENT
    payment = db.scalar(query, {"no": out_trade_no[:32], "buyer": buyer_id})
    if payment is None:
        raise NotFound(_("Payment not found."), code="payment_not_found")
    return payment


# --------------------------------------------------------------------------- refunds


def _check_left(amount_fen: int, left: int) -> None:
    if amount_fen > left:
        raise Conflict(
            _("The refund is more than what can still be refunded (%(left)s)."),
            code="refund_exceeds_paid",
            left=format_fen(max(left, 0)),
        )


def request_refund(db: Session, *, order_id: int, amount_fen: int, reason: str, ref: str) -> Refund:
    """Record a pending refund of ``amount_fen`` for a paid order. Joins the caller's
    transaction (the provider is called after commit, by :func:`submit_refunds`).

    ``0 < amount_fen <= orders.refundable_fen - refunds in flight`` (else InvalidInput /
    Conflict), checked under a lock on the payment row, so concurrent requests never
    exceed what was paid. The same ``ref`` for the same order gives back the same refund.
    """
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidInput(_("The refund amount must be positive."), code="bad_amount")
    if not ref or len(ref) > 64:
        raise InvalidInput(_("A refund reference is required."), code="no_refund_ref")
    link = core.paying_link(db, order_id=order_id)
    if link is None:
        raise Conflict(_("This order has no payment to refund."), code="not_paid")
    payment = core.lock_payment(db, link.payment_id)
    existing = db.scalar(
        select(Refund).where(
            Refund.payment_id == payment.id, Refund.order_id == order_id, Refund.ref == ref
        )
    )
    if existing is not None:
        if existing.amount_fen != amount_fen:
            raise Conflict(
                _("This refund was already requested with another amount."),
                code="refund_ref_reused",
            )
        return existing
    left = orders_service.refundable_fen(db, order_id=order_id) - core.in_flight_fen(
        db, payment_id=payment.id, order_id=order_id
    )
    left = min(left, payment.amount_fen - core.committed_fen(db, payment_id=payment.id))
    _check_left(amount_fen, left)
    return core.create_refund(
        db,
        payment,
        order_id=order_id,
        amount_fen=amount_fen,
        reason=reason or "退款",
        ref=ref,
        settles_order=True,
    )


def refundable_left(db: Session, *, order_id: int) -> int:
    """What could still be refunded of a paid order: paid less refunded less refunds in
    flight (0 for an order without payment). Joins the caller's transaction."""
    link = core.paying_link(db, order_id=order_id)
    if link is None:
        return 0
    left = orders_service.refundable_fen(db, order_id=order_id) - core.in_flight_fen(
        db, payment_id=link.payment_id, order_id=order_id
    )
    return max(0, left)


def operator_refund(
    db: Session,
    actor: Actor,
    *,
    order_no: str,
    amount_fen: int,
    reason: str,
    idempotency_key: str | None = None,
) -> Refund:
    """An operator refunds (part of) a paid order; commits. The same key, the same refund."""
    user_id = actor.require_operator()
    order = orders_service.get_order_by_no(db, order_no=order_no)
    key = (idempotency_key or core.new_number("K")).strip()
    if not 1 <= len(key) <= 40 or not key.isprintable() or core.RETRY_MARK in key:
        raise InvalidInput(
            _("The Idempotency-Key must be 1 to 40 printable characters, without #."),
            code="bad_key",
        )
    refund = request_refund(
        db, order_id=order.id, amount_fen=amount_fen, reason=reason, ref=f"ops:{key}"
    )
    core.event(db, "refund_by_operator", refund_id=refund.id, actor_id=user_id, note=reason[:200])
    db.commit()
    return refund


def retry_refund(db: Session, actor: Actor, *, out_refund_no: str) -> Refund:
    """Operators: send a refund the provider closed (or refused) again; commits.

    The retry is a new refund (a new ``out_refund_no``: the provider's answer for the old
    one is final) of the same amount, for the same order and requester, with the
    requester's reference marked as a retry ("aftersale:12#r7"), so an after-sales case
    still "refunding" is settled when the retry succeeds. The failed refund remembers it
    (``retried_as``) and leaves the operators' "failed" count; retrying it again gives the
    same retry back. The amount is checked again as for any refund (never more than what
    is left to refund), under the payment's lock."""
    user_id = actor.require_operator()
    found = db.scalar(select(Refund).where(Refund.out_refund_no == out_refund_no[:64]))
    if found is None:
        raise NotFound(_("Refund not found."), code="refund_not_found")
    payment = core.lock_payment(db, found.payment_id)
    failed = core.lock_refund(db, found.id)
    if failed.retried_as:
        again = db.scalar(select(Refund).where(Refund.out_refund_no == failed.retried_as))
        if again is not None:
            return again
    # Only a refund whose money never left: closed by the provider, or refused when sent.
    # (An ABNORMAL one is not failed: it stays processing until finished at WeChat Pay.)
    if failed.status != R.FAILED or failed.abnormal:
        raise Conflict(_("Only a failed refund can be sent again."), code="refund_not_failed")
    # The requester's reference, marked with the failed refund's id: unique, never counted.
    ref = f"{core.base_ref(failed.ref)}{core.RETRY_MARK}r{failed.id}"
    if failed.settles_order:
        retry = request_refund(
            db,
            order_id=failed.order_id,
            amount_fen=failed.amount_fen,
            reason=failed.reason,
            ref=ref,
        )
    else:  # money that never counted as the order's: only the payment's balance limits it
        left = payment.amount_fen - core.committed_fen(db, payment_id=payment.id)
        _check_left(failed.amount_fen, left)
        retry = core.create_refund(
            db,
            payment,
            order_id=failed.order_id,
            amount_fen=failed.amount_fen,
            reason=failed.reason,
            ref=ref,
            settles_order=False,
            actor_id=user_id,
        )
    if retry.id == failed.id or retry.status != R.PENDING:  # not a new refund: never say so
        raise Conflict(_("Only a failed refund can be sent again."), code="refund_not_failed")
    failed.retried_as = retry.out_refund_no
    core.event(
        db,
        "refund_retried",
        payment_id=payment.id,
        refund_id=failed.id,
        actor_id=user_id,
        note=f"{failed.out_refund_no} -> {retry.out_refund_no}",
    )
    db.commit()
    return retry


def submit_refunds(db: Session, *, limit: int = 50) -> int:
    """Send pending refunds to the provider; commits each. Returns how many moved.

    Idempotent: ``out_refund_no`` is the idempotency key at the provider, so a refund sent
    twice (a crash between the call and the commit) is refunded once.
    """
    ids = list(
        db.scalars(
            select(Refund.id).where(Refund.status == R.PENDING).order_by(Refund.id).limit(limit)
        )
    )
    db.rollback()
    moved = 0
    for refund_id in ids:
        payment_id = db.scalar(select(Refund.payment_id).where(Refund.id == refund_id))
        assert payment_id is not None
        payment = core.lock_payment(db, payment_id)
        refund = core.lock_refund(db, refund_id)
        if refund.status != R.PENDING:
            db.rollback()
            continue
        refund.attempts += 1
        provider = get_provider(db)
        try:
            state = provider.refund(
                refund, out_trade_no=payment.out_trade_no, total_fen=payment.amount_fen
            )
            core.check_refund_resource(provider, payment, refund, state.raw)
            changed = core.apply_refund_state(db, refund, state, source="refund call")
        except ProviderRejected as exc:
            core.fail_refund(db, refund, reason=f"{exc.code}: {exc.message}")
            changed = True
        except ProviderError as exc:
            log.warning("refund %s not submitted: %s", refund.out_refund_no, exc)
            refund.failure = str(exc)[:200]
            changed = False
        except Rejected as exc:
            db.rollback()
            log.error("refund %s: %s", refund_id, exc)
            continue
        db.commit()
        moved += int(changed)
    return moved


# --------------------------------------------------------------------------- sandbox


@dataclass
class CashierView:
    payment: Payment
    orders: list[orders_service.Order]
    merchant: str
    mchid: str
    return_url: str


def _sandbox_payment(
    db: Session, actor: Actor, out_trade_no: str, *, with_orders: bool = True
) -> Payment:
    if settings_module.current().payment_provider != "sandbox":
        raise NotFound(_("Payment not found."), code="payment_not_found")
    payment = get_payment(db, actor, out_trade_no, with_orders=with_orders)
    if payment.provider != "sandbox":
        raise NotFound(_("Payment not found."), code="payment_not_found")
    return payment


def cashier(db: Session, actor: Actor, out_trade_no: str) -> CashierView:
    """What the sandbox cashier shows the buyer (only the payment's buyer may see it)."""
    payment = _sandbox_payment(db, actor, out_trade_no)
    found = orders_service.orders_by_ids(db, order_ids=[link.order_id for link in payment.orders])
    orders = [found[link.order_id] for link in payment.orders]
    sandbox = get_sandbox(db)
    return CashierView(
        payment=payment,
        orders=orders,
        merchant="小店 xiaodian",
        mchid=sandbox.mchid,
        return_url=return_url(payment),
    )


@dataclass(frozen=True)
class SandboxPaid:
    """The payment the buyer pressed 确认支付 for, and the notification whose first
    attempt was claimed for the caller to post (``delivery.post_claimed``), if any."""

    payment: Payment
    claimed: Queued | None = None


def sandbox_pay(
    db: Session, actor: Actor, out_trade_no: str, *, claim: bool = False
) -> SandboxPaid:
    """The buyer pressed 确认支付: the sandbox takes the money and queues the notification.

    Pressing twice pays once. Commits; deliver the notification afterwards: with
    ``claim``, its first attempt is claimed here, in this transaction, and returned for
    the caller to post at once (no read and no claim of its own); otherwise it is due now
    for ``delivery.deliver_due``.
    """
    payment = _sandbox_payment(db, actor, out_trade_no, with_orders=False)
    if payment.status == P.PAID:
        db.commit()  # nothing changed; end the read (the delivery follows in a new one)
        return SandboxPaid(payment)
    if payment.status == P.CLOSED:
        raise IllegalTransition(_("This payment has been closed."), code="payment_closed")
    now = clock.now()
    if now >= payment.expires_at:
        raise IllegalTransition(_("The time to pay has run out."), code="payment_expired")
    sandbox = get_sandbox(db)
    queued = sandbox.buyer_pays(
        out_trade_no,
        openid=f"o-sandbox-{payment.buyer_id}",
        claimed_until=delivery.first_retry_at(now) if claim else None,
    )
    if queued is not None:
        core.event(db, "buyer_paid", payment_id=payment.id, actor_id=payment.buyer_id)
    db.commit()
    return SandboxPaid(payment, queued if claim else None)


def payer_openid(db: Session, actor: Actor) -> str | None:
    """The signed-in buyer's openid under the provider's appid (JSAPI inside WeChat)."""
    provider = get_provider(db)
    return accounts_service.openid_for(db, user_id=actor.require_user(), app_id=provider.appid)


# --------------------------------------------------------------------------- transfers


def payee_openid(db: Session, *, user_id: int) -> str | None:
    """The openid a 商家转账 to this account goes to (None: never signed in with WeChat;
    the sandbox pays without one)."""
    provider = get_provider(db)
    if provider.name != "wechatpay":
        return None
    found = accounts_service.openid_for(db, user_id=user_id, app_id=provider.appid)
    if found is None:
        raise Conflict(
            _("The shop owner must sign in with WeChat once to receive payouts."),
            code="payee_without_wechat",
        )
    return found


def transfer(
    db: Session, *, out_bill_no: str, user_id: int, amount_fen: int, remark: str
) -> TransferState:
    """Pay ``amount_fen`` to the account's WeChat (商家转账); ``out_bill_no`` makes a
    repeat the same transfer. Writes nothing: the caller records the answer."""
    openid = payee_openid(db, user_id=user_id)
    return get_provider(db).transfer(
        out_bill_no, openid=openid, amount_fen=amount_fen, remark=remark
    )


def query_transfer(db: Session, *, out_bill_no: str) -> TransferState:
    return get_provider(db).query_transfer(out_bill_no)


def sandbox_bridge_pay(db: Session, actor: Actor, params: dict[str, Any]) -> Payment:
    """The sandbox's WeixinJSBridge: ``getBrandWCPayRequest`` with the parameters the page
    got from prepay. WeChat checks the paySign against the merchant's key and that the
    payer is the openid the prepay named; then the trade succeeds and WeChat notifies.

    Raises InvalidInput (a paySign that does not verify, parameters not of a prepay),
    NotFound (someone else's payment), IllegalTransition (closed, expired). Commits."""
    sandbox = get_sandbox(db)
    try:
        out_trade_no = sandbox.check_pay_request(params)
    except ProviderRejected:
        raise InvalidInput(
            _("The payment request's signature is not valid."), code="bad_pay_sign"
        ) from None
    payment = _sandbox_payment(db, actor, out_trade_no, with_orders=False)
    if payment.status == P.PAID:
        db.commit()
        return payment
    if payment.status == P.CLOSED:
        raise IllegalTransition(_("This payment has been closed."), code="payment_closed")
    if clock.now() >= payment.expires_at:
        raise IllegalTransition(_("The time to pay has run out."), code="payment_expired")
    openid = accounts_service.openid_for(db, user_id=payment.buyer_id, app_id=sandbox.appid)
    if openid is None or not sandbox.is_payer(out_trade_no, openid):
        raise InvalidInput(_("This payment is for another WeChat user."), code="wrong_payer")
    if sandbox.buyer_pays(out_trade_no, openid=openid) is not None:
        core.event(db, "buyer_paid", payment_id=payment.id, actor_id=payment.buyer_id, note="jsapi")
    db.commit()
    return payment


def sandbox_cancel(db: Session, actor: Actor, out_trade_no: str) -> Payment:
    """The buyer left the cashier without paying: nothing is paid; commits."""
    payment = _sandbox_payment(db, actor, out_trade_no)
    core.event(db, "buyer_left", payment_id=payment.id, actor_id=payment.buyer_id)
    db.commit()
    return payment


def sandbox_refund_outcome(db: Session, actor: Actor, *, out_refund_no: str, outcome: str) -> str:
    """An operator decides a processing sandbox refund: success, closed or abnormal."""
    actor.require_operator()
    if settings_module.current().payment_provider != "sandbox":
        raise NotFound(_("Refund not found."), code="refund_not_found")
    statuses = {
        "success": SandboxRefundStatus.SUCCESS,
        "closed": SandboxRefundStatus.CLOSED,
        "abnormal": SandboxRefundStatus.ABNORMAL,
    }
    if outcome not in statuses:
        raise InvalidInput(_("Unknown refund outcome."), code="bad_outcome")
    sandbox = get_sandbox(db)
    row = sandbox.refund_row(out_refund_no[:64])
    if row is None:
        raise NotFound(_("Refund not found."), code="refund_not_found")
    if not sandbox.settle_refund(row, statuses[outcome]):
        raise IllegalTransition(_("This refund cannot change any more."), code="refund_settled")
    db.commit()
    return row.status.value


def sandbox_set_refund_mode(actor: Actor, mode: str) -> None:
    """ "success": sandbox refunds succeed at once; "processing": wait for an outcome."""
    actor.require_operator()
    if settings_module.current().payment_provider != "sandbox":
        raise NotFound(_("Not found."), code="not_found")
    if mode not in ("success", "processing"):
        raise InvalidInput(_("Unknown refund mode."), code="bad_mode")
    from xiaodian.payments.providers import sandbox_dir
    from xiaodian.payments.providers.sandbox import load_keys

    directory = sandbox_dir(settings_module.current())
    # The keys first: they are created by renaming a whole directory into place, which
    # fails quietly over a directory that holds only this setting.
    load_keys(directory)
    (directory / "refund_mode").write_text(mode)

"""Profit sharing (分账) as the ledger asks for it: which paid trades were made to be split,
who can receive, and the provider's calls (WeChat Pay's or the sandbox's, the same
answers). Nothing here writes our tables: the ledger records every answer
(``xiaodian.ledger.sharing``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts_service
from xiaodian.payments.models import Payment, PaymentOrder, PaymentStatus
from xiaodian.payments.providers import get_provider
from xiaodian.payments.providers.base import SharingReceiver, SharingState


@dataclass(frozen=True)
class SharingTrade:
    """The paid trade an order was paid by, and every order it covers."""

    out_trade_no: str
    transaction_id: str | None
    amount_fen: int
    profit_sharing: bool
    order_ids: tuple[int, ...]


def trades_of(
    db: Session, order_ids: Iterable[int], *, lock: bool = False
) -> dict[int, SharingTrade]:
    """Each order's paid trade (the payment that paid it; orders never paid are absent),
    two queries however many. ``lock`` (PostgreSQL) holds the payments' rows, in id order,
    until the transaction ends, so two planners of one payment take turns (three)."""
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    paid = list(
        db.execute(
            select(
                PaymentOrder.order_id,
                Payment.id,
                Payment.out_trade_no,
                Payment.transaction_id,
                Payment.amount_fen,
                Payment.profit_sharing,
            )
            .join(Payment, Payment.id == PaymentOrder.payment_id)
            .where(
                PaymentOrder.order_id.in_(wanted),
                PaymentOrder.outcome == "paid",  # not a payment refunded as unpayable
                Payment.status == PaymentStatus.PAID,
            )
        )
    )
    if lock and paid and db.get_bind().dialect.name == "postgresql":
        db.execute(
            select(Payment.id)
            .where(Payment.id.in_(sorted({row[1] for row in paid})))
            .order_by(Payment.id)
            .with_for_update()
        )
    covered: dict[int, list[int]] = {}
    for order_id, payment_id in db.execute(
        select(PaymentOrder.order_id, PaymentOrder.payment_id)
        .where(
            PaymentOrder.payment_id.in_({row[1] for row in paid}),
            PaymentOrder.outcome == "paid",
        )
        .order_by(PaymentOrder.order_id)
    ):
        covered.setdefault(payment_id, []).append(order_id)
    return {
        order_id: SharingTrade(
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            amount_fen=amount,
            profit_sharing=bool(sharing),
            order_ids=tuple(covered.get(payment_id, [order_id])),
        )
        for order_id, payment_id, out_trade_no, transaction_id, amount, sharing in paid
    }


def sharing_orders_paid_since(db: Session, since: datetime) -> list[int]:
    """The orders paid since ``since`` by payments made to be split (an index keeps it
    small when profit sharing is off: only payments made before it was turned off)."""
    return list(
        db.scalars(
            select(PaymentOrder.order_id)
            .join(Payment, Payment.id == PaymentOrder.payment_id)
            .where(
                Payment.profit_sharing.is_(True),
                Payment.paid_at >= since,
                Payment.status == PaymentStatus.PAID,
                PaymentOrder.outcome == "paid",
            )
        )
    )


def receiver_accounts(db: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """The openid each account receives profit sharing at (absent: never signed in with
    WeChat; the sandbox gives every account one of its own)."""
    ids = sorted(set(user_ids))
    provider = get_provider(db)
    found = accounts_service.openids_for(db, user_ids=ids, app_id=provider.appid)
    if provider.name != "wechatpay":
        return {user_id: found.get(user_id, f"o_sandbox_{user_id}") for user_id in ids}
    return found


def add_receiver(db: Session, *, type: str, account: str, name: str = "") -> None:
    get_provider(db).add_sharing_receiver(type, account, name=name)


def share(
    db: Session,
    *,
    out_order_no: str,
    transaction_id: str,
    receivers: list[SharingReceiver],
    unfreeze_unsplit: bool = False,
) -> SharingState:
    return get_provider(db).share(
        out_order_no,
        transaction_id=transaction_id,
        receivers=receivers,
        unfreeze_unsplit=unfreeze_unsplit,
    )


def query(db: Session, *, out_order_no: str, transaction_id: str) -> SharingState:
    return get_provider(db).query_sharing(out_order_no, transaction_id=transaction_id)


def unfreeze(db: Session, *, out_order_no: str, transaction_id: str) -> SharingState:
    return get_provider(db).unfreeze(
        out_order_no, transaction_id=transaction_id, description="解冻剩余资金"
    )

"""The sandbox's profit sharing (分账): ``/v3/profitsharing/receivers/add``, ``/orders``,
its query and ``/orders/unfreeze``, with WeChat Pay's rules and answers.

- Only a trade paid with ``settle_info.profit_sharing`` can be split, and only until its
  rest is unfrozen; a receiver must have been added first (a merchant with its full name);
  amounts are whole fen above zero; at most 50 receivers a request and 50 requests a trade.
- What all the splits of a trade take together stays within the collecting merchant's
  maximum ratio (``XIAODIAN_PROFIT_SHARING_MAX_RATIO_BP``) and within what is left of it
  after refunds (``NOT_ENOUGH``).
- A request is accepted PROCESSING, its receivers PENDING; it finishes once the trade's
  money has settled at WeChat Pay (``SETTLES_AFTER`` its payment) and a minute has passed,
  each receiver SUCCESS, or CLOSED when ``XIAODIAN_LEDGER_PAYOUT_MODE=fail`` (the money
  stays with the collecting merchant); with ``processing`` it stays under way.
- The same ``out_order_no`` again is the same order (its answer, nothing new).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.payments.models import (
    SandboxRefund,
    SandboxRefundStatus,
    SandboxSharingOrder,
    SandboxSharingReceiver,
    SandboxTrade,
    SandboxTradeState,
)
from xiaodian.payments.providers.base import (
    MAX_SHARING_RECEIVERS,
    MAX_SHARING_REQUESTS,
    RECEIVER_MERCHANT,
    RECEIVER_PERSONAL,
    SHARING_FINISHED,
    SHARING_NOT_FOUND,
    SHARING_PROCESSING,
    ProviderRejected,
    SharingReceiver,
    SharingState,
)

SETTLES_AFTER = timedelta(days=1)  # WeChat Pay settles a payment's money the next day
PROCESSING_FOR = timedelta(minutes=1)
_ORDER_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


def _bad(message: str, code: str = "INVALID_REQUEST") -> ProviderRejected:
    return ProviderRejected(code, message)


def add_receiver(db: Session, mchid: str, type: str, account: str, name: str) -> None:
    if type not in (RECEIVER_MERCHANT, RECEIVER_PERSONAL):
        raise _bad("分账接收方类型错误", "PARAM_ERROR")
    if not account or len(account) > 64:
        raise _bad("分账接收方账号错误", "PARAM_ERROR")
    if type == RECEIVER_MERCHANT and not name:
        raise _bad("商户类型的分账接收方需要商户全称", "PARAM_ERROR")
    if type == RECEIVER_MERCHANT and account == mchid:
        raise _bad("不能添加分账方自己为分账接收方")
    known = db.scalar(
        select(SandboxSharingReceiver.id).where(
            SandboxSharingReceiver.type == type, SandboxSharingReceiver.account == account
        )
    )
    if known is None:
        db.add(SandboxSharingReceiver(type=type, account=account, name=name[:100]))
        db.flush()


def _trade(db: Session, transaction_id: str) -> SandboxTrade:
    trade = db.scalar(
        select(SandboxTrade).where(SandboxTrade.transaction_id == transaction_id).with_for_update()
    )
    if trade is None:
        raise _bad("订单不存在", "RESOURCE_NOT_EXISTS")
    if not trade.profit_sharing:
        raise _bad("非分账订单不支持分账")
    if trade.state not in (SandboxTradeState.SUCCESS, SandboxTradeState.REFUND):
        raise _bad("订单未支付成功")
    if trade.unfrozen_at is not None:
        raise _bad("订单已解冻剩余资金，不能再分账")
    return trade


def _orders(db: Session, transaction_id: str) -> list[SandboxSharingOrder]:
    return list(
        db.scalars(
            select(SandboxSharingOrder).where(SandboxSharingOrder.transaction_id == transaction_id)
        )
    )


def _split_fen(orders: list[SandboxSharingOrder]) -> int:
    """What the splits of a trade took or hold (a CLOSED receiver's money came back)."""
    return sum(
        int(r["amount"])
        for o in orders
        if not o.unfreeze
        for r in o.receivers
        if r.get("result") != "CLOSED"
    )


def _unsplit(db: Session, trade: SandboxTrade, orders: list[SandboxSharingOrder]) -> int:
    refunded = db.scalar(
        select(func.coalesce(func.sum(SandboxRefund.amount_fen), 0)).where(
            SandboxRefund.out_trade_no == trade.out_trade_no,
            SandboxRefund.status != SandboxRefundStatus.CLOSED,
        )
    )
    return max(0, trade.amount_fen - int(refunded or 0) - _split_fen(orders))


def share(
    db: Session,
    out_order_no: str,
    transaction_id: str,
    receivers: list[SharingReceiver],
    unfreeze_unsplit: bool,
) -> SharingState:
    existing = _by_no(db, out_order_no)
    if existing is not None:
        if existing.transaction_id != transaction_id:
            raise _bad("商户分账单号已用于另一笔订单")
        return _answer(db, existing)
    if not _ORDER_NO.match(out_order_no):
        raise _bad("商户分账单号格式错误", "PARAM_ERROR")
    if not 1 <= len(receivers) <= MAX_SHARING_RECEIVERS:
        raise _bad("分账接收方最多50个", "PARAM_ERROR")
    for r in receivers:
        if not isinstance(r.amount, int) or isinstance(r.amount, bool) or r.amount <= 0:
            raise _bad("分账金额须为大于0的整数（分）", "PARAM_ERROR")
        added = db.scalar(
            select(SandboxSharingReceiver.id).where(
                SandboxSharingReceiver.type == r.type, SandboxSharingReceiver.account == r.account
            )
        )
        if added is None:
            raise _bad("分账接收方未添加")
    trade = _trade(db, transaction_id)
    orders = _orders(db, transaction_id)
    if len(orders) >= MAX_SHARING_REQUESTS:
        raise _bad("同一笔订单最多分账50次")
    asked = sum(r.amount for r in receivers)
    ratio = settings_module.current().profit_sharing_max_ratio_bp
    if _split_fen(orders) + asked > trade.amount_fen * ratio // 10_000:
        raise _bad("分账金额超出最大分账比例")
    if asked > _unsplit(db, trade, orders):
        raise _bad("分账金额不足", "NOT_ENOUGH")
    row = _new(db, out_order_no, transaction_id, [_pending(r) for r in receivers], False)
    if unfreeze_unsplit:  # the rest comes back once this split finishes
        row.receivers = [*row.receivers, {"unfreeze_rest": True}]
    return _answer(db, row)


def unfreeze(db: Session, out_order_no: str, transaction_id: str) -> SharingState:
    existing = _by_no(db, out_order_no)
    if existing is not None:
        if existing.transaction_id != transaction_id:
            raise _bad("商户分账单号已用于另一笔订单")
        return _answer(db, existing)
    if not _ORDER_NO.match(out_order_no):
        raise _bad("商户分账单号格式错误", "PARAM_ERROR")
    trade = _trade(db, transaction_id)
    orders = _orders(db, transaction_id)
    if any(o.state == SHARING_PROCESSING for o in orders):
        raise _bad("订单分账处理中，请稍后再解冻")
    rest = _unsplit(db, trade, orders)
    receiver = {
        "type": RECEIVER_MERCHANT,
        "account": trade.mchid,
        "amount": rest,
        "description": "解冻给分账方",
        "result": "PENDING",
        "fail_reason": "",
    }
    row = _new(db, out_order_no, transaction_id, [receiver] if rest else [], True)
    return _answer(db, row)


def query(db: Session, out_order_no: str, transaction_id: str) -> SharingState:
    row = _by_no(db, out_order_no)
    if row is None or row.transaction_id != transaction_id:
        return SharingState(out_order_no=out_order_no, state=SHARING_NOT_FOUND)
    return _answer(db, row)


def _by_no(db: Session, out_order_no: str) -> SandboxSharingOrder | None:
    return db.scalar(
        select(SandboxSharingOrder)
        .where(SandboxSharingOrder.out_order_no == out_order_no)
        .with_for_update()
    )


def _pending(r: SharingReceiver) -> dict[str, Any]:
    return {**r.as_request(), "result": "PENDING", "fail_reason": ""}


def _new(
    db: Session,
    out_order_no: str,
    transaction_id: str,
    receivers: list[dict[str, Any]],
    unfreeze: bool,
) -> SandboxSharingOrder:
    row = SandboxSharingOrder(
        out_order_no=out_order_no,
        order_id="3008" + clock.now().strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}",
        transaction_id=transaction_id,
        unfreeze=unfreeze,
        state=SHARING_PROCESSING,
        receivers=receivers,
        created_at=clock.now(),
    )
    db.add(row)
    db.flush()
    return row


def _answer(db: Session, row: SandboxSharingOrder) -> SharingState:
    """The order as WeChat Pay answers it, finished first if its time has come."""
    if row.state == SHARING_PROCESSING:
        _maybe_finish(db, row)
    receivers = tuple(
        SharingReceiver(
            type=r["type"],
            account=r["account"],
            amount=int(r["amount"]),
            description=r["description"],
            result=r["result"],
            fail_reason=r.get("fail_reason", ""),
        )
        for r in row.receivers
        if "type" in r
    )
    return SharingState(row.out_order_no, row.state, row.order_id, receivers)


def _maybe_finish(db: Session, row: SandboxSharingOrder) -> None:
    mode = settings_module.current().ledger_payout_mode
    if mode == "processing":
        return
    trade = db.scalar(select(SandboxTrade).where(SandboxTrade.transaction_id == row.transaction_id))
    if trade is None or trade.success_time is None:
        return
    now = clock.now()
    ready = max(
        clock.as_utc(row.created_at) + PROCESSING_FOR,
        clock.as_utc(trade.success_time) + SETTLES_AFTER,
    )
    if now < ready:
        return
    closed = mode == "fail" and not row.unfreeze
    row.receivers = [
        {
            **r,
            "result": "CLOSED" if closed else "SUCCESS",
            "fail_reason": "ACCOUNT_ABNORMAL" if closed else "",
        }
        if "type" in r
        else r
        for r in row.receivers
    ]
    row.state = SHARING_FINISHED
    row.finished_at = now
    if row.unfreeze or any(r.get("unfreeze_rest") for r in row.receivers):
        trade.unfrozen_at = now
    db.flush()

"""The sandbox's daily bills: what its "WeChat side" recorded on a day, as WeChat Pay serves it.

``apply`` answers like ``GET /v3/bill/tradebill`` and ``/v3/bill/fundflowbill``: before 10:00
Beijing time of the next day the bill is still being made (``STATEMENT_CREATING``, try again
later), a day without a successful trade or refund has no bill (``NO_STATEMENT_EXIST``), else
a ``download_url`` with the file's SHA1. The URL's token is signed and expires after five
minutes; ``download`` refuses a forged or expired one. The file is the gzip of the text of
:mod:`xiaodian.payments.bills`, built from the sandbox's trade and refund tables, so what the
sandbox served is what a test finds when it reads the rows (and a test that edits a row sees
the bill change, which is how breaks are made on purpose).
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.clock import BUSINESS_TZ
from xiaodian.payments import bills
from xiaodian.payments.models import (
    SandboxRefund,
    SandboxRefundStatus,
    SandboxTrade,
    SandboxTradeState,
)
from xiaodian.payments.providers.base import BillFile, BillNotReady, ProviderRejected

KINDS = ("trade", "fundflow")
READY_AT = time(10, 0)  # WeChat: "建议商户在上午10点以后获取"
TOKEN_SECONDS = 300
DOWNLOAD_PATH = "/sandbox/wechatpay/v3/billdownload/file"


def _day_bounds(bill_date: date) -> tuple[datetime, datetime]:
    start = datetime.combine(bill_date, time(0), tzinfo=BUSINESS_TZ)
    return start, start + timedelta(days=1)


def fee_of(amount_fen: int) -> int:
    """The sandbox charges the payment fee the deployment says WeChat Pay charges, per
    trade, rounded half up to the fen (a refund gives back the same share of it)."""
    bp = settings_module.current().ledger_payment_fee_bp
    return (2 * amount_fen * bp + 10_000) // 20_000


def _rate() -> str:
    bp = settings_module.current().ledger_payment_fee_bp
    return f"{bp // 100}.{bp % 100:02d}%"  # basis points as WeChat writes a rate: 0.60%


def trade_lines(db: Session, bill_date: date) -> list[bills.TradeLine]:
    start, end = _day_bounds(bill_date)
    trades = db.scalars(
        select(SandboxTrade)
        .where(
            SandboxTrade.state.in_((SandboxTradeState.SUCCESS, SandboxTradeState.REFUND)),
            SandboxTrade.success_time >= start,
            SandboxTrade.success_time < end,
        )
        .order_by(SandboxTrade.success_time, SandboxTrade.id)
    ).all()
    refunds = db.execute(
        select(SandboxRefund, SandboxTrade)
        .join(SandboxTrade, SandboxTrade.out_trade_no == SandboxRefund.out_trade_no)
        .where(
            SandboxRefund.status == SandboxRefundStatus.SUCCESS,
            SandboxRefund.success_time >= start,
            SandboxRefund.success_time < end,
        )
        .order_by(SandboxRefund.success_time, SandboxRefund.id)
    ).all()
    rate = _rate()
    lines = [
        bills.TradeLine(
            at=t.success_time or start,
            appid=t.appid,
            mchid=t.mchid,
            transaction_id=t.transaction_id,
            out_trade_no=t.out_trade_no,
            openid=t.payer_openid or "",
            trade_type=t.trade_type,
            description=t.description,
            total_fen=t.amount_fen,
            fee_fen=fee_of(t.amount_fen),
            rate=rate,
        )
        for t in trades
    ]
    for r, t in refunds:
        lines.append(
            bills.TradeLine(
                at=r.success_time or start,
                appid=t.appid,
                mchid=t.mchid,
                transaction_id=t.transaction_id,
                out_trade_no=t.out_trade_no,
                openid=t.payer_openid or "",
                trade_type=t.trade_type,
                description=t.description,
                total_fen=0,
                fee_fen=fee_of(r.amount_fen),
                rate=rate,
                refund_id=r.refund_id,
                out_refund_no=r.out_refund_no,
                refund_fen=r.amount_fen,
                refund_status="SUCCESS",
            )
        )
    lines.sort(key=lambda line: line.at)
    return lines


def fund_lines(trades: list[bills.TradeLine]) -> list[bills.FundLine]:
    """The basic account's movements: each payment in, its fee out, each refund out."""
    out: list[bills.FundLine] = []
    for n, t in enumerate(trades, start=1):
        flow = f"{t.at.astimezone(BUSINESS_TZ):%Y%m%d}{n:010d}"
        if t.out_refund_no:
            out.append(
                bills.FundLine(
                    t.at,
                    t.refund_id,
                    flow,
                    "退款",
                    "退款",
                    "支出",
                    t.refund_fen - t.fee_fen,
                    "REF" + t.refund_id,
                    note=f"退款总金额{bills.yuan(t.refund_fen)}元",
                )
            )
        else:
            out.append(
                bills.FundLine(
                    t.at,
                    t.transaction_id,
                    flow,
                    "交易",
                    "交易",
                    "收入",
                    t.total_fen,
                    t.out_trade_no,
                )
            )
            if t.fee_fen:
                out.append(
                    bills.FundLine(
                        t.at,
                        t.transaction_id,
                        flow + "F",
                        "交易",
                        "扣除交易手续费",
                        "支出",
                        t.fee_fen,
                        t.out_trade_no,
                    )
                )
    return out


def content(db: Session, kind: str, bill_date: date) -> bytes | None:
    """The gzip file of the day's bill, or None when the day has none."""
    trades = trade_lines(db, bill_date)
    if not trades:
        return None
    if kind == "trade":
        text = bills.render_trade_bill(trades)
    else:
        text = bills.render_fund_flow_bill(fund_lines(trades))
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _signer() -> Signer:
    return Signer(settings_module.current().secret_key, salt="sandbox-bill")


def apply(db: Session, kind: str, bill_date: date) -> BillFile | None:
    if kind not in KINDS:
        raise ProviderRejected("PARAM_ERROR", f"unknown bill kind {kind}")
    _start, end = _day_bounds(bill_date)
    now = clock.now()
    if now < end:
        raise ProviderRejected("INVALID_REQUEST", "bill_date must be a day in the past")
    if now < datetime.combine(end.date(), READY_AT, tzinfo=BUSINESS_TZ):
        raise BillNotReady("STATEMENT_CREATING", "账单生成中")
    data = content(db, kind, bill_date)
    if data is None:
        return None
    payload = json.dumps(
        {"kind": kind, "date": bill_date.isoformat(), "exp": int(now.timestamp()) + TOKEN_SECONDS}
    )
    token = _signer().sign(payload.encode()).decode()
    base = settings_module.current().public_base_url.rstrip("/")
    return BillFile(
        download_url=f"{base}{DOWNLOAD_PATH}?token={token}",
        hash_type="SHA1",
        hash_value=bills.sha1(data),
    )


def download(db: Session, url: str) -> bytes:
    token = url.partition("token=")[2]
    try:
        payload: dict[str, Any] = json.loads(_signer().unsign(token.encode()))
        kind = str(payload["kind"])
        bill_date = date.fromisoformat(str(payload["date"]))
        expires = int(payload["exp"])
    except (BadSignature, ValueError, KeyError, TypeError):
        raise ProviderRejected("SIGN_ERROR", "the download token is not the sandbox's") from None
    if clock.now().timestamp() > expires:
        raise ProviderRejected("INVALID_REQUEST", "the download token has expired")
    data = content(db, kind, bill_date)
    if data is None:
        raise ProviderRejected("NO_STATEMENT_EXIST", "账单不存在")
    return data

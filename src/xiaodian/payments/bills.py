"""WeChat Pay's daily bills (交易账单, 资金账单) in its published text format, read and written.

A bill is CSV-like text: a header line, detail rows in which every field is prefixed with a
backtick (so a spreadsheet keeps long numbers as text), then a summary header and one summary
row. The trade bill of type ALL has 27 columns (type REFUND adds two: when the refund was
asked for and when it succeeded); the fund-flow bill has 11. Amounts are in 元 with two
decimals (fees with up to five, as WeChat prints them); they become integer fen through
``Decimal``, never a float: an amount with a third decimal is a malformed bill, a fee is
rounded half up to the fen (WeChat charges whole fen; the extra decimals only show the rate's
arithmetic). A bill that does not add up (row count, totals) is malformed as a whole: nothing
of it is used.

The sandbox writes bills with :func:`render_trade_bill` / :func:`render_fund_flow_bill`, the
reconciliation reads them with :func:`parse_trade_bill` / :func:`parse_fund_flow_bill`: the
same code reads a real bill and a sandbox one.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from xiaodian.clock import BUSINESS_TZ

TRADE_COLUMNS = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
REFUND_EXTRA_COLUMNS = ["退款申请时间", "退款成功时间"]
TRADE_SUMMARY = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
FUND_COLUMNS = [
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额（元）",
    "账户结余（元）",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
]
FUND_SUMMARY = ["资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额"]

CENT = Decimal("0.01")
MAX_FEN = 2**53  # far above any day's trade; a bigger figure is a malformed bill


class MalformedBill(ValueError):
    """The bill cannot be read as WeChat Pay writes it; ``str(exc)`` says where."""


@dataclass(frozen=True)
class TradeRow:
    at: datetime
    transaction_id: str
    out_trade_no: str
    trade_type: str
    status: str  # SUCCESS | REFUND | REVOKED
    settled_fen: int  # 应结订单金额
    coupon_fen: int  # 代金券金额
    refund_id: str  # 微信退款单号 ("0" when none)
    out_refund_no: str
    refund_fen: int
    refund_status: str  # SUCCESS | PROCESSING | ... ("" on a payment row)
    fee_fen: int
    rate: str
    total_fen: int  # 订单金额
    refund_asked_fen: int  # 申请退款金额


@dataclass(frozen=True)
class TradeBill:
    rows: tuple[TradeRow, ...]
    settled_fen: int
    refund_fen: int
    fee_fen: int
    total_fen: int


@dataclass(frozen=True)
class FundRow:
    at: datetime
    business_no: str  # 微信支付业务单号
    flow_no: str
    name: str  # 业务名称: 交易, 退款, 提现...
    business_type: str  # 业务类型: 交易, 退款, 扣除交易手续费...
    direction: str  # 收入 | 支出
    amount_fen: int
    balance_fen: int
    voucher: str  # 业务凭证号


@dataclass(frozen=True)
class FundBill:
    rows: tuple[FundRow, ...]
    income_fen: int
    expense_fen: int


# --------------------------------------------------------------------------- reading


def fen(text: str, *, field: str, fee: bool = False) -> int:
    """An amount in 元 as WeChat writes it ("12.30", "-0.07", "0.00600") in integer fen."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MalformedBill(f"{field}: {text[:20]!r} is not an amount") from None
    if not value.is_finite():
        raise MalformedBill(f"{field}: {text[:20]!r} is not an amount")
    cents = value * 100
    if fee:
        cents = cents.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    elif cents != cents.to_integral_value():
        raise MalformedBill(f"{field}: {text!r} has more than two decimals")
    result = int(cents)
    if abs(result) > MAX_FEN:
        raise MalformedBill(f"{field}: {text[:20]!r} is out of range")
    return result


def yuan(amount_fen: int, *, places: int = 2) -> str:
    """Integer fen as WeChat writes 元 ("12.30"; a fee with five places, "0.07000")."""
    value = (Decimal(amount_fen) / 100).quantize(Decimal(1).scaleb(-places))
    return f"{value:f}"


def decode(data: bytes) -> str:
    """The bill's text: gunzipped when it is a gzip file, UTF-8 (a BOM is dropped)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise MalformedBill(f"not a readable gzip file: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedBill("the bill is not UTF-8 text") from None


def sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _fields(line: str, count: int, where: str) -> list[str]:
    if not line.startswith("`"):
        raise MalformedBill(f"{where}: a field without its backtick")
    fields = line[1:].split(",`")
    if len(fields) != count:
        raise MalformedBill(f"{where}: {len(fields)} fields, {count} expected")
    return fields


def _time(text: str, where: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BUSINESS_TZ)
    except ValueError:
        raise MalformedBill(f"{where}: {text[:30]!r} is not a time") from None


def _sections(text: str, header: list[str], summary: list[str]) -> tuple[list[str], list[str]]:
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise MalformedBill("the bill is empty")
    head = lines[0].split(",")
    if head[: len(header)] != header:
        raise MalformedBill("the header is not WeChat Pay's")
    try:
        at = lines.index(",".join(summary))
    except ValueError:
        raise MalformedBill("the summary header is missing") from None
    if at + 2 != len(lines):
        raise MalformedBill("the summary must be the last two lines")
    return lines[1:at], _fields(lines[at + 1], len(summary), "summary")


def parse_trade_bill(data: bytes) -> TradeBill:
    """Read a trade bill (type ALL or REFUND); raises :class:`MalformedBill`."""
    text = decode(data)
    first = text.split("\n", 1)[0].rstrip("\r").split(",")
    width = len(TRADE_COLUMNS)
    if first == TRADE_COLUMNS + REFUND_EXTRA_COLUMNS:
        width += len(REFUND_EXTRA_COLUMNS)
    elif first != TRADE_COLUMNS:
        raise MalformedBill("the header is not WeChat Pay's trade bill")
    details, summary = _sections(text, TRADE_COLUMNS, TRADE_SUMMARY)
    rows: list[TradeRow] = []
    for number, line in enumerate(details, start=2):
        f = _fields(line, width, f"line {number}")
        where = f"line {number}"
        rows.append(
            TradeRow(
                at=_time(f[0], where),
                transaction_id=f[5],
                out_trade_no=f[6],
                trade_type=f[8],
                status=f[9],
                settled_fen=fen(f[12], field=f"{where} 应结订单金额"),
                coupon_fen=fen(f[13], field=f"{where} 代金券金额"),
                refund_id=f[14],
                out_refund_no=f[15],
                refund_fen=fen(f[16], field=f"{where} 退款金额"),
                refund_status=f[19],
                fee_fen=fen(f[22], field=f"{where} 手续费", fee=True),
                rate=f[23],
                total_fen=fen(f[24], field=f"{where} 订单金额"),
                refund_asked_fen=fen(f[25], field=f"{where} 申请退款金额"),
            )
        )
    try:
        count = int(Decimal(summary[0]))
    except (InvalidOperation, ValueError):
        raise MalformedBill("summary: the count is not a number") from None
    if count != len(rows):
        raise MalformedBill(f"summary: {count} trades announced, {len(rows)} listed")
    bill = TradeBill(
        rows=tuple(rows),
        settled_fen=fen(summary[1], field="应结订单总金额"),
        refund_fen=fen(summary[2], field="退款总金额"),
        fee_fen=fen(summary[4], field="手续费总金额", fee=True),
        total_fen=fen(summary[5], field="订单总金额"),
    )
    sums = (
        ("应结订单总金额", bill.settled_fen, sum(r.settled_fen for r in rows)),
        ("退款总金额", bill.refund_fen, sum(r.refund_fen for r in rows)),
        ("订单总金额", bill.total_fen, sum(r.total_fen for r in rows)),
    )
    for name, stated, added in sums:
        if stated != added:
            raise MalformedBill(
                f"summary: {name} is {yuan(stated)}, the rows add up to {yuan(added)}"
            )
    return bill


def parse_fund_flow_bill(data: bytes) -> FundBill:
    """Read a fund-flow bill (basic account); raises :class:`MalformedBill`."""
    text = decode(data)
    details, summary = _sections(text, FUND_COLUMNS, FUND_SUMMARY)
    rows: list[FundRow] = []
    for number, line in enumerate(details, start=2):
        f = _fields(line, len(FUND_COLUMNS), f"line {number}")
        where = f"line {number}"
        if f[5] not in ("收入", "支出"):
            raise MalformedBill(f"{where}: 收支类型 {f[5][:10]!r}")
        rows.append(
            FundRow(
                at=_time(f[0], where),
                business_no=f[1],
                flow_no=f[2],
                name=f[3],
                business_type=f[4],
                direction=f[5],
                amount_fen=fen(f[6], field=f"{where} 收支金额"),
                balance_fen=fen(f[7], field=f"{where} 账户结余"),
                voucher=f[10],
            )
        )
    try:
        count, incomes, expenses = (int(Decimal(summary[i])) for i in (0, 1, 3))
    except (InvalidOperation, ValueError):
        raise MalformedBill("summary: a count is not a number") from None
    income = fen(summary[2], field="收入金额")
    expense = fen(summary[4], field="支出金额")
    ins = [r for r in rows if r.direction == "收入"]
    outs = [r for r in rows if r.direction == "支出"]
    if (count, incomes, expenses) != (len(rows), len(ins), len(outs)):
        raise MalformedBill("summary: the counts do not match the rows")
    if income != sum(r.amount_fen for r in ins) or expense != sum(r.amount_fen for r in outs):
        raise MalformedBill("summary: the amounts do not match the rows")
    return FundBill(rows=tuple(rows), income_fen=income, expense_fen=expense)


# --------------------------------------------------------------------------- writing


def _line(values: Iterable[str]) -> str:
    return ",".join("`" + value.replace("\n", " ").replace(",`", ", `") for value in values)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class TradeLine:
    """What the sandbox knows of one row: a payment, or a refund of one."""

    at: datetime
    appid: str
    mchid: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    description: str
    total_fen: int
    fee_fen: int
    rate: str
    refund_id: str = ""
    out_refund_no: str = ""
    refund_fen: int = 0
    refund_status: str = ""


def render_trade_bill(lines: Iterable[TradeLine]) -> str:
    """A trade bill of type ALL as WeChat Pay writes it."""
    out = [",".join(TRADE_COLUMNS)]
    settled = refunded = fees = totals = asked = 0
    count = 0
    for t in lines:
        count += 1
        refund = bool(t.out_refund_no)
        row_settled = 0 if refund else t.total_fen
        row_total = 0 if refund else t.total_fen
        row_fee = -t.fee_fen if refund else t.fee_fen
        settled += row_settled
        refunded += t.refund_fen
        fees += row_fee
        totals += row_total
        asked += t.refund_fen
        out.append(
            _line(
                [
                    _stamp(t.at),
                    t.appid,
                    t.mchid,
                    "0",  # 特约商户号: 0 for a direct merchant
                    "",
                    t.transaction_id,
                    t.out_trade_no,
                    t.openid,
                    t.trade_type,
                    "REFUND" if refund else "SUCCESS",
                    "OTHERS",
                    "CNY",
                    yuan(row_settled),
                    "0.00",
                    t.refund_id or "0",
                    t.out_refund_no or "0",
                    yuan(t.refund_fen),
                    "0.00",
                    "ORIGINAL" if refund else "",
                    t.refund_status if refund else "",
                    t.description,
                    "",
                    yuan(row_fee, places=5),
                    t.rate,
                    yuan(row_total),
                    yuan(t.refund_fen),
                    "",
                ]
            )
        )
    out.append(",".join(TRADE_SUMMARY))
    out.append(
        _line(
            [
                str(count),
                yuan(settled),
                yuan(refunded),
                "0.00",
                yuan(fees, places=5),
                yuan(totals),
                yuan(asked),
            ]
        )
    )
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class FundLine:
    at: datetime
    business_no: str
    flow_no: str
    name: str
    business_type: str
    direction: str
    amount_fen: int
    voucher: str
    note: str = ""


def render_fund_flow_bill(lines: Iterable[FundLine], *, opening_fen: int = 0) -> str:
    """A fund-flow bill of the basic account as WeChat Pay writes it."""
    out = [",".join(FUND_COLUMNS)]
    balance = opening_fen
    income = expense = ins = outs = 0
    for f in lines:
        if f.direction == "收入":
            balance += f.amount_fen
            income += f.amount_fen
            ins += 1
        else:
            balance -= f.amount_fen
            expense += f.amount_fen
            outs += 1
        out.append(
            _line(
                [
                    _stamp(f.at),
                    f.business_no,
                    f.flow_no,
                    f.name,
                    f.business_type,
                    f.direction,
                    yuan(f.amount_fen),
                    yuan(balance),
                    "system",
                    f.note,
                    f.voucher,
                ]
            )
        )
    out.append(",".join(FUND_SUMMARY))
    out.append(_line([str(ins + outs), str(ins), yuan(income), str(outs), yuan(expense)]))
    return "\n".join(out) + "\n"

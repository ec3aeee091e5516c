"""The merchant side of orders: the shop's order list, shipping (one, or a CSV batch), and
export as CSV for Excel. A shop's staff see only their shop; other shops' orders are 404.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.clock import BUSINESS_TZ
from xiaodian.errors import Conflict, DomainError, InvalidInput, NotFound, TooLarge, _
from xiaodian.money import format_fen
from xiaodian.orders import states
from xiaodian.orders.models import Order, OrderStatus
from xiaodian.orders.service import OrderPage, page_of


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str  # as shown (Chinese brand names are used in both languages)
    aliases: tuple[str, ...]
    pattern: re.Pattern[str]


# Common carriers in mainland China, with the shape of their tracking numbers.
CARRIERS: dict[str, Carrier] = {
    c.code: c
    for c in (
        Carrier("SF", "顺丰速运", ("顺丰", "sf", "顺丰快递"), re.compile(r"^SF\d{12,15}$")),
        Carrier("ZTO", "中通快递", ("中通", "zto"), re.compile(r"^\d{12,16}$")),
        Carrier("YTO", "圆通速递", ("圆通", "yto", "圆通快递"), re.compile(r"^YT\d{13,18}$")),
        Carrier("STO", "申通快递", ("申通", "sto"), re.compile(r"^\d{12,16}$")),
        Carrier("YD", "韵达快递", ("韵达", "yd", "yunda"), re.compile(r"^\d{13,16}$")),
        Carrier(
            "EMS",
            "EMS",
            ("ems", "中国邮政", "邮政"),
            re.compile(r"^(\d{13}|[A-Z]{2}\d{9}[A-Z]{2})$"),
        ),
        Carrier("JD", "京东物流", ("京东", "jd", "京东快递"), re.compile(r"^JD[A-Z0-9]{10,20}$")),
    )
}

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 2000
MAX_EXPORT_ROWS = 20000
CSV_TYPES = ("text/csv", "text/plain", "application/vnd.ms-excel", "application/csv", "")


def find_carrier(value: str) -> Carrier | None:
    key = (value or "").strip()
    if key.upper() in CARRIERS:
        return CARRIERS[key.upper()]
    for carrier in CARRIERS.values():
        if key == carrier.name or key.lower() in carrier.aliases:
            return carrier
    return None


def check_shipment(carrier: str, tracking_no: str) -> tuple[Carrier, str]:
    found = find_carrier(carrier)
    if found is None:
        raise InvalidInput(_("Choose a carrier from the list."), code="bad_carrier")
    number = re.sub(r"\s", "", tracking_no or "").upper()
    if not found.pattern.match(number):
        raise InvalidInput(
            _("%(number)s is not a valid %(carrier)s tracking number."),
            code="bad_tracking_no",
            number=number[:40] or "-",
            carrier=found.name,
        )
    return found, number


def _shop_order(db: Session, actor: Actor, shop_id: int, order_no: str) -> Order:
    actor.require_shop(shop_id)
    order = db.scalar(select(Order).where(Order.order_no == order_no, Order.shop_id == shop_id))
    if order is None:
        raise NotFound(_("Order not found."), code="order_not_found")
    return order


def shop_order(db: Session, actor: Actor, shop_id: int, order_no: str) -> Order:
    """One of the shop's orders (staff or owner); other shops' orders are "not found"."""
    return _shop_order(db, actor, shop_id, order_no)


def list_shop_orders(
    db: Session, actor: Actor, shop_id: int, *, status: str = "", page: int = 1
) -> OrderPage:
    """The shop's orders; without a status filter, orders to ship come first (oldest first)."""
    actor.require_shop(shop_id)
    conds = [Order.shop_id == shop_id]
    if status:
        try:
            conds.append(Order.status == OrderStatus(status))
        except ValueError:
            raise InvalidInput(_("Unknown order status."), code="bad_status") from None
    # paid and not held by a forming group buy first: what can be shipped now
    to_ship_first = case(((Order.status == OrderStatus.PAID) & Order.held.is_(False), 0), else_=1)
    query = (
        select(Order)
        .where(*conds)
        .order_by(
            to_ship_first,
            case((Order.status == OrderStatus.PAID, Order.paid_at), else_=None),
            Order.created_at.desc(),
            Order.id.desc(),
        )
    )
    count = select(func.count()).select_from(Order).where(*conds)
    return page_of(db, query, count, page)


def status_counts(db: Session, actor: Actor, shop_id: int) -> dict[str, int]:
    actor.require_shop(shop_id)
    rows = db.execute(
        select(Order.status, func.count()).where(Order.shop_id == shop_id).group_by(Order.status)
    )
    return {str(status): int(n) for status, n in rows}


def _ship(db: Session, actor: Actor, order: Order, carrier: str, tracking_no: str) -> Order:
    found, number = check_shipment(carrier, tracking_no)
    # The after-sales condition is part of the UPDATE: a case opened by the buyer a moment
    # ago (committed after this order was loaded) stops the shipment too.
    return states.advance_one(
        db,
        order,
        "ship",
        actor_id=actor.user_id,
        actor_kind="merchant",
        note=f"{found.name} {number}",
        values={"carrier": found.code, "tracking_no": number},
        where=[Order.aftersale_open.is_(False), Order.held.is_(False)],
        refused=_aftersale_refusal,
    )


def _aftersale_refusal(order: Order) -> DomainError | None:
    if order.held:
        return Conflict(
            _("This order waits for its group buy to fill; ship it when the group succeeds."),
            code="order_held",
        )
    if order.aftersale_open:
        return Conflict(
            _("This order has an open after-sales request; resolve it before shipping."),
            code="aftersale_open",
        )
    return None


def ship_order(
    db: Session, actor: Actor, shop_id: int, order_no: str, *, carrier: str, tracking_no: str
) -> Order:
    """Ship a paid order with a carrier and tracking number: paid -> shipped."""
    order = _shop_order(db, actor, shop_id, order_no)
    _ship(db, actor, order, carrier, tracking_no)
    db.commit()
    return order


@dataclass
class BatchResult:
    shipped: list[str] = field(default_factory=list)
    errors: list[tuple[int, str, DomainError]] = field(default_factory=list)  # line, no, why


def _decode_csv(data: bytes, content_type: str = "", filename: str = "") -> str:
    if len(data) > MAX_CSV_BYTES:
        raise TooLarge(_("The file is larger than 1 MB."), code="file_too_large")
    if filename and not filename.lower().endswith((".csv", ".txt")):
        raise InvalidInput(_("Upload a .csv file."), code="bad_file_type")
    if content_type.split(";")[0].strip().lower() not in CSV_TYPES:
        raise InvalidInput(_("Upload a .csv file."), code="bad_file_type")
    if b"\x00" in data:
        raise InvalidInput(_("Upload a .csv file."), code="bad_file_type")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(_("The file must be UTF-8 text."), code="bad_encoding") from None


def ship_batch(
    db: Session,
    actor: Actor,
    shop_id: int,
    data: bytes,
    *,
    content_type: str = "text/csv",
    filename: str = "",
) -> BatchResult:
    """Ship from a CSV of ``order_no,carrier,tracking_no`` (header optional, UTF-8 with or
    without BOM). Good rows are applied; bad rows are reported by line number."""
    actor.require_shop(shop_id)
    text = _decode_csv(data, content_type, filename)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # e.g. a field over the csv module's limit: not our CSV
        raise InvalidInput(_("The file is not a valid CSV file."), code="bad_csv") from None
    if len(rows) > MAX_CSV_ROWS + 1:
        raise TooLarge(_("At most %(n)s rows per file."), code="too_many_rows", n=MAX_CSV_ROWS)
    result = BatchResult()
    wanted = [r[0].strip() for r in rows if r and r[0].strip()]
    orders = {
        o.order_no: o
        for o in db.scalars(
            select(Order).where(Order.shop_id == shop_id, Order.order_no.in_(wanted))
        )
    }
    for line_no, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if line_no == 1 and cells[0].lower().replace(" ", "_") in ("order_no", "订单号"):
            continue  # header
        order_no = cells[0]
        try:
            if len(cells) < 3:
                raise InvalidInput(_("Expected order_no,carrier,tracking_no."), code="bad_row")
            order = orders.get(order_no)
            if order is None:
                raise NotFound(_("Order not found."), code="order_not_found")
            _ship(db, actor, order, cells[1], cells[2])
            result.shipped.append(order_no)
        except DomainError as exc:
            result.errors.append((line_no, order_no[:30], exc))
    db.commit()
    return result


_EXPORT_HEADER = [
    "订单号",
    "下单时间",
    "状态",
    "商品",
    "件数",
    "商品金额",
    "运费",
    "实付",
    "已退款",
    "收货人",
    "手机",
    "收货地址",
    "买家备注",
    "快递公司",
    "运单号",
    "发货时间",
]


def _cell(value: object) -> str:
    """Text for a spreadsheet cell; formulas are defused (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _local(moment: datetime | None) -> str:
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def export_csv(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    status: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> bytes:
    """The shop's orders as CSV (UTF-8 with BOM, so Excel opens it), newest first.

    ``date_from``/``date_to`` are business dates (Asia/Shanghai), both inclusive.
    """
    actor.require_shop(shop_id)
    conds = [Order.shop_id == shop_id]
    if status:
        try:
            conds.append(Order.status == OrderStatus(status))
        except ValueError:
            raise InvalidInput(_("Unknown order status."), code="bad_status") from None
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(_("The start date is after the end date."), code="bad_range")
    if date_from:
        conds.append(Order.created_at >= datetime.combine(date_from, time(), BUSINESS_TZ))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time(), BUSINESS_TZ)
        conds.append(Order.created_at < end)
    orders = db.scalars(
        select(Order).where(*conds).order_by(Order.created_at.desc()).limit(MAX_EXPORT_ROWS)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_EXPORT_HEADER)
    for o in orders:
        a = o.address or {}
        carrier = CARRIERS.get(o.carrier or "")
        writer.writerow(
            [
                _cell(o.order_no),
                _local(o.created_at),
                _cell(states.STATUS_LABELS_ZH[o.status]),
                _cell("；".join(f"{ln.title} {ln.spec_text} x{ln.quantity}" for ln in o.lines)),
                o.item_count,
                *(  # a spreadsheet's numbers: 1234.50, no symbol, no separators
                    format_fen(fen, symbol="", thousands="")
                    for fen in (o.items_fen, o.shipping_fen, o.paid_fen, o.refunded_fen)
                ),
                _cell(a.get("name")),
                _cell(a.get("phone")),
                _cell(o.address_text),
                _cell(o.note),
                _cell(carrier.name if carrier else ""),
                _cell(o.tracking_no),
                _local(o.shipped_at),
            ]
        )
    return "\ufeff".encode() + out.getvalue().encode("utf-8")

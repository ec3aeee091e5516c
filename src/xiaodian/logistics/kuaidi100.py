"""Kuaidi100's subscription push (订阅推送), the format the tracking service speaks.

Kuaidi100 POSTs a form with ``param`` (JSON) and ``sign`` = MD5(param + salt) in upper-case
hex, the salt being the one given when subscribing (here: the deployment's
``logistics_push_salt``). ``param`` carries ``status`` (polling | shutdown | abort |
updateall), ``message`` and ``lastResult``: ``state`` (the parcel's state code, below),
``ischeck`` ("1" once signed for), ``com`` (Kuaidi100's carrier code), ``nu`` (the
tracking number) and ``data``: every event so far, newest first, each with ``time`` and
``ftime`` (Beijing time, "YYYY-MM-DD HH:MM:SS"), ``context`` and optionally ``areaName``
and ``status``. The answer Kuaidi100 expects is ``{"result": true, "returnCode": "200",
"message": "成功"}``.

This module only reads, checks and writes that format; it knows no table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xiaodian.clock import BUSINESS_TZ
from xiaodian.errors import InvalidInput, PermissionDenied, _

# Kuaidi100's carrier codes for the carriers orders ship with (orders.fulfilment.CARRIERS).
COMPANY_CODES: dict[str, str] = {
    "SF": "shunfeng",
    "ZTO": "zhongtong",
    "YTO": "yuantong",
    "STO": "shentong",
    "YD": "yunda",
    "EMS": "ems",
    "JD": "jd",
}
CARRIER_OF_COMPANY = {v: k for k, v in COMPANY_CODES.items()}

# The parcel states (lastResult.state); 2 and the long silence need the merchant.
IN_TRANSIT, COLLECTED, TROUBLE, SIGNED, SIGNED_BACK, DELIVERING, RETURNING = (
    "0", "1", "2", "3", "4", "5", "6",
)  # fmt: skip
REFUSED = "14"
STATE_NAMES: dict[str, str] = {
    "0": "在途",
    "1": "揽收",
    "2": "疑难",
    "3": "签收",
    "4": "退签",
    "5": "派件",
    "6": "退回",
    "7": "转投",
    "8": "清关",
    "14": "拒签",
}
FINAL_STATES = frozenset({SIGNED, SIGNED_BACK, REFUSED})
MAX_EVENTS = 200
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Event:
    at: datetime  # aware, UTC-comparable
    context: str
    area: str
    status: str


@dataclass(frozen=True)
class Push:
    carrier: str  # ours (SF, ZTO...)
    tracking_no: str
    state: str
    signed: bool  # ischeck == "1"
    events: tuple[Event, ...]  # newest first, as sent


def sign(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode("utf-8")).hexdigest().upper()


def verify(param: str, signature: str, salt: str) -> None:
    """Refuse a push whose sign is not MD5(param + salt) (compared in constant time)."""
    expected = sign(param, salt)
    sent = (signature or "").strip().upper().encode("utf-8")  # bytes: any text compares
    if not salt or not hmac.compare_digest(expected.encode("ascii"), sent):
        raise PermissionDenied(_("The tracking push is not signed by our tracking service."),
                               code="bad_push_signature")  # fmt: skip


def _bad(what: str) -> InvalidInput:
    return InvalidInput(_("The tracking push is malformed: %(what)s."), code="bad_push", what=what)


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _bad("time")
    try:
        local = datetime.strptime(value.strip(), TIME_FORMAT)
    except ValueError:
        raise _bad("time") from None
    return local.replace(tzinfo=BUSINESS_TZ)


def parse(param: str) -> Push:
    """Read a verified ``param``. Raises InvalidInput (422) for anything else."""
    try:
        body = json.loads(param)
    except ValueError:
        raise _bad("param") from None
    result = body.get("lastResult") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise _bad("lastResult")
    carrier = CARRIER_OF_COMPANY.get(_text(result.get("com"), 40).lower())
    number = _text(result.get("nu"), 40).upper()
    state = _text(str(result.get("state", "")), 4)
    if carrier is None:
        raise _bad("com")
    if not number:
        raise _bad("nu")
    if state not in STATE_NAMES:
        raise _bad("state")
    data = result.get("data") or []
    if not isinstance(data, list) or len(data) > MAX_EVENTS:
        raise _bad("data")
    events = []
    for item in data:
        if not isinstance(item, dict):
            raise _bad("data")
        context = _text(item.get("context"), 500)
        if not context:
            raise _bad("context")
        events.append(
            Event(
                at=_time(item.get("ftime") or item.get("time")),
                context=context,
                area=_text(item.get("areaName"), 100),
                status=_text(item.get("status"), 20),
            )
        )
    return Push(
        carrier=carrier,
        tracking_no=number,
        state=state,
        signed=str(result.get("ischeck", "0")) == "1",
        events=tuple(events),
    )


def build_param(
    *, carrier: str, tracking_no: str, state: str, events: list[Event], status: str = "polling"
) -> str:
    """A ``param`` as Kuaidi100 sends it (the sandbox's journeys; tests)."""
    newest_first = sorted(events, key=lambda e: e.at, reverse=True)
    data = [
        {
            "time": e.at.astimezone(BUSINESS_TZ).strftime(TIME_FORMAT),
            "ftime": e.at.astimezone(BUSINESS_TZ).strftime(TIME_FORMAT),
            "context": e.context,
            "areaName": e.area,
            "status": e.status,
        }
        for e in newest_first
    ]
    return json.dumps(
        {
            "status": status,
            "billstatus": "got",
            "message": "",
            "lastResult": {
                "message": "ok",
                "state": state,
                "status": "200",
                "condition": "F00",
                "ischeck": "1" if state == SIGNED else "0",
                "com": COMPANY_CODES[carrier],
                "nu": tracking_no,
                "data": data,
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


ACCEPTED = {"result": True, "returnCode": "200", "message": "成功"}

"""The tracking sandbox: plays a parcel's journey the way Kuaidi100 would report it.

A journey is a fixed script of steps, each some hours after the previous one (揽收, two
在途, 派件, 签收). Playing a parcel sends, for each step that is due by ``clock.now()``,
the push Kuaidi100 would send then (every event so far, newest first, signed with the
deployment's salt) to the push endpoint through ``send``, so the sandbox exercises the
real endpoint and tests move the clock instead of waiting. ``step_now`` plays the next
step at once (the merchant's sandbox button in the demo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, PermissionDenied, _
from xiaodian.logistics import kuaidi100
from xiaodian.logistics.models import Parcel, TrackingEvent
from xiaodian.logistics.service import push_salt, receive_push, shop_parcel

PUSH_PATH = "/api/v1/logistics/kuaidi100/push"
Send = Callable[[str, str], None]  # (param, sign) -> None; raises if refused


@dataclass(frozen=True)
class Step:
    after: timedelta  # since the previous step (the first: since shipping)
    state: str
    status: str
    area: str
    context: str


JOURNEY: tuple[Step, ...] = (
    Step(timedelta(hours=2), "1", "揽收", "杭州市", "【杭州市】快递员已揽收，正发往杭州转运中心"),
    Step(
        timedelta(hours=5), "0", "在途", "杭州市", "【杭州转运中心】已发出，下一站【上海转运中心】"
    ),
    Step(timedelta(hours=14), "0", "在途", "上海市", "【上海转运中心】已到达，正发往派送网点"),
    Step(
        timedelta(hours=9), "5", "派件", "上海市", "【上海浦东网点】快递员正在派件，请保持电话畅通"
    ),
    Step(
        timedelta(hours=3), "3", "签收", "上海市", "【上海浦东网点】已签收，签收人：本人。感谢使用"
    ),
)


_SCRIPT = frozenset(step.context for step in JOURNEY)


def http_sender(base_url: str | None = None) -> Send:
    """Send pushes to a running server's push endpoint (the worker, the CLI)."""
    url = (base_url or settings_module.current().public_base_url).rstrip("/") + PUSH_PATH

    def send(param: str, sign: str) -> None:
        httpx.post(url, data={"param": param, "sign": sign}, timeout=10).raise_for_status()

    return send


def _events_so_far(db: Session, parcel: Parcel) -> list[kuaidi100.Event]:
    rows = db.scalars(select(TrackingEvent).where(TrackingEvent.parcel_id == parcel.id))
    return [kuaidi100.Event(r.at, r.context, r.area, r.status) for r in rows]


def _push(parcel: Parcel, events: list[kuaidi100.Event], state: str, send: Send) -> None:
    param = kuaidi100.build_param(
        carrier=parcel.carrier, tracking_no=parcel.tracking_no, state=state, events=events
    )
    send(param, kuaidi100.sign(param, push_salt()))


def _next(db: Session, parcel: Parcel) -> tuple[Step, list[kuaidi100.Event], datetime] | None:
    events = _events_so_far(db, parcel)
    played = sum(1 for e in events if e.context in _SCRIPT)  # a 疑难 is no step
    if played >= len(JOURNEY):
        return None
    step = JOURNEY[played]
    previous = max((e.at for e in events), default=parcel.shipped_at)
    return step, events, previous + step.after


def play_due(db: Session, send: Send) -> int:
    """Send every journey step due by now, for every parcel still on its way; return how
    many pushes were sent. Reads only: the endpoint writes (its own transaction)."""
    sent = 0
    now = clock.now()
    ids = list(db.scalars(select(Parcel.id).where(Parcel.finished.is_(False)).order_by(Parcel.id)))
    for parcel_id in ids:
        while True:
            db.rollback()  # a fresh snapshot: the endpoint wrote the last push
            parcel = db.get(Parcel, parcel_id)
            found = _next(db, parcel) if parcel is not None else None
            if parcel is None or found is None or found[2] > now:
                break
            step, events, at = found
            events.append(kuaidi100.Event(at, step.context, step.area, step.status))
            _push(parcel, events, step.state, send)
            sent += 1
    return sent


def step_now(db: Session, parcel: Parcel, send: Send) -> None:
    """Play the parcel's next step now (dated now). Conflict when the journey is over."""
    found = _next(db, parcel)
    if found is None or parcel.finished:
        raise Conflict(_("This parcel's journey is over."), code="journey_over")
    step, events, _due = found
    now = clock.now()
    at = max(now, max((e.at for e in events), default=now))
    events.append(kuaidi100.Event(at, step.context, step.area, step.status))
    _push(parcel, events, step.state, send)


def trouble_now(db: Session, parcel: Parcel, send: Send) -> None:
    """Report the parcel in 疑难 now (the demo of the merchant's queue)."""
    if parcel.finished:
        raise Conflict(_("This parcel's journey is over."), code="journey_over")
    events = _events_so_far(db, parcel)
    events.append(
        kuaidi100.Event(clock.now(), "【上海浦东网点】地址不详，联系不上收件人", "上海市", "疑难")
    )
    _push(parcel, events, kuaidi100.TROUBLE, send)


def _in_process(db: Session) -> Send:
    """Apply pushes as the endpoint does, in this session (the merchant's sandbox buttons)."""

    def send(param: str, sign: str) -> None:
        receive_push(db, param=param, sign=sign)

    return send


def _sandbox_parcel(db: Session, actor: Actor, shop_id: int, parcel_id: int) -> Parcel:
    if not settings_module.current().logistics_sandbox:
        raise PermissionDenied(_("The tracking sandbox is off."), code="sandbox_off")
    return shop_parcel(db, actor, shop_id, parcel_id)


def advance_parcel(db: Session, actor: Actor, shop_id: int, parcel_id: int) -> Parcel:
    """The shop's staff play their parcel's next step now (sandbox only). Commits."""
    parcel = _sandbox_parcel(db, actor, shop_id, parcel_id)
    step_now(db, parcel, _in_process(db))
    return parcel


def report_trouble(db: Session, actor: Actor, shop_id: int, parcel_id: int) -> Parcel:
    """The shop's staff make their parcel report 疑难 (sandbox only). Commits."""
    parcel = _sandbox_parcel(db, actor, shop_id, parcel_id)
    trouble_now(db, parcel, _in_process(db))
    return parcel

"""Logistics (物流跟踪): parcels follow their orders from shipping to signature.

- A parcel is made in the transaction that ships its order (a listener of orders'
  "shipped"), with the order's carrier and tracking number.
- Tracking arrives as Kuaidi100's subscription push (``receive_push``): the sign is checked
  before anything is read; each event is stored once (UNIQUE per parcel), so a replay adds
  nothing; an older push arriving after a newer one does not move the state back.
- A parcel signed for (签收) tells orders (``orders.service.mark_delivered``), whose
  confirmation countdown then runs from the signature's time.
- The merchant's "parcels needing attention": a journey not over with no event for
  ``logistics_stale_hours`` (72 by default), or in 疑难.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.errors import NotFound, _
from xiaodian.logistics import kuaidi100
from xiaodian.logistics.models import Parcel, TrackingEvent
from xiaodian.orders import lifecycle
from xiaodian.orders import service as orders_service

ATTENTION_LIMIT = 200


def push_salt() -> str:
    """The salt pushes are signed with: the setting, or one derived from the secret key
    (so the sandbox works with no configuration; set it when subscribing for real)."""
    conf = settings_module.current()
    if conf.logistics_push_salt:
        return conf.logistics_push_salt
    return hmac.new(conf.secret_key.encode(), b"logistics-push-salt", hashlib.sha256).hexdigest()[
        :32
    ]


# --------------------------------------------------------------------------- shipping


@lifecycle.on("shipped")
def _parcels_for_shipped_orders(db: Session, change: lifecycle.Change) -> None:
    orders = orders_service.orders_by_ids(db, order_ids=list(change.order_ids))
    known = set(db.scalars(select(Parcel.order_id).where(Parcel.order_id.in_(orders))))
    db.add_all(
        Parcel(
            order_id=o.id,
            shop_id=o.shop_id,
            carrier=o.carrier or "",
            tracking_no=o.tracking_no or "",
            shipped_at=o.shipped_at or change.at,
            updated_at=change.at,
        )
        for o in orders.values()
        if o.id not in known and o.carrier and o.tracking_no
    )


# --------------------------------------------------------------------------- the push


def _event_key(event: kuaidi100.Event) -> str:
    raw = f"{event.at.isoformat()}|{event.context}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _insert_events(db: Session, parcel_id: int, events: tuple[kuaidi100.Event, ...]) -> int:
    rows = {
        _event_key(e): {
            "parcel_id": parcel_id,
            "key": _event_key(e),
            "at": e.at,
            "context": e.context,
            "area": e.area,
            "status": e.status,
            "received_at": clock.now(),
        }
        for e in events
    }
    if not rows:
        return 0
    insert = (
        postgresql.insert(TrackingEvent)
        if db.get_bind().dialect.name == "postgresql"
        else sqlite.insert(TrackingEvent)
    )
    stmt = insert.values(list(rows.values())).on_conflict_do_nothing(
        index_elements=["parcel_id", "key"]
    )
    return len(list(db.scalars(stmt.returning(TrackingEvent.id))))


def _signed_time(push: kuaidi100.Push) -> datetime:
    signed = [e.at for e in push.events if e.status in ("签收", "已签收")]
    return max(signed or [e.at for e in push.events] or [clock.now()])


def receive_push(db: Session, *, param: str, sign: str) -> int:
    """Apply one Kuaidi100 push to the parcels with its carrier and tracking number;
    return how many new events it brought. Commits.

    Raises PermissionDenied (a sign that is not ours: nothing read, nothing written),
    InvalidInput (a signed but malformed param), NotFound (no parcel of ours)."""
    kuaidi100.verify(param, sign, push_salt())
    push = kuaidi100.parse(param)
    parcels = list(
        db.scalars(
            select(Parcel)
            .where(Parcel.carrier == push.carrier, Parcel.tracking_no == push.tracking_no)
            .order_by(Parcel.id)
            .with_for_update()
        )
    )
    if not parcels:
        raise NotFound(_("No parcel has this tracking number."), code="parcel_not_found")
    newest = max((e.at for e in push.events), default=None)
    added = 0
    now = clock.now()
    delivered: list[int] = []
    for parcel in parcels:
        added += _insert_events(db, parcel.id, push.events)
        if parcel.last_event_at is not None and (newest is None or newest < parcel.last_event_at):
            continue  # an older push, late: its events are kept, the state is not
        parcel.state = push.state
        parcel.last_event_at = newest or parcel.last_event_at
        parcel.updated_at = now
        parcel.finished = push.state in kuaidi100.FINAL_STATES
        if (push.state == kuaidi100.SIGNED or push.signed) and parcel.signed_at is None:
            parcel.signed_at = _signed_time(push)
            delivered.append(parcel.order_id)
    if delivered:
        at = min(p.signed_at for p in parcels if p.signed_at is not None)
        orders_service.mark_delivered(db, order_ids=delivered, at=at, note=push.tracking_no)
    _sync_chase_cases(db, parcels)
    db.commit()
    return added


CHASE = "parcels"
# A case's title is stored text, shown as it is, like the carriers' own state names (在途,
# 疑难): in Chinese.
STALE_TITLE = "长时间无物流更新"


def _chase_row(parcel: Parcel, why: str) -> dict[str, object]:
    return {
        "key": f"parcel:{parcel.id}",
        "title": f"{parcel.carrier} {parcel.tracking_no} · {why}",
        "link": f"/merchant/shops/{parcel.shop_id}/parcels#parcel-{parcel.id}",
        "shop_id": parcel.shop_id,
    }


def _sync_chase_cases(db: Session, parcels: list[Parcel]) -> None:
    """A parcel in 疑难 is a case of its shop's "parcels to chase"; one that moved on
    (any other state, or finished) leaves it. Joins the caller's transaction."""
    trouble = [p for p in parcels if p.state == kuaidi100.TROUBLE and not p.finished]
    moved = [f"parcel:{p.id}" for p in parcels if p not in trouble]
    cases_service.close_cases(db, CHASE, moved, outcome="moved")
    if trouble:
        cases_service.open_cases(
            db, CHASE, (_chase_row(p, state_name(p.state)) for p in trouble), again=True
        )


def open_stale_cases(db: Session, *, limit: int = 1000) -> int:
    """The job: parcels whose journey is not over and that have been silent for
    ``logistics_stale_hours`` become cases of their shop's "parcels to chase" (a push that
    brings news closes them). Commits; how many parcels it looked at."""
    stale = clock.now() - timedelta(hours=settings_module.current().logistics_stale_hours)
    last = func.coalesce(Parcel.last_event_at, Parcel.shipped_at)
    parcels = list(
        db.scalars(
            select(Parcel)
            .where(Parcel.finished.is_(False), last <= stale)
            .order_by(last, Parcel.id)
            .limit(limit)
        )
    )
    cases_service.open_cases(db, CHASE, (_chase_row(p, STALE_TITLE) for p in parcels), again=True)
    db.commit()
    return len(parcels)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    context: str
    area: str
    status: str


@dataclass(frozen=True)
class Tracking:
    parcel: Parcel
    state_name: str
    entries: list[TimelineEntry]  # newest first


def state_name(state: str | None) -> str:
    if state is None:
        return _("Waiting for the carrier")
    return kuaidi100.STATE_NAMES.get(state, state)


def tracking_for_order(db: Session, order_id: int) -> Tracking | None:
    """The parcel of an order and its events, newest first (None before shipping).
    Callers check the order is the reader's."""
    parcel = db.scalar(select(Parcel).where(Parcel.order_id == order_id))
    if parcel is None:
        return None
    events = db.scalars(
        select(TrackingEvent)
        .where(TrackingEvent.parcel_id == parcel.id)
        .order_by(TrackingEvent.at.desc(), TrackingEvent.id.desc())
    )
    return Tracking(
        parcel=parcel,
        state_name=state_name(parcel.state),
        entries=[TimelineEntry(e.at, e.context, e.area, e.status) for e in events],
    )


@lifecycle.order_panel
def _order_page_panel(db: Session, order: orders_service.Order) -> lifecycle.Panel | None:
    tracking = tracking_for_order(db, order.id)
    if tracking is None:
        return None
    days = settings_module.current().order_auto_complete_days
    confirm_by = (
        order.delivered_at + timedelta(days=days)
        if order.delivered_at is not None and order.status == orders_service.OrderStatus.SHIPPED
        else None
    )
    return lifecycle.Panel(
        "logistics/_timeline.html", {"tracking": tracking, "confirm_by": confirm_by}
    )


@dataclass(frozen=True)
class NeedsAttention:
    parcel: Parcel
    order_no: str
    state_name: str
    age: timedelta  # since the last event (or shipping, with no event yet)
    reason: str  # "trouble" (疑难) | "stale"


def parcels_needing_attention(db: Session, actor: Actor, shop_id: int) -> list[NeedsAttention]:
    """The shop's parcels whose journey is not over and that are in 疑难 or silent for
    ``logistics_stale_hours``, the longest silent first (at most 200)."""
    actor.require_shop(shop_id)
    now = clock.now()
    stale = now - timedelta(hours=settings_module.current().logistics_stale_hours)
    last = func.coalesce(Parcel.last_event_at, Parcel.shipped_at)
    parcels = list(
        db.scalars(
            select(Parcel)
            .where(
                Parcel.shop_id == shop_id,
                Parcel.finished.is_(False),
                or_(Parcel.state == kuaidi100.TROUBLE, last <= stale),
            )
            .order_by(last, Parcel.id)
            .limit(ATTENTION_LIMIT)
        )
    )
    orders = orders_service.orders_by_ids(db, order_ids=[p.order_id for p in parcels])
    out = []
    for p in parcels:
        order = orders.get(p.order_id)
        if order is None or order.status != orders_service.OrderStatus.SHIPPED:
            continue  # completed or refunded meanwhile: nothing left to chase
        out.append(
            NeedsAttention(
                parcel=p,
                order_no=order.order_no,
                state_name=state_name(p.state),
                age=now - (p.last_event_at or p.shipped_at),
                reason="trouble" if p.state == kuaidi100.TROUBLE else "stale",
            )
        )
    return out


def shop_parcel(db: Session, actor: Actor, shop_id: int, parcel_id: int) -> Parcel:
    """One of the shop's parcels (its staff only; others: 404)."""
    actor.require_shop(shop_id)
    parcel = db.get(Parcel, parcel_id)
    if parcel is None or parcel.shop_id != shop_id:
        raise NotFound(_("Parcel not found."), code="parcel_not_found")
    return parcel


def parcels_on_the_way(db: Session, actor: Actor, shop_id: int) -> list[Parcel]:
    """The shop's parcels whose journey is not over, newest shipment first (at most 200)."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(Parcel)
            .where(Parcel.shop_id == shop_id, Parcel.finished.is_(False))
            .order_by(Parcel.shipped_at.desc(), Parcel.id.desc())
            .limit(ATTENTION_LIMIT)
        )
    )

"""After-sales (售后) use cases: buyers open and follow cases, merchants answer them,
operators arbitrate, payments report refunds, and the periodic jobs keep time.

Every public function that takes an ``actor`` is one transaction and commits; the ones
payments calls (``refund_settled``, ``refund_failed``) join the caller's transaction.
Transitions are the table in ``states.py``; each one writes an ``AftersaleEvent``.

Rules worth knowing:

- A case covers one order line (a quantity of it) or the whole order. At most
  ``MAX_CASES_PER_LINE`` cases ever cover a line, and only one open case at a time
  (``open_key`` is unique while a case is open).
- Windows after receipt (the order's ``completed_at``): "no reason" returns (不想要了 /
  拍错了 / 其他) within the product's ``return_days`` (0 = none); the merchant's fault
  (质量问题 / 与描述不符 / 少件漏发) within ``FAULT_WINDOW_DAYS`` (15) or the product's
  own window if longer. Before receipt there is no window.
- The money goes out through ``payments.request_refund(..., ref="aftersale:<id>")`` in the
  same transaction as the move to ``refunding``; ``refund_settled`` finishes the case.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.aftersales import states
from xiaodian.aftersales.models import (
    AftersaleCase,
    AftersaleEvent,
    CaseKind,
    CaseReason,
    CaseStatus,
)
from xiaodian.catalog import inventory
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, DomainError, InvalidInput, NotFound, _
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.service import Order, OrderLine, OrderStatus
from xiaodian.payments import lifecycle as payments_lifecycle
from xiaodian.payments import service as payments_service

log = logging.getLogger(__name__)

S = CaseStatus
K = CaseKind

MAX_CASES_PER_LINE = 5
MAX_PHOTOS = 3
MAX_DESCRIPTION = 500
# The merchant's fault (quality, not as described, missing items) may be claimed this long
# after receipt even when the product allows no "no reason" returns.
FAULT_WINDOW_DAYS = 15
# A rejected buyer may escalate to the platform within this many days.
ESCALATION_DAYS = 7
PAGE_SIZE = 20
JOB_BATCH = 200
TERMINAL = frozenset({S.REFUNDED, S.COMPLETED, S.CLOSED, S.CANCELLED})

# Which order statuses allow which kind of case.
_KIND_ORDER_STATUS: dict[CaseKind, frozenset[OrderStatus]] = {
    K.REFUND_ONLY: frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED}),
    K.RETURN_REFUND: frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED}),
    K.EXCHANGE: frozenset({OrderStatus.COMPLETED}),
}


# --------------------------------------------------------------------------- reads


@dataclass
class CasePage:
    cases: list[AftersaleCase]
    total: int
    page: int
    pages: int


@dataclass
class CaseOptions:
    """What the buyer may ask for on one order line (or the whole order), for the form."""

    order: Order
    line: OrderLine | None
    kinds: list[CaseKind]
    reasons: list[CaseReason]
    max_quantity: int
    max_refund_fen: int
    # Why nothing can be asked (the form shows it instead), else None.
    blocked: str | None = None
    notes: list[str] = field(default_factory=list)


def case_events(db: Session, case_id: int) -> list[AftersaleEvent]:
    return list(
        db.scalars(
            select(AftersaleEvent)
            .where(AftersaleEvent.case_id == case_id)
            .order_by(AftersaleEvent.at, AftersaleEvent.id)
        )
    )


def cases_for_order(db: Session, *, order_id: int) -> list[AftersaleCase]:
    """All cases of one order, newest first (for the order pages; no permission check)."""
    return list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.order_id == order_id)
            .order_by(AftersaleCase.created_at.desc(), AftersaleCase.id.desc())
        )
    )


def pending_count(db: Session, *, shop_id: int) -> int:
    """Cases waiting for the shop (requested or goods back), for the console badge."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(AftersaleCase)
            .where(
                AftersaleCase.shop_id == shop_id,
                AftersaleCase.status.in_([S.REQUESTED, S.AWAITING_RETURN, S.RETURNED]),
            )
        )
        or 0
    )


def _page(db: Session, conds: list[Any], order_by: list[Any], page: int) -> CasePage:
    if not isinstance(page, int) or page < 1:
        raise InvalidInput(_("Invalid page number."), code="bad_page")
    total = int(db.scalar(select(func.count()).select_from(AftersaleCase).where(*conds)) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(*conds)
            .order_by(*order_by)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return CasePage(cases=cases, total=total, page=page, pages=pages)


def _load(db: Session, case_id: int, *, lock: bool) -> AftersaleCase | None:
    query = select(AftersaleCase).where(AftersaleCase.id == case_id)
    if lock:
        # PostgreSQL: a second click waits here and then sees the first one's result.
        # SQLite: write transactions begin IMMEDIATE, so they are already serialised.
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.scalar(query)


def _not_found() -> NotFound:
    return NotFound(_("After-sales case not found."), code="case_not_found")


# --------------------------------------------------------------------------- buyers


def list_my_cases(db: Session, actor: Actor, *, page: int = 1) -> CasePage:
    buyer_id = actor.require_user()
    return _page(
        db,
        [AftersaleCase.buyer_id == buyer_id],
        [AftersaleCase.created_at.desc(), AftersaleCase.id.desc()],
        page,
    )


def get_my_case(db: Session, actor: Actor, case_id: int, *, lock: bool = False) -> AftersaleCase:
    """The buyer's own case; anybody else's is "not found"."""
    buyer_id = actor.require_user()
    case = _load(db, case_id, lock=lock)
    if case is None or case.buyer_id != buyer_id:
        raise _not_found()
    return case


def _find_line(order: Order, line_id: int | None) -> OrderLine | None:
    if line_id is None:
        return None
    for line in order.lines:
        if line.id == line_id:
            return line
    raise NotFound(_("Order line not found."), code="line_not_found")


def _lines_of(order: Order, line: OrderLine | None) -> list[OrderLine]:
    return [line] if line is not None else list(order.lines)


def _open_key(order: Order, line: OrderLine | None) -> str:
    return f"line:{line.id}" if line is not None else f"order:{order.id}"


def _covering(order_id: int, line_ids: list[int] | None) -> list[Any]:
    """Conditions for cases that cover any of ``line_ids`` (None: any case of the order)."""
    conds: list[Any] = [AftersaleCase.order_id == order_id]
    if line_ids is not None:
        conds.append(AftersaleCase.line_id.in_(line_ids) | AftersaleCase.line_id.is_(None))
    return conds


def _check_no_open_case(
    db: Session, order: Order, line: OrderLine | None, *, exclude: int | None = None
) -> None:
    conds = _covering(order.id, [line.id] if line is not None else None)
    conds.append(AftersaleCase.open_key.is_not(None))
    if exclude is not None:
        conds.append(AftersaleCase.id != exclude)
    if db.scalar(select(AftersaleCase.id).where(*conds).limit(1)) is not None:
        raise Conflict(
            _("There is already an open after-sales case for this item."), code="case_open"
        )


def _check_case_cap(db: Session, order: Order, line: OrderLine | None) -> None:
    """At most MAX_CASES_PER_LINE cases ever cover one line (whole-order cases cover all)."""
    rows = db.execute(
        select(AftersaleCase.line_id, func.count())
        .where(AftersaleCase.order_id == order.id)
        .group_by(AftersaleCase.line_id)
    ).all()
    per_line = {line_id: count for line_id, count in rows}
    whole = per_line.pop(None, 0)
    targets = [line.id] if line is not None else [ln.id for ln in order.lines]
    worst = max((per_line.get(t, 0) for t in targets), default=0) + whole
    if worst >= MAX_CASES_PER_LINE:
        raise Conflict(
            _("An item can have at most %(n)s after-sales cases."),
            code="too_many_cases",
            n=MAX_CASES_PER_LINE,
        )


def _case_fen(db: Session, order_id: int, statuses: Iterable[CaseStatus], *conds: Any) -> int:
    """Money of this order's cases in ``statuses``: approved while refunding, else refunded."""
    rows = db.execute(
        select(AftersaleCase.status, AftersaleCase.approved_fen, AftersaleCase.refunded_fen).where(
            AftersaleCase.order_id == order_id, AftersaleCase.status.in_(list(statuses)), *conds
        )
    ).all()
    return sum(
        (approved or 0) if status == S.REFUNDING else refunded
        for status, approved, refunded in rows
    )


def refundable_fen(
    db: Session,
    order: Order,
    line: OrderLine | None = None,
    quantity: int | None = None,
    *,
    exclude: int | None = None,
) -> int:
    """What may still be refunded for ``quantity`` of ``line`` (or the whole order).

    The order's paid minus refunded (orders) minus refunds in flight from after-sales, and
    for a line also its own amount (pro rata by quantity) minus what its cases got back.
    """
    extra = [AftersaleCase.id != exclude] if exclude is not None else []
    in_flight = _case_fen(db, order.id, [S.REFUNDING], *extra)
    left = orders_service.refundable_fen(db, order_id=order.id) - in_flight
    if line is not None:
        qty = quantity or line.quantity
        share = line.amount_fen * qty // line.quantity
        used = _case_fen(
            db, order.id, [S.REFUNDING, S.REFUNDED], AftersaleCase.line_id == line.id, *extra
        )
        left = min(left, share, line.amount_fen - used)
    return max(0, left)


def _window_problem(
    db: Session, order: Order, lines: list[OrderLine], reason: CaseReason
) -> str | None:
    """Why the time for this reason is over (None: still within), after receipt only."""
    received = order.completed_at
    if order.status != OrderStatus.COMPLETED or received is None:
        return None  # not received yet: the window has not started
    products = catalog_service.get_products(db, {ln.product_id for ln in lines})
    return_days = min((p.return_days for p in products.values()), default=0)
    elapsed = clock.now() - received
    if reason in states.FAULT_REASONS:
        if elapsed > timedelta(days=max(FAULT_WINDOW_DAYS, return_days)):
            return _("The after-sales period for this order is over.")
        return None
    if return_days <= 0:
        return _("This product has no no-reason returns; choose a quality reason if it applies.")
    if elapsed > timedelta(days=return_days):
        return _("The no-reason return period after receipt is over.")
    return None


def case_options(
    db: Session, actor: Actor, *, order_no: str, line_id: int | None = None
) -> CaseOptions:
    """What the buyer may ask for on one line (or the whole order): for the form."""
    order = orders_service.get_my_order(db, actor, order_no)
    line = _find_line(order, line_id)
    kinds = [k for k in CaseKind if order.status in _KIND_ORDER_STATUS[k]]
    options = CaseOptions(
        order=order,
        line=line,
        kinds=kinds,
        reasons=list(CaseReason),
        max_quantity=line.quantity if line is not None else 0,
        max_refund_fen=refundable_fen(db, order, line),
    )
    if not kinds:
        options.blocked = _("This order cannot have after-sales now.")
        return options
    try:
        _check_no_open_case(db, order, line)
        _check_case_cap(db, order, line)
    except Conflict as exc:
        options.blocked = exc.message
        return options
    lines = _lines_of(order, line)
    if _window_problem(db, order, lines, CaseReason.QUALITY) is not None:
        options.blocked = _("The after-sales period for this order is over.")
    elif _window_problem(db, order, lines, CaseReason.NO_LONGER_WANTED) is not None:
        options.reasons = [r for r in CaseReason if r in states.FAULT_REASONS]
        options.notes.append(_("No-reason returns are no longer possible for this item."))
    return options


def _clean_text(value: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(_("Invalid text."), code="bad_text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(_("The text is too long (at most %(n)s characters)."), n=limit)
    return value


def _enum(cls: type[Any], value: Any, message: str, code: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(message, code=code) from None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def open_case(
    db: Session,
    actor: Actor,
    *,
    order_no: str,
    line_id: int | None,
    kind: CaseKind | str,
    reason: CaseReason | str,
    description: str = "",
    quantity: int | None = None,
    amount_fen: int | None = None,
    photos: Sequence[bytes] = (),
) -> AftersaleCase:
    """The buyer asks for after-sales on one line (``quantity`` of it) or the whole order.

    ``amount_fen`` (refund kinds) defaults to all that is refundable and may not exceed it
    (422). Everything is checked before anything is written; photos are stored last and
    removed again if the case cannot be saved.
    """
    buyer_id = actor.require_user()
    kind_ = _enum(CaseKind, kind, _("Choose the kind of after-sales."), "bad_kind")
    reason_ = _enum(CaseReason, reason, _("Choose a reason."), "bad_reason")
    return _open_case(
        db,
        actor,
        buyer_id,
        order_no=order_no,
        line_id=line_id,
        kind=kind_,
        reason=reason_,
        description=description,
        quantity=quantity,
        amount_fen=amount_fen,
        photos=photos,
    )


def _open_case(
    db: Session,
    actor: Actor,
    buyer_id: int,
    *,
    order_no: str,
    line_id: int | None,
    kind: CaseKind,
    reason: CaseReason,
    description: str,
    quantity: int | None,
    amount_fen: int | None,
    photos: Sequence[bytes],
) -> AftersaleCase:
    description = _clean_text(description, MAX_DESCRIPTION)
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(_("At most %(n)s photos."), code="too_many_photos", n=MAX_PHOTOS)
    order = orders_service.get_my_order(db, actor, order_no)
    line = _find_line(order, line_id)
    if order.status not in _KIND_ORDER_STATUS[kind]:
        if kind == K.EXCHANGE:
            msg = _("An exchange is possible only after you have confirmed receipt.")
        elif kind == K.RETURN_REFUND:
            msg = _("A return is possible only after the order has been shipped.")
        else:
            msg = _("This order cannot have after-sales now.")
        raise Conflict(msg, code="order_not_eligible")
    if line is not None:
        quantity = line.quantity if quantity is None else quantity
        if not _positive_int(quantity) or quantity > line.quantity:
            raise InvalidInput(
                _("The quantity must be between 1 and %(n)s."),
                code="bad_quantity",
                n=line.quantity,
            )
    else:
        quantity = None
    problem = _window_problem(db, order, _lines_of(order, line), reason)
    if problem:
        raise Conflict(problem, code="window_closed")
    _check_case_cap(db, order, line)
    _check_no_open_case(db, order, line)
    requested = 0
    if kind in states.MONEY_BACK:
        available = refundable_fen(db, order, line, quantity)
        if available <= 0:
            raise Conflict(_("Nothing is left to refund for this item."), code="nothing_to_refund")
        requested = available if amount_fen is None else amount_fen
        if not _positive_int(requested):
            raise InvalidInput(_("The refund amount must be positive."), code="bad_amount")
        if requested > available:
            raise InvalidInput(
                _("The refund can be at most %(max)s."),
                code="refund_too_much",
                max=f"¥{available / 100:.2f}",
            )
    stored = _store_photos(photos)
    now = clock.now()
    hours = settings_module.current().aftersales_auto_approve_hours
    case = AftersaleCase(
        order_id=order.id,
        order_no=order.order_no,
        buyer_id=buyer_id,
        shop_id=order.shop_id,
        line_id=line.id if line is not None else None,
        quantity=quantity,
        open_key=_open_key(order, line),
        kind=kind,
        status=S.REQUESTED,
        reason=reason,
        description=description,
        photos=[{"path": p.path, "thumb": p.thumb_path} for p in stored],
        title=(line.title if line is not None else order.title)[:200],
        spec_text=(line.spec_text if line is not None else "")[:200],
        thumb_path=line.thumb_path if line is not None else order.lines[0].thumb_path,
        requested_fen=requested,
        created_at=now,
        updated_at=now,
        respond_by=now + timedelta(hours=hours),
    )
    try:
        db.add(case)
        db.flush()
        _event(
            db,
            case,
            "open",
            "buyer",
            buyer_id,
            None,
            note=description or None,
            amount_fen=requested or None,
        )
        orders_service.set_aftersale_open(db, order_id=order.id, open=True)
        db.commit()
    except IntegrityError:
        db.rollback()
        _delete_photos(stored)
        raise Conflict(
            _("There is already an open after-sales case for this item."), code="case_open"
        ) from None
    except BaseException:
        db.rollback()
        _delete_photos(stored)
        raise
    return case


def _store_photos(photos: Sequence[bytes]) -> list[media.StoredImage]:
    stored: list[media.StoredImage] = []
    try:
        for data in photos:
            stored.append(media.save_image(data, folder="aftersales"))
    except DomainError:
        _delete_photos(stored)
        raise
    return stored


def _delete_photos(stored: Iterable[media.StoredImage]) -> None:
    for image in stored:
        media.delete(image.path)
        media.delete(image.thumb_path)


def withdraw(db: Session, actor: Actor, case_id: int, *, note: str = "") -> AftersaleCase:
    """The buyer withdraws a case not yet sent back (requested or approved)."""
    case = get_my_case(db, actor, case_id, lock=True)
    _move(db, case, "withdraw", "buyer", actor.user_id, note=_clean_text(note, 200) or None)
    db.commit()
    return case


def _carrier_and_tracking(carrier: str, tracking_no: str) -> tuple[str, str]:
    """A known carrier and a tracking number of its shape (the orders domain's rules)."""
    found, number = fulfilment.check_shipment(carrier, tracking_no)
    return found.name, number


def ship_back(
    db: Session, actor: Actor, case_id: int, *, carrier: str, tracking_no: str
) -> AftersaleCase:
    """The buyer sent the goods back: carrier and tracking number."""
    carrier, tracking_no = _carrier_and_tracking(carrier, tracking_no)
    case = get_my_case(db, actor, case_id, lock=True)
    _move(db, case, "ship_back", "buyer", actor.user_id, note=f"{carrier} {tracking_no}")
    case.return_carrier, case.return_tracking_no = carrier, tracking_no
    db.commit()
    return case


def escalate(db: Session, actor: Actor, case_id: int, *, note: str = "") -> AftersaleCase:
    """The buyer asks the platform to decide a rejected case, within ESCALATION_DAYS."""
    note = _clean_text(note, MAX_DESCRIPTION)
    case = get_my_case(db, actor, case_id, lock=True)
    states.check("escalate", case.status, case.kind, "buyer")
    assert case.rejected_at is not None
    if clock.now() > case.rejected_at + timedelta(days=ESCALATION_DAYS):
        raise Conflict(
            _("The %(n)s days to ask the platform to step in are over."),
            code="escalation_window_closed",
            n=ESCALATION_DAYS,
        )
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    line = _find_line(order, case.line_id)
    _check_no_open_case(db, order, line, exclude=case.id)
    case.escalated_at = clock.now()
    try:
        _move(
            db,
            case,
            "escalate",
            "buyer",
            actor.user_id,
            note=note or None,
            open_key=_open_key(order, line),
        )
    except IntegrityError:
        db.rollback()
        raise Conflict(
            _("There is already an open after-sales case for this item."), code="case_open"
        ) from None
    db.commit()
    return case


def confirm_exchange_received(db: Session, actor: Actor, case_id: int) -> AftersaleCase:
    """The buyer received the replacement: the exchange is complete."""
    case = get_my_case(db, actor, case_id, lock=True)
    _move(db, case, "confirm_exchange", "buyer", actor.user_id)
    db.commit()
    return case


# --------------------------------------------------------------------------- merchants

# The merchant queue's filters: name -> statuses (None: every status).
QUEUES: dict[str, tuple[str, list[CaseStatus] | None]] = {
    "todo": (_("To handle"), [S.REQUESTED, S.AWAITING_RETURN, S.RETURNED]),
    "requested": (_("Awaiting answer"), [S.REQUESTED]),
    "awaiting_return": (_("Goods on the way back"), [S.AWAITING_RETURN]),
    "returned": (_("To reship"), [S.RETURNED]),
    "open": (_("All open"), sorted(states.OPEN)),
    "all": (_("All"), None),
}


def list_shop_cases(
    db: Session, actor: Actor, shop_id: int, *, status: str = "todo", page: int = 1
) -> CasePage:
    """The shop's cases, oldest first (the ones that wait longest on top)."""
    actor.require_shop(shop_id)
    conds: list[Any] = [AftersaleCase.shop_id == shop_id]
    if status in QUEUES:
        statuses = QUEUES[status][1]
        if statuses is not None:
            conds.append(AftersaleCase.status.in_(statuses))
    elif status in set(CaseStatus):
        conds.append(AftersaleCase.status == CaseStatus(status))
    else:
        raise InvalidInput(_("Unknown status filter."), code="bad_status")
    return _page(db, conds, [AftersaleCase.created_at, AftersaleCase.id], page)


def get_shop_case(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, lock: bool = False
) -> AftersaleCase:
    """A case of the shop for its staff; other shops' cases are "not found"."""
    actor.require_shop(shop_id)
    case = _load(db, case_id, lock=lock)
    if case is None or case.shop_id != shop_id:
        raise _not_found()
    return case


def _check_amount(case: AftersaleCase, amount_fen: int | None) -> int:
    if case.kind not in states.MONEY_BACK:
        return 0
    amount = case.requested_fen if amount_fen is None else amount_fen
    if not _positive_int(amount):
        raise InvalidInput(_("The refund amount must be positive."), code="bad_amount")
    if amount > case.requested_fen:
        raise InvalidInput(
            _("The approved refund cannot be more than the buyer asked for."),
            code="amount_above_requested",
        )
    return amount


def _approve(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    *,
    amount_fen: int | None,
    note: str | None,
) -> None:
    """approve / arbitrate_approve, and for refund-only start the refund right away."""
    amount = _check_amount(case, amount_fen)
    states.check(action, case.status, case.kind, role)
    if case.kind == K.REFUND_ONLY:
        states.check("start_refund", S.APPROVED, case.kind, role)
    if amount and amount < case.requested_fen and not note:
        raise InvalidInput(
            _("Say why the refund is less than the buyer asked for."), code="note_required"
        )
    case.approved_fen = amount if case.kind in states.MONEY_BACK else None
    _move(db, case, action, role, actor_id, note=note, amount_fen=amount or None)
    if case.kind == K.REFUND_ONLY:
        _start_refund(db, case, role, actor_id)


def _start_refund(db: Session, case: AftersaleCase, role: str, actor_id: int | None) -> None:
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    line = _find_line(order, case.line_id)
    available = refundable_fen(db, order, line, case.quantity, exclude=case.id)
    amount = case.approved_fen or 0
    if amount <= 0 or amount > available:
        raise Conflict(
            _("The refund is more than what can still be refunded (%(max)s)."),
            code="refund_exceeds_refundable",
            max=f"¥{available / 100:.2f}",
        )
    _move(db, case, "start_refund", role, actor_id, amount_fen=amount)
    payments_service.request_refund(
        db,
        order_id=case.order_id,
        amount_fen=amount,
        reason=f"售后 {states.KIND_LABELS[case.kind]} #{case.id}",
        ref=f"aftersale:{case.id}",
    )


def approve(
    db: Session,
    actor: Actor,
    shop_id: int,
    case_id: int,
    *,
    amount_fen: int | None = None,
    note: str = "",
) -> AftersaleCase:
    """The merchant agrees (possibly to less money, with a note). A refund-only case's
    refund is requested in the same transaction; a return waits for the goods."""
    note = _clean_text(note, MAX_DESCRIPTION)
    case = get_shop_case(db, actor, shop_id, case_id, lock=True)
    _approve(
        db, case, "approve", "merchant", actor.user_id, amount_fen=amount_fen, note=note or None
    )
    db.commit()
    return case


def reject(db: Session, actor: Actor, shop_id: int, case_id: int, *, reason: str) -> AftersaleCase:
    """The merchant refuses, saying why; the buyer may escalate within ESCALATION_DAYS."""
    reason = _clean_text(reason, MAX_DESCRIPTION)
    if not reason:
        raise InvalidInput(_("Give the reason for the rejection."), code="reason_required")
    case = get_shop_case(db, actor, shop_id, case_id, lock=True)
    _move(db, case, "reject", "merchant", actor.user_id, note=reason)
    case.reject_reason = reason
    case.rejected_at = clock.now()
    db.commit()
    return case


def confirm_return(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, restock: bool
) -> AftersaleCase:
    """The merchant received the goods back; ``restock`` puts them back on hand (sold ->
    on hand). A return-and-refund then starts its refund in the same transaction."""
    case = get_shop_case(db, actor, shop_id, case_id, lock=True)
    _move(
        db,
        case,
        "confirm_return",
        "merchant",
        actor.user_id,
        note=_("Restocked") if restock else _("Not restocked"),
    )
    case.restocked = bool(restock)
    if restock:
        order = orders_service.get_order_by_no(db, order_no=case.order_no)
        moves = [
            inventory.Move(ln.sku_id, case.quantity or ln.quantity, f"aftersale:{case.id}")
            for ln in _lines_of(order, _find_line(order, case.line_id))
        ]
        inventory.restock_many(db, moves, reason="returned")
    if case.kind == K.RETURN_REFUND:
        order = orders_service.get_order_by_no(db, order_no=case.order_no)
        line = _find_line(order, case.line_id)
        available = refundable_fen(db, order, line, case.quantity, exclude=case.id)
        # Another refund may have happened meanwhile: never send more than is left.
        case.approved_fen = min(case.approved_fen or 0, available)
        _start_refund(db, case, "merchant", actor.user_id)
    db.commit()
    return case


def reship(
    db: Session, actor: Actor, shop_id: int, case_id: int, *, carrier: str, tracking_no: str
) -> AftersaleCase:
    """Exchange: the merchant sends the replacement (same SKU). It leaves the warehouse
    like a sale (on hand -> reserved -> sold), so the stock counters stay balanced."""
    carrier, tracking_no = _carrier_and_tracking(carrier, tracking_no)
    case = get_shop_case(db, actor, shop_id, case_id, lock=True)
    states.check("reship", case.status, case.kind, "merchant")
    order = orders_service.get_order_by_no(db, order_no=case.order_no)
    moves = [
        inventory.Move(ln.sku_id, case.quantity or ln.quantity, f"aftersale:{case.id}")
        for ln in _lines_of(order, _find_line(order, case.line_id))
    ]
    if inventory.reserve_many(db, moves):
        raise Conflict(_("Not enough stock on hand for the replacement."), code="out_of_stock")
    inventory.sell_many(db, moves)
    _move(db, case, "reship", "merchant", actor.user_id, note=f"{carrier} {tracking_no}")
    case.reship_carrier, case.reship_tracking_no = carrier, tracking_no
    case.reshipped_at = clock.now()
    db.commit()
    return case


# --------------------------------------------------------------------------- operators


def arbitration_queue(db: Session, actor: Actor, *, page: int = 1) -> CasePage:
    """Escalated cases, the longest waiting first."""
    actor.require_operator()
    return _page(
        db,
        [AftersaleCase.status == S.ESCALATED],
        [AftersaleCase.escalated_at, AftersaleCase.id],
        page,
    )


def count_arbitration(db: Session, actor: Actor) -> int:
    """Operators: how many escalated cases wait for a decision (one query, for the dashboard)."""
    actor.require_operator()
    return int(
        db.scalar(
            select(func.count())
            .select_from(AftersaleCase)
            .where(AftersaleCase.status == S.ESCALATED)
        )
        or 0
    )


def get_case_for_operator(
    db: Session, actor: Actor, case_id: int, *, lock: bool = False
) -> AftersaleCase:
    actor.require_operator()
    case = _load(db, case_id, lock=lock)
    if case is None:
        raise _not_found()
    return case


def arbitrate(
    db: Session,
    actor: Actor,
    case_id: int,
    *,
    decision: str,
    note: str,
    amount_fen: int | None = None,
) -> AftersaleCase:
    """The operator decides an escalated case: "approve" (then as if the merchant had
    approved) or "uphold" the rejection (the case closes). A note is required."""
    actor.require_operator()
    note = _clean_text(note, MAX_DESCRIPTION)
    if decision not in ("approve", "uphold"):
        raise InvalidInput(_("Choose a decision."), code="bad_decision")
    if not note:
        raise InvalidInput(_("Explain the decision."), code="note_required")
    case = get_case_for_operator(db, actor, case_id, lock=True)
    if decision == "approve":
        _approve(
            db,
            case,
            "arbitrate_approve",
            "operator",
            actor.user_id,
            amount_fen=amount_fen,
            note=note,
        )
    else:
        _move(db, case, "arbitrate_uphold", "operator", actor.user_id, note=note)
    db.commit()
    return case


# --------------------------------------------------------------------------- payments


def _case_of_ref(db: Session, ref: str) -> AftersaleCase | None:
    prefix, _sep, number = (ref or "").partition(":")
    if prefix != "aftersale" or not number.isdigit():
        return None
    return _load(db, int(number), lock=True)


def refund_settled(db: Session, *, ref: str, amount_fen: int) -> AftersaleCase | None:
    """Payments: the refund with ``ref`` ("aftersale:<id>") succeeded. Joins the caller's
    transaction. The case becomes refunded; calling again changes nothing. Refs of other
    origins are ignored (returns None)."""
    case = _case_of_ref(db, ref)
    if case is None:
        return None
    if case.status != S.REFUNDING:
        return case  # already settled (a duplicate notification) or not ours to move
    _move(db, case, "settle", "payment", None, amount_fen=amount_fen)
    case.refunded_fen = amount_fen
    return case


def refund_failed(db: Session, *, ref: str, reason: str) -> AftersaleCase | None:
    """Payments: the refund with ``ref`` failed for good. Joins the caller's transaction.
    The case stays ``refunding`` (the money is not lost: an operator retries it) and the
    failure is written to its history."""
    case = _case_of_ref(db, ref)
    if case is None or case.status != S.REFUNDING:
        return case
    _event(db, case, "refund_failed", "payment", None, case.status, note=reason[:500] or None)
    return case


@payments_lifecycle.on_refund("settled")
def _on_refund_settled(db: Session, outcome: payments_lifecycle.RefundOutcome) -> None:
    if outcome.ref.startswith("aftersale:"):
        refund_settled(db, ref=outcome.ref, amount_fen=outcome.amount_fen)


@payments_lifecycle.on_refund("failed")
def _on_refund_failed(db: Session, outcome: payments_lifecycle.RefundOutcome) -> None:
    if outcome.ref.startswith("aftersale:"):
        refund_failed(db, ref=outcome.ref, reason=outcome.reason)


# --------------------------------------------------------------------------- jobs


def auto_approve_due(db: Session) -> int:
    """Approve, as "system", requested cases the merchant left unanswered past their
    ``respond_by``. Idempotent (only cases still requested move); commits per case, so
    one that cannot be approved (its refund no longer fits) does not hold up the rest."""
    now = clock.now()
    ids = list(
        db.scalars(
            select(AftersaleCase.id)
            .where(AftersaleCase.status == S.REQUESTED, AftersaleCase.respond_by <= now)
            .order_by(AftersaleCase.respond_by)
            .limit(JOB_BATCH)
        )
    )
    db.rollback()
    done = 0
    for case_id in ids:
        case = _load(db, case_id, lock=True)
        if case is None or case.status != S.REQUESTED or case.respond_by > now:
            db.rollback()
            continue
        try:
            _approve(
                db,
                case,
                "approve",
                "system",
                None,
                amount_fen=None,
                note=_("The merchant did not answer in time."),
            )
            db.commit()
            done += 1
        except DomainError as exc:
            db.rollback()
            log.warning("auto-approval of after-sales case %s failed: %s", case_id, exc.message)
    return done


def expire_escalations(db: Session) -> int:
    """Close rejected cases whose escalation window has passed. Idempotent; commits."""
    cutoff = clock.now() - timedelta(days=ESCALATION_DAYS)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.status == S.REJECTED, AftersaleCase.rejected_at <= cutoff)
            .limit(JOB_BATCH)
            .with_for_update()
        )
    )
    for case in cases:
        _move(db, case, "expire_escalation", "system", None)
    db.commit()
    return len(cases)


def auto_complete_exchanges(db: Session) -> int:
    """Complete exchanges whose replacement shipped ``order_auto_complete_days`` ago."""
    days = settings_module.current().order_auto_complete_days
    cutoff = clock.now() - timedelta(days=days)
    cases = list(
        db.scalars(
            select(AftersaleCase)
            .where(AftersaleCase.status == S.RESHIPPED, AftersaleCase.reshipped_at <= cutoff)
            .limit(JOB_BATCH)
            .with_for_update()
        )
    )
    for case in cases:
        _move(db, case, "confirm_exchange", "system", None, note=_("Confirmed automatically."))
    db.commit()
    return len(cases)


# --------------------------------------------------------------------------- internals


def _event(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    from_status: CaseStatus | None,
    *,
    note: str | None = None,
    amount_fen: int | None = None,
) -> None:
    db.add(
        AftersaleEvent(
            case_id=case.id,
            actor_id=actor_id,
            role=role,
            action=action,
            from_status=str(from_status) if from_status is not None else None,
            to_status=str(case.status),
            note=note,
            amount_fen=amount_fen,
            at=clock.now(),
        )
    )


def _move(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    *,
    note: str | None = None,
    amount_fen: int | None = None,
    open_key: str | None = None,
) -> None:
    """Fire one transition of the table on a locked case, with its event row.

    Leaving the open states frees the case's line (``open_key``); entering them again
    (escalation) takes ``open_key``. Either way the order's after-sales flag follows.
    """
    step = states.check(action, case.status, case.kind, role)
    before = case.status
    now = clock.now()
    case.status = step.target
    case.updated_at = now
    if step.target in TERMINAL:
        case.closed_at = now
    was_open, is_open = before in states.OPEN, step.target in states.OPEN
    if was_open and not is_open:
        case.open_key = None
    elif is_open and not was_open:
        case.open_key = open_key
    _event(db, case, action, role, actor_id, before, note=note, amount_fen=amount_fen)
    if was_open != is_open:
        _sync_order_flag(db, case)


def _sync_order_flag(db: Session, case: AftersaleCase) -> None:
    """The order is "in after-sales" exactly while one of its cases is open."""
    db.flush()
    orders_service.lock_order(db, order_id=case.order_id)  # then count: see lock_order
    still_open = db.scalar(
        select(AftersaleCase.id)
        .where(AftersaleCase.order_id == case.order_id, AftersaleCase.open_key.is_not(None))
        .limit(1)
    )
    orders_service.set_aftersale_open(db, order_id=case.order_id, open=still_open is not None)


def time_left(case: AftersaleCase, now: datetime | None = None) -> timedelta | None:
    """How long the merchant still has before the case is approved automatically."""
    if case.status != S.REQUESTED:
        return None
    return max(timedelta(0), case.respond_by - (now or clock.now()))

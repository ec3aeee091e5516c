"""Cases: the buyer opens one (what may be asked, then the case), withdraws it; the
merchant answers (approve, possibly for less money, or reject), or the system approves what
the merchant left unanswered (``auto_approve_due``, a periodic job).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.aftersales import refunds, service, states
from xiaodian.aftersales.models import AftersaleCase, CaseKind, CaseReason, CaseStatus
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, DomainError, InvalidInput, _
from xiaodian.money import format_fen
from xiaodian.orders import service as orders_service
from xiaodian.orders.service import Order, OrderLine, OrderStatus

log = logging.getLogger(__name__)
S = CaseStatus
K = CaseKind

MAX_CASES_PER_LINE = 5
MAX_PHOTOS = 3

# The merchant's fault (quality, not as described, missing items) may be claimed this long
# after receipt even when the product allows no "no reason" returns.
FAULT_WINDOW_DAYS = 15
# Which order statuses allow which kind of case.
_KIND_ORDER_STATUS: dict[CaseKind, frozenset[OrderStatus]] = {
    K.REFUND_ONLY: frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED}),
    K.RETURN_REFUND: frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED}),
    K.EXCHANGE: frozenset({OrderStatus.COMPLETED}),
}


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


def _covering(order_id: int, line_ids: list[int] | None) -> list[Any]:
    """Conditions for cases that cover any of ``line_ids`` (None: any case of the order)."""
    conds: list[Any] = [AftersaleCase.order_id == order_id]
    if line_ids is not None:
        conds.append(AftersaleCase.line_id.in_(line_ids) | AftersaleCase.line_id.is_(None))
    return conds


def check_no_open_case(
    db: Session, order: Order, line: OrderLine | None, *, exclude: int | None = None
) -> None:
    """Conflict (409) while another case (not ``exclude``) covering the item is open."""
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
    line = service.find_line(order, line_id)
    kinds = [k for k in CaseKind if order.status in _KIND_ORDER_STATUS[k]]
    options = CaseOptions(
        order=order,
        line=line,
        kinds=kinds,
        reasons=list(CaseReason),
        max_quantity=line.quantity if line is not None else 0,
        max_refund_fen=refunds.refundable_fen(db, order, line),
    )
    if not kinds:
        options.blocked = _("This order cannot have after-sales now.")
        return options
    try:
        check_no_open_case(db, order, line)
        _check_case_cap(db, order, line)
    except Conflict as exc:
        options.blocked = exc.message
        return options
    lines = service.lines_of(order, line)
    if _window_problem(db, order, lines, CaseReason.QUALITY) is not None:
        options.blocked = _("The after-sales period for this order is over.")
    elif _window_problem(db, order, lines, CaseReason.NO_LONGER_WANTED) is not None:
        options.reasons = [r for r in CaseReason if r in states.FAULT_REASONS]
        options.notes.append(_("No-reason returns are no longer possible for this item."))
    return options


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
    (422). Two steps: everything is checked (``_validate``) before anything is written
    (``_create``); photos are stored last and removed again if the case cannot be saved.
    """
    buyer_id = actor.require_user()
    request = _validate(
        db,
        actor,
        order_no=order_no,
        line_id=line_id,
        kind=_enum(CaseKind, kind, _("Choose the kind of after-sales."), "bad_kind"),
        reason=_enum(CaseReason, reason, _("Choose a reason."), "bad_reason"),
        description=description,
        quantity=quantity,
        amount_fen=amount_fen,
        photo_count=len(photos),
    )
    return _create(db, buyer_id, request, photos)


@dataclass(frozen=True)
class _Request:
    """A buyer's request that passed every check: what ``_create`` writes."""

    order: Order
    line: OrderLine | None
    kind: CaseKind
    reason: CaseReason
    description: str
    quantity: int | None
    requested_fen: int


def _validate(
    db: Session,
    actor: Actor,
    *,
    order_no: str,
    line_id: int | None,
    kind: CaseKind,
    reason: CaseReason,
    description: str,
    quantity: int | None,
    amount_fen: int | None,
    photo_count: int,
) -> _Request:
    """Every rule of a new case, in the order the buyer meets them; writes nothing."""
    description = service.clean_text(description, service.MAX_DESCRIPTION)
    if photo_count > MAX_PHOTOS:
        raise InvalidInput(_("At most %(n)s photos."), code="too_many_photos", n=MAX_PHOTOS)
    order = orders_service.get_my_order(db, actor, order_no)
    line = service.find_line(order, line_id)
    _check_eligible(order, kind)
    quantity = _checked_quantity(line, quantity)
    problem = _window_problem(db, order, service.lines_of(order, line), reason)
    if problem:
        raise Conflict(problem, code="window_closed")
    _check_case_cap(db, order, line)
    check_no_open_case(db, order, line)
    requested = _requested_fen(db, order, line, quantity, kind, amount_fen)
    return _Request(order, line, kind, reason, description, quantity, requested)


def _check_eligible(order: Order, kind: CaseKind) -> None:
    """The order is in a state that allows this kind of case (409 otherwise)."""
    if order.status in _KIND_ORDER_STATUS[kind]:
        return
    if kind == K.EXCHANGE:
        msg = _("An exchange is possible only after you have confirmed receipt.")
    elif kind == K.RETURN_REFUND:
        msg = _("A return is possible only after the order has been shipped.")
    else:
        msg = _("This order cannot have after-sales now.")
    raise Conflict(msg, code="order_not_eligible")


def _checked_quantity(line: OrderLine | None, quantity: int | None) -> int | None:
    """How many of the line (all of it by default); None for a whole-order case."""
    if line is None:
        return None
    quantity = line.quantity if quantity is None else quantity
    if not _positive_int(quantity) or quantity > line.quantity:
        raise InvalidInput(
            _("The quantity must be between 1 and %(n)s."), code="bad_quantity", n=line.quantity
        )
    return quantity


def _requested_fen(
    db: Session,
    order: Order,
    line: OrderLine | None,
    quantity: int | None,
    kind: CaseKind,
    amount_fen: int | None,
) -> int:
    """The money asked for: all that is refundable by default, never more (0: no refund)."""
    if kind not in states.MONEY_BACK:
        return 0
    available = refunds.refundable_fen(db, order, line, quantity)
    if available <= 0:
        raise Conflict(_("Nothing is left to refund for this item."), code="nothing_to_refund")
    requested = available if amount_fen is None else amount_fen
    if not _positive_int(requested):
        raise InvalidInput(_("The refund amount must be positive."), code="bad_amount")
    if requested > available:
        raise InvalidInput(
            _("The refund can be at most %(max)s."),
            code="refund_too_much",
            max=format_fen(available),
        )
    return requested


def _create(
    db: Session, buyer_id: int, request: _Request, photos: Sequence[bytes]
) -> AftersaleCase:
    """Store the photos, then the case, its event and the order's flag, in one commit; the
    photos go again if that fails (a concurrent case for the same item is a 409)."""
    stored = _store_photos(photos)
    case = _new_case(buyer_id, request, stored)
    try:
        db.add(case)
        db.flush()
        service.sync_sla(db, case, before=None, actor_id=buyer_id)
        service.add_event(
            db,
            case,
            "open",
            "buyer",
            buyer_id,
            None,
            note=request.description or None,
            amount_fen=request.requested_fen or None,
        )
        orders_service.set_aftersale_open(db, order_id=request.order.id, open=True)
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


def _new_case(buyer_id: int, request: _Request, stored: list[media.StoredImage]) -> AftersaleCase:
    order, line = request.order, request.line
    now = clock.now()
    hours = settings_module.current().aftersales_auto_approve_hours
    return AftersaleCase(
        order_id=order.id,
        order_no=order.order_no,
        buyer_id=buyer_id,
        shop_id=order.shop_id,
        line_id=line.id if line is not None else None,
        quantity=request.quantity,
        open_key=service.open_key(order, line),
        kind=request.kind,
        status=S.REQUESTED,
        reason=request.reason,
        description=request.description,
        photos=[{"path": p.path, "thumb": p.thumb_path} for p in stored],
        title=(line.title if line is not None else order.title)[:200],
        spec_text=(line.spec_text if line is not None else "")[:200],
        thumb_path=line.thumb_path if line is not None else order.lines[0].thumb_path,
        requested_fen=request.requested_fen,
        created_at=now,
        updated_at=now,
        respond_by=now + timedelta(hours=hours),
    )


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
    case = service.get_my_case(db, actor, case_id, lock=True)
    service.move(
        db, case, "withdraw", "buyer", actor.user_id, note=service.clean_text(note, 200) or None
    )
    db.commit()
    return case


# --------------------------------------------------------------------------- merchants


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


def approve_case(
    db: Session,
    case: AftersaleCase,
    action: str,
    role: str,
    actor_id: int | None,
    *,
    amount_fen: int | None,
    note: str | None,
) -> None:
    """approve / arbitrate_approve, and for refund-only start the refund right away.
    Joins the caller's transaction (the merchant's, the operator's or the job's)."""
    amount = _check_amount(case, amount_fen)
    states.check(action, case.status, case.kind, role)
    if case.kind == K.REFUND_ONLY:
        states.check("start_refund", S.APPROVED, case.kind, role)
    if amount and amount < case.requested_fen and not note:
        raise InvalidInput(
            _("Say why the refund is less than the buyer asked for."), code="note_required"
        )
    case.approved_fen = amount if case.kind in states.MONEY_BACK else None
    service.move(db, case, action, role, actor_id, note=note, amount_fen=amount or None)
    if case.kind == K.REFUND_ONLY:
        refunds.start_refund(db, case, role, actor_id)


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
    note = service.clean_text(note, service.MAX_DESCRIPTION)
    case = service.get_shop_case(db, actor, shop_id, case_id, lock=True)
    approve_case(
        db, case, "approve", "merchant", actor.user_id, amount_fen=amount_fen, note=note or None
    )
    db.commit()
    return case


def reject(db: Session, actor: Actor, shop_id: int, case_id: int, *, reason: str) -> AftersaleCase:
    """The merchant refuses, saying why; the buyer may escalate within ESCALATION_DAYS."""
    reason = service.clean_text(reason, service.MAX_DESCRIPTION)
    if not reason:
        raise InvalidInput(_("Give the reason for the rejection."), code="reason_required")
    case = service.get_shop_case(db, actor, shop_id, case_id, lock=True)
    service.move(db, case, "reject", "merchant", actor.user_id, note=reason)
    case.reject_reason = reason
    case.rejected_at = clock.now()
    db.commit()
    return case


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
            .limit(service.JOB_BATCH)
        )
    )
    db.rollback()
    done = 0
    for case_id in ids:
        case = service.load_case(db, case_id, lock=True)
        if case is None or case.status != S.REQUESTED or case.respond_by > now:
            db.rollback()
            continue
        try:
            approve_case(
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

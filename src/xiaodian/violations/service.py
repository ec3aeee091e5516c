"""Violations: the domain's face. The rules and penalties an operator chooses from, the
reads (a violation, a shop's list, the operators' list), what a penalty restricts now (for
the hooks: live selling, the points health counts), and the helpers its use cases share.

The use cases live beside it: ``recording.py`` (an operator or a rule records a violation
and its penalty is applied; the penalty undone; a suspension lifted; deadlines passing),
``appeals.py`` (the shop fixes it or appeals once; another operator decides), ``rules.py``
(the periodic rule run). ``hooks.py`` fills the hooks the lower domains own.

Each violation opens a case in the merchant's ``violations`` queue (3 days to fix or
appeal) and each appeal one in the operators' ``appeals`` queue (72 h); they close when the
subject stops waiting (``cases.service``, in the same transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.violations.models import (
    Appeal as Appeal,  # re-exported: other domains use this
)
from xiaodian.violations.models import AppealStatus as AppealStatus
from xiaodian.violations.models import Penalty as Penalty
from xiaodian.violations.models import Violation as Violation
from xiaodian.violations.models import ViolationEvent
from xiaodian.violations.models import ViolationStatus as ViolationStatus

FIX_DAYS = 3  # to fix or appeal
MAX_PHOTOS = 9
MAX_TEXT = 2000
MAX_NOTE = 500
MAX_POINTS = 30
MAX_DAYS = 365
PHOTO_FOLDER = "violations"
PAGE = 50

RULES: dict[str, str] = {
    "false_advertising": _("False advertising"),
    "prohibited_goods": _("Prohibited goods"),
    "prohibited_words": _("Prohibited words"),
    "counterfeit": _("Counterfeit goods"),
    "late_shipment": _("Late shipment"),
    "dispute_ratio": _("Too many disputes"),
    "live_misconduct": _("Misconduct in a live room"),
    "other": _("Other"),
}
PENALTIES: dict[Penalty, str] = {
    Penalty.WARNING: _("Warning"),
    Penalty.POINTS: _("Points off the health score"),
    Penalty.REMOVE_PRODUCT: _("Product removed"),
    Penalty.LIVE_LIMIT: _("No live selling"),
    Penalty.SUSPEND: _("Shop suspended"),
}
TARGETS: dict[str, str] = {
    "shop": _("Shop"),
    "product": _("Product"),
    "video": _("Video"),
    "live_room": _("Live room"),
}
STATUSES: dict[ViolationStatus, str] = {
    ViolationStatus.OPEN: _("Waiting for the shop"),
    ViolationStatus.FIXED: _("Fixed"),
    ViolationStatus.EXPIRED: _("Deadline passed"),
    ViolationStatus.APPEALED: _("Appeal under review"),
    ViolationStatus.UPHELD: _("Appeal rejected"),
    ViolationStatus.REVERSED: _("Appeal accepted: reversed"),
}
ACTIONS: dict[str, str] = {
    "recorded": _("Recorded"),
    "fixed": _("Marked fixed"),
    "appealed": _("Appealed"),
    "accepted": _("Appeal accepted"),
    "rejected": _("Appeal rejected"),
    "expired": _("Deadline passed"),
    "lifted": _("Penalty lifted"),
    "ended": _("Penalty ended"),
}


def violation_key(violation_id: int) -> str:
    """The violation's case in the merchant's ``violations`` queue."""
    return f"violation:{violation_id}"


def appeal_key(violation_id: int) -> str:
    """The appeal's case in the operators' ``appeals`` queue."""
    return f"appeal:{violation_id}"


def clean_text(value: object, limit: int, what: str) -> str:
    """Text as typed, trimmed; InvalidInput beyond ``limit`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(_("Invalid text."), code="bad_text")
    value = value.strip().replace("\r\n", "\n")
    if len(value) > limit:
        raise InvalidInput(
            _("%(what)s is too long (at most %(n)s characters)."),
            code="text_too_long",
            what=what,
            n=limit,
        )
    return value


def check_photo_count(count: int) -> None:
    if count > MAX_PHOTOS:
        raise InvalidInput(
            _("At most %(n)s photos of evidence."), code="too_many_photos", n=MAX_PHOTOS
        )


def log(
    db: Session, violation: Violation, actor_id: int | None, action: str, note: str = ""
) -> None:
    """One line of the violation's own log. Joins the caller's transaction."""
    violation.events.append(
        ViolationEvent(at=clock.now(), actor_id=actor_id, action=action, note=note)
    )


def get_violation(db: Session, violation_id: int, *, lock: bool = False) -> Violation:
    """A violation by id (with its appeal and log); NotFound. ``lock``: FOR UPDATE, read
    fresh, for a use case about to change it."""
    query = select(Violation).where(Violation.id == violation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = db.scalar(query)
    if found is None:
        raise NotFound(_("Violation not found."), code="violation_not_found")
    return found


def shop_violation(
    db: Session, actor: Actor, shop_id: int, violation_id: int, *, lock: bool = False
) -> Violation:
    """One of the shop's violations, for its staff (another shop's is "not found")."""
    actor.require_shop(shop_id)
    found = get_violation(db, violation_id, lock=lock)
    if found.shop_id != shop_id:
        raise NotFound(_("Violation not found."), code="violation_not_found")
    return found


def ops_violation(db: Session, actor: Actor, violation_id: int) -> Violation:
    actor.require_operator()
    return get_violation(db, violation_id)


def shop_violations(db: Session, actor: Actor, shop_id: int) -> list[Violation]:
    """The shop's violations, newest first (its staff). Read only."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(Violation)
            .where(Violation.shop_id == shop_id)
            .order_by(Violation.id.desc())
            .limit(PAGE * 4)
        )
    )


def ops_violations(
    db: Session, actor: Actor, *, status: ViolationStatus | None = None
) -> list[Violation]:
    """Operators: violations (of one status, or all), newest first. Read only."""
    actor.require_operator()
    query = select(Violation).order_by(Violation.id.desc()).limit(PAGE * 4)
    if status is not None:
        query = query.where(Violation.status == status)
    return list(db.scalars(query))


def parse_status(value: str | None) -> ViolationStatus | None:
    if not value:
        return None
    try:
        return ViolationStatus(value)
    except ValueError:
        raise InvalidInput(_("Unknown status."), code="bad_status") from None


def deadline(now: datetime) -> datetime:
    return now + timedelta(days=FIX_DAYS)


def standing_live_limit(db: Session, shop_id: int) -> Violation | None:
    """The violation whose penalty keeps the shop from live selling now (a live limit or a
    suspension not ended or lifted), the one ending last; None when free. One query."""
    now = clock.now()
    return db.scalar(
        select(Violation)
        .where(
            Violation.shop_id == shop_id,
            Violation.penalty.in_([Penalty.LIVE_LIMIT, Penalty.SUSPEND]),
            Violation.penalty_lifted_at.is_(None),
            or_(Violation.penalty_until.is_(None), Violation.penalty_until > now),
        )
        .order_by(Violation.penalty_until.is_(None).desc(), Violation.penalty_until.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Deduction:
    """Points a violation took off a shop's health score (``health.score.DeductionFact``)."""

    shop_id: int
    ref: str
    points: int
    why: str
    at: datetime
    returned_at: datetime | None


def deductions(db: Session, since: datetime, shop_ids: list[int]) -> list[Deduction]:
    """The points violations recorded since ``since`` took off these shops (returned when an
    appeal reversed them). One query. Joins the caller's transaction (read only): the
    source health asks (``hooks.py``)."""
    rows = db.execute(
        select(
            Violation.shop_id,
            Violation.id,
            Violation.points,
            Violation.rule,
            Violation.created_at,
            Violation.penalty_lifted_at,
        ).where(
            Violation.penalty == Penalty.POINTS,
            Violation.created_at > since,
            Violation.shop_id.in_(shop_ids),
        )
    )
    return [
        Deduction(shop_id, str(vid), points, RULES.get(rule, rule), at, lifted)
        for shop_id, vid, points, rule, at, lifted in rows
    ]

"""Recording a violation and its penalty (an operator, or a rule's run), undoing the penalty
when an appeal is accepted, lifting a suspension, and the deadlines passing.

A penalty's effect lives with the domain it touches, reached through that domain's service:
a product is taken down and reinstated by catalog (``catalog.review``), a shop suspended
and reinstated by merchants (``merchants.service.set_shop_active``), points are counted
by health (a deduction source, ``hooks.py``; the shop's score is refreshed at once), and a
live limit is asked by the live rooms (``hooks.py``). What undoing needs is kept on the
violation (``prior_state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.catalog import review as catalog_review
from xiaodian.catalog import service as catalog_service
from xiaodian.content import service as content_service
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.health import service as health_service
from xiaodian.merchants import service as merchants_service
from xiaodian.merchants import uploads
from xiaodian.violations import service
from xiaodian.violations.service import Penalty, Violation, ViolationStatus


@dataclass(frozen=True)
class Record:
    """What an operator records: against which shop and what in it, by which rule, the
    evidence, and the penalty (``points`` for POINTS, ``days`` for a live limit or a
    suspension; a suspension without days lasts until lifted)."""

    shop_id: int
    target_kind: str
    target_id: int | None
    rule: str
    evidence_text: str
    penalty: str
    points: int = 0
    days: int | None = None
    photos: Sequence[bytes] = field(default_factory=tuple)


def photo_rows(stored: dict[str, media.StoredImage]) -> list[dict[str, str]]:
    keys = sorted(stored, key=lambda k: int(k.split(":")[1]))
    return [{"path": stored[k].path, "thumb": stored[k].thumb_path} for k in keys]


def store_photos(prefix: str, photos: Sequence[bytes]) -> dict[str, media.StoredImage]:
    """Each photo under "<prefix>:<n>", all or nothing (removed again if the transaction
    fails: ``uploads.all_or_nothing``). Joins the violations' use cases."""
    return uploads.store(
        {f"{prefix}:{n}": (data, service.PHOTO_FOLDER) for n, data in enumerate(photos)}
    )


def _check_target(db: Session, data: Record) -> None:
    """The shop exists and the target is one of its own."""
    merchants_service.get_shop(db, data.shop_id)
    if data.target_kind not in service.TARGETS:
        raise InvalidInput(_("Choose what the violation is against."), code="bad_target")
    if data.target_kind == "shop":
        if data.target_id not in (None, data.shop_id):
            raise InvalidInput(_("Choose what the violation is against."), code="bad_target")
        return
    if data.target_id is None:
        raise InvalidInput(_("Choose what the violation is against."), code="bad_target")
    owner: int | None
    if data.target_kind == "product":
        try:
            owner = catalog_service.get_product(db, data.target_id).shop_id
        except NotFound:
            owner = None
    elif data.target_kind == "video":
        owner = content_service.video_shop_id(db, data.target_id)
    else:
        try:
            owner = live_service.get_room(db, data.target_id).shop_id
        except NotFound:
            owner = None
    if owner != data.shop_id:
        raise NotFound(_("That is not one of the shop's."), code="target_not_found")


def _check_penalty(data: Record) -> Penalty:
    try:
        penalty = Penalty(data.penalty)
    except ValueError:
        raise InvalidInput(_("Choose a penalty."), code="bad_penalty") from None
    if data.rule not in service.RULES:
        raise InvalidInput(_("Choose the rule that was broken."), code="bad_rule")
    if penalty == Penalty.POINTS and not 1 <= data.points <= service.MAX_POINTS:
        raise InvalidInput(_("Points off: 1 to %(n)s."), code="bad_points", n=service.MAX_POINTS)
    if penalty != Penalty.POINTS and data.points:
        raise InvalidInput(_("Points are taken off only by that penalty."), code="bad_points")
    if penalty == Penalty.LIVE_LIMIT and data.days is None:
        raise InvalidInput(_("Say for how many days."), code="bad_days")
    if data.days is not None and (
        penalty not in (Penalty.LIVE_LIMIT, Penalty.SUSPEND)
        or not 1 <= data.days <= service.MAX_DAYS
    ):
        raise InvalidInput(_("Days: 1 to %(n)s."), code="bad_days", n=service.MAX_DAYS)
    if penalty == Penalty.REMOVE_PRODUCT and data.target_kind != "product":
        raise InvalidInput(
            _("Only a violation against a product can remove it."), code="bad_penalty"
        )
    return penalty


def _apply(db: Session, v: Violation, actor_id: int | None) -> None:
    """Apply the penalty (its effect in the owning domain). Joins the caller's transaction."""
    now = clock.now()
    if v.penalty == Penalty.REMOVE_PRODUCT:
        assert v.target_id is not None
        reason = _("Removed for a violation (%(rule)s), #%(id)s") % {
            "rule": service.RULES[v.rule],
            "id": v.id,
        }
        before = catalog_review.take_down(db, v.target_id, reason=reason, actor_id=actor_id)
        v.prior_state = {"product_status": str(before)}
    elif v.penalty in (Penalty.LIVE_LIMIT, Penalty.SUSPEND):
        v.penalty_until = now + timedelta(days=v.days) if v.days else None
        if v.penalty == Penalty.SUSPEND:
            was = merchants_service.set_shop_active(db, v.shop_id, active=False)
            v.prior_state = {"shop_was_active": was}
    if v.penalty == Penalty.POINTS:
        db.flush()
        health_service.refresh_shop(db, shop_id=v.shop_id)


def record_in_tx(
    db: Session,
    data: Record,
    *,
    actor_id: int | None,
    rule_key: str | None = None,
    photos: list[dict[str, str]] | None = None,
) -> Violation:
    """Record a checked violation, apply its penalty and open the shop's case. Joins the
    caller's transaction (``record``; the rule run, ``actor_id`` None)."""
    penalty = _check_penalty(data)
    now = clock.now()
    v = Violation(
        shop_id=data.shop_id,
        target_kind=data.target_kind,
        target_id=data.shop_id if data.target_kind == "shop" else data.target_id,
        rule=data.rule,
        rule_key=rule_key,
        evidence_text=data.evidence_text,
        evidence_photos=photos or [],
        penalty=penalty,
        points=data.points if penalty == Penalty.POINTS else 0,
        days=data.days,
        status=ViolationStatus.OPEN,
        recorded_by=actor_id,
        created_at=now,
        due_at=service.deadline(now),
        prior_state={},
    )
    db.add(v)
    db.flush()
    _apply(db, v, actor_id)
    service.log(db, v, actor_id, "recorded", service.PENALTIES[penalty])
    cases_service.open_case(
        db,
        "violations",
        service.violation_key(v.id),
        title=service.RULES[v.rule],  # a msgid: the consoles show case titles translated
        link=f"/merchant/shops/{v.shop_id}/violations/{v.id}",
        shop_id=v.shop_id,
        due_at=v.due_at,
        actor_id=actor_id,
    )
    return v


def record(db: Session, actor: Actor, data: Record) -> Violation:
    """An operator records a violation against a shop (or its product, video, live room)
    with the rule, the evidence (text, up to nine photos) and the penalty, which applies at
    once; the shop has three days to fix it or appeal. One transaction.

    Raises PermissionDenied (not an operator), NotFound (the shop, or a target not the
    shop's), InvalidInput (rule, penalty, points, days, text, photos), Conflict (a product
    that is not listed cannot be removed)."""
    operator_id = actor.require_operator()
    _check_target(db, data)
    _check_penalty(data)
    text = service.clean_text(data.evidence_text, service.MAX_TEXT, _("The evidence"))
    if not text:
        raise InvalidInput(_("Describe the evidence."), code="text_required")
    service.check_photo_count(len(data.photos))
    stored = store_photos("evidence", data.photos)
    with uploads.all_or_nothing(db, stored):
        v = record_in_tx(
            db,
            Record(**{**data.__dict__, "evidence_text": text, "photos": ()}),
            actor_id=operator_id,
            photos=photo_rows(stored),
        )
        db.commit()
    return v


def reverse_in_tx(db: Session, v: Violation, actor_id: int | None) -> None:
    """Undo the penalty: the product reinstated where it was, the live limit ended, the
    shop active again (if it was before), the points given back (the score refreshed).
    Joins the caller's transaction (an accepted appeal)."""
    now = clock.now()
    if v.penalty == Penalty.REMOVE_PRODUCT and v.target_id is not None:
        before = v.prior_state.get("product_status") or catalog_service.ProductStatus.ON_SALE
        catalog_review.reinstate(
            db,
            v.target_id,
            status=catalog_service.ProductStatus(before),
            note=_("Reinstated: the appeal of violation #%(id)s was accepted") % {"id": v.id},
            actor_id=actor_id,
        )
    if v.penalty_lifted_at is None and v.penalty in (
        Penalty.LIVE_LIMIT,
        Penalty.SUSPEND,
        Penalty.POINTS,
    ):
        v.penalty_lifted_at = now
        if v.penalty == Penalty.SUSPEND:
            _reactivate(db, v)
    if v.penalty == Penalty.POINTS:
        db.flush()
        health_service.refresh_shop(db, shop_id=v.shop_id)


def _reactivate(db: Session, v: Violation) -> None:
    """The shop active again, unless it was inactive before the suspension or another
    suspension still stands."""
    if not v.prior_state.get("shop_was_active", True):
        return
    db.flush()
    other = service.standing_live_limit(db, v.shop_id)
    if other is not None and other.penalty == Penalty.SUSPEND and other.id != v.id:
        return
    merchants_service.set_shop_active(db, v.shop_id, active=True)


def lift(db: Session, actor: Actor, violation_id: int, *, note: str = "") -> Violation:
    """An operator ends a live limit or a suspension early (the one way a suspension
    "until lifted" ends). The violation itself stands. One transaction. Raises Conflict
    (no such penalty, or over already), NotFound, PermissionDenied."""
    operator_id = actor.require_operator()
    text = service.clean_text(note, service.MAX_NOTE, _("The note"))
    v = service.get_violation(db, violation_id, lock=True)
    now = clock.now()
    if (
        v.penalty not in (Penalty.LIVE_LIMIT, Penalty.SUSPEND)
        or v.penalty_lifted_at is not None
        or (v.penalty_until is not None and clock.as_utc(v.penalty_until) <= now)
    ):
        raise Conflict(_("This penalty is not in force."), code="penalty_not_in_force")
    v.penalty_lifted_at = now
    if v.penalty == Penalty.SUSPEND:
        _reactivate(db, v)
    service.log(db, v, operator_id, "lifted", text)
    db.commit()
    return v


def expire_due(db: Session) -> int:
    """The deadlines that passed: open violations the shop neither fixed nor appealed
    become "expired" (their case closes, the penalty stands), and suspensions whose days
    are over end (the shop active again). One transaction; returns the changes made."""
    now = clock.now()
    changed = 0
    for v in db.scalars(
        select(Violation)
        .where(Violation.status == ViolationStatus.OPEN, Violation.due_at <= now)
        .with_for_update()
    ):
        v.status, v.closed_at = ViolationStatus.EXPIRED, now
        service.log(db, v, None, "expired")
        cases_service.close_case(db, "violations", service.violation_key(v.id), outcome="expired")
        changed += 1
    for v in db.scalars(
        select(Violation)
        .where(
            Violation.penalty.in_([Penalty.SUSPEND, Penalty.LIVE_LIMIT]),
            Violation.penalty_lifted_at.is_(None),
            Violation.penalty_until.is_not(None),
            Violation.penalty_until <= now,
        )
        .with_for_update()
    ):
        v.penalty_lifted_at = v.penalty_until
        if v.penalty == Penalty.SUSPEND:
            _reactivate(db, v)
        service.log(db, v, None, "ended")
        changed += 1
    db.commit()
    return changed

"""The shop's answer to a violation and the platform's decision.

Within the deadline (three days) the shop either marks it fixed (the penalty stands) or
appeals once, with evidence; the appeal waits for an arbitrator in the ``appeals`` queue
(72 h). Accepting it undoes the penalty (``recording.reverse_in_tx``); rejecting it upholds
it. The operator who recorded the violation may not decide its appeal. Each function is one
transaction: every check first (nothing written, no file stored), then the writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.errors import Conflict, InvalidInput, PermissionDenied, _
from xiaodian.merchants import uploads
from xiaodian.violations import recording, service
from xiaodian.violations.service import Appeal, AppealStatus, Violation, ViolationStatus


def _answerable(v: Violation) -> None:
    """Open and within its deadline; else Conflict naming why."""
    if v.appeal is not None:
        raise Conflict(_("This violation has been appealed already."), code="appeal_exists")
    if v.status != ViolationStatus.OPEN:
        raise Conflict(_("This violation is no longer waiting for an answer."), code="not_open")
    if clock.now() > clock.as_utc(v.due_at):
        raise Conflict(
            _("The deadline to fix or appeal has passed."), code="appeal_deadline_passed"
        )


def mark_fixed(
    db: Session, actor: Actor, shop_id: int, violation_id: int, *, note: str = ""
) -> Violation:
    """The shop says it fixed what the violation names (the penalty stands; no appeal
    afterwards): its case closes. Raises NotFound (not the shop's), Conflict (appealed,
    answered or past the deadline), InvalidInput (the note)."""
    user_id = actor.require_shop(shop_id)
    text = service.clean_text(note, service.MAX_NOTE, _("The note"))
    v = service.shop_violation(db, actor, shop_id, violation_id, lock=True)
    _answerable(v)
    v.status, v.closed_at = ViolationStatus.FIXED, clock.now()
    service.log(db, v, user_id, "fixed", text)
    cases_service.close_case(
        db, "violations", service.violation_key(v.id), outcome="fixed", actor_id=user_id
    )
    db.commit()
    return v


def file_appeal(
    db: Session,
    actor: Actor,
    shop_id: int,
    violation_id: int,
    *,
    text: str,
    photos: Sequence[bytes] = (),
) -> Appeal:
    """The shop appeals a violation, once, within its deadline, with evidence (text, up to
    nine photos): the shop's case closes and an arbitrator's opens. Raises NotFound (not
    the shop's), Conflict (appealed already, answered, past the deadline), InvalidInput
    (text, photos), TooLarge."""
    user_id = actor.require_shop(shop_id)
    v = service.shop_violation(db, actor, shop_id, violation_id, lock=True)
    _answerable(v)
    body = service.clean_text(text, service.MAX_TEXT, _("The appeal"))
    if not body:
        raise InvalidInput(_("Say why the violation is wrong."), code="text_required")
    service.check_photo_count(len(photos))
    stored = recording.store_photos("appeal", photos)
    with uploads.all_or_nothing(db, stored):
        now = clock.now()
        appeal = Appeal(
            violation_id=v.id,
            shop_id=shop_id,
            text=body,
            photos=recording.photo_rows(stored),
            status=AppealStatus.OPEN,
            filed_by=user_id,
            filed_at=now,
            decision_note="",
        )
        v.appeal = appeal
        try:
            db.flush()
        except IntegrityError:  # a racing request appealed first
            raise Conflict(
                _("This violation has been appealed already."), code="appeal_exists"
            ) from None
        v.status = ViolationStatus.APPEALED
        service.log(db, v, user_id, "appealed")
        cases_service.close_case(
            db, "violations", service.violation_key(v.id), outcome="appealed", actor_id=user_id
        )
        cases_service.open_case(
            db,
            "appeals",
            service.appeal_key(v.id),
            title=service.RULES[v.rule],  # a msgid: the consoles show case titles translated
            link=f"/ops/violations/{v.id}",
            shop_id=shop_id,
            actor_id=user_id,
        )
        db.commit()
    return appeal


def decide(db: Session, actor: Actor, violation_id: int, *, accept: bool, note: str) -> Violation:
    """An operator decides the open appeal of a violation (not one they recorded): accepted,
    the penalty is undone and the violation reversed; rejected, it is upheld. A note is
    required. Raises PermissionDenied (not an operator, or the one who recorded it),
    NotFound, Conflict (no open appeal), InvalidInput (the note)."""
    operator_id = cases_service.require_role(db, actor, "appeals")
    text = service.clean_text(note, service.MAX_NOTE, _("The note"))
    if not text:
        raise InvalidInput(_("Give the shop a reason."), code="note_required")
    v = service.get_violation(db, violation_id, lock=True)
    appeal = v.appeal
    if appeal is None or appeal.status != AppealStatus.OPEN:
        raise Conflict(_("This violation has no appeal waiting."), code="no_open_appeal")
    if v.recorded_by == operator_id:
        raise PermissionDenied(
            _("Another operator must decide the appeal of a violation you recorded."),
            code="own_violation",
        )
    now = clock.now()
    appeal.status = AppealStatus.ACCEPTED if accept else AppealStatus.REJECTED
    appeal.decided_by, appeal.decided_at, appeal.decision_note = operator_id, now, text
    v.closed_at = now
    if accept:
        v.status = ViolationStatus.REVERSED
        recording.reverse_in_tx(db, v, operator_id)
    else:
        v.status = ViolationStatus.UPHELD
    service.log(db, v, operator_id, "accepted" if accept else "rejected", text)
    cases_service.close_case(
        db,
        "appeals",
        service.appeal_key(v.id),
        outcome="accepted" if accept else "rejected",
        actor_id=operator_id,
    )
    db.commit()
    return v

"""The violations' JSON API: operators record violations, decide appeals and lift
penalties (``/ops/violations``); a shop's staff read theirs, mark one fixed or appeal it
(``/merchant/shops/{shop_id}/violations``). Evidence is sent as multipart photos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import File, Form, Query, UploadFile
from pydantic import BaseModel, Field, StrictBool

from xiaodian import settings
from xiaodian.errors import TooLarge, _
from xiaodian.violations import appeals, recording, service
from xiaodian.violations.service import Violation
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id

router = routing.router(
    tags=["violations"], responses=error_responses(401, 403, 404, 409, 413, 422)
)


class EventOut(BaseModel):
    at: datetime
    actor_id: int | None
    action: str
    note: str


class AppealOut(BaseModel):
    id: int
    text: str
    photos: list[str]
    status: str
    filed_by: int
    filed_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str


class ViolationOut(BaseModel):
    id: int
    shop_id: int
    target_kind: str
    target_id: int | None
    rule: str
    evidence_text: str
    evidence_photos: list[str]
    penalty: str
    points: int
    days: int | None
    status: str
    recorded_by: int | None
    created_at: datetime
    due_at: datetime
    penalty_until: datetime | None
    penalty_lifted_at: datetime | None
    appeal: AppealOut | None
    events: list[EventOut]

    @classmethod
    def of(cls, v: Violation) -> ViolationOut:
        a = v.appeal
        return cls(
            id=v.id,
            shop_id=v.shop_id,
            target_kind=v.target_kind,
            target_id=v.target_id,
            rule=v.rule,
            evidence_text=v.evidence_text,
            evidence_photos=[f"/media/{p['path']}" for p in v.evidence_photos],
            penalty=str(v.penalty),
            points=v.points,
            days=v.days,
            status=str(v.status),
            recorded_by=v.recorded_by,
            created_at=v.created_at,
            due_at=v.due_at,
            penalty_until=v.penalty_until,
            penalty_lifted_at=v.penalty_lifted_at,
            appeal=None
            if a is None
            else AppealOut(
                id=a.id,
                text=a.text,
                photos=[f"/media/{p['path']}" for p in a.photos],
                status=str(a.status),
                filed_by=a.filed_by,
                filed_at=a.filed_at,
                decided_by=a.decided_by,
                decided_at=a.decided_at,
                decision_note=a.decision_note,
            ),
            events=[
                EventOut(at=e.at, actor_id=e.actor_id, action=e.action, note=e.note)
                for e in v.events
            ],
        )


class DecisionIn(BaseModel):
    accept: StrictBool
    note: str = Field(max_length=service.MAX_NOTE)


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=service.MAX_NOTE)


def read_photos(photos: list[UploadFile] | None) -> list[bytes]:
    """The chosen photos' bytes: at most nine (422), each within the image limit (413)."""
    chosen = [p for p in photos or [] if p.filename]
    service.check_photo_count(len(chosen))
    limit = settings.current().max_image_bytes
    out = []
    for p in chosen:
        data = p.file.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(
                _("The file is too large (at most %(mb)s MB)."), mb=round(limit / 1048576, 1)
            )
        out.append(data)
    return out


Photos = Annotated[list[UploadFile] | None, File(description="up to 9 images")]


@router.get("/ops/violations")
def ops_list(
    db: DbDep, actor: SignedIn, status: Annotated[str, Query(max_length=20)] = ""
) -> list[ViolationOut]:
    """Operators: violations, newest first (``status``: one of the statuses, or all)."""
    found = service.ops_violations(db, actor, status=service.parse_status(status))
    return [ViolationOut.of(v) for v in found]


@router.post("/ops/violations", status_code=201)
def ops_record(
    db: DbDep,
    actor: SignedIn,
    shop_id: Annotated[Id, Form()],
    rule: Annotated[str, Form(max_length=40)],
    penalty: Annotated[str, Form(max_length=20)],
    evidence_text: Annotated[str, Form(max_length=service.MAX_TEXT * 2)],
    target_kind: Annotated[str, Form(max_length=20)] = "shop",
    target_id: Annotated[Id | None, Form()] = None,
    points: Annotated[int, Form(ge=0, le=100)] = 0,
    days: Annotated[int | None, Form(ge=0, le=10_000)] = None,
    photos: Photos = None,
) -> ViolationOut:
    """Record a violation with its evidence and penalty (applied at once)."""
    data = recording.Record(
        shop_id=shop_id,
        target_kind=target_kind,
        target_id=target_id,
        rule=rule,
        evidence_text=evidence_text,
        penalty=penalty,
        points=points,
        days=days,
        photos=read_photos(photos),
    )
    return ViolationOut.of(recording.record(db, actor, data))


@router.get("/ops/violations/{violation_id}")
def ops_get(db: DbDep, actor: SignedIn, violation_id: Id) -> ViolationOut:
    return ViolationOut.of(service.ops_violation(db, actor, violation_id))


@router.post("/ops/violations/{violation_id}/decision")
def ops_decide(db: DbDep, actor: SignedIn, violation_id: Id, body: DecisionIn) -> ViolationOut:
    """Accept (the penalty is undone) or reject the violation's open appeal, with a note.
    The operator who recorded the violation may not (403)."""
    return ViolationOut.of(
        appeals.decide(db, actor, violation_id, accept=body.accept, note=body.note)
    )


@router.post("/ops/violations/{violation_id}/lift")
def ops_lift(db: DbDep, actor: SignedIn, violation_id: Id, body: NoteIn) -> ViolationOut:
    """End a live limit or a suspension early."""
    return ViolationOut.of(recording.lift(db, actor, violation_id, note=body.note))


@router.get("/merchant/shops/{shop_id}/violations")
def shop_list(db: DbDep, actor: SignedIn, shop_id: Id) -> list[ViolationOut]:
    return [ViolationOut.of(v) for v in service.shop_violations(db, actor, shop_id)]


@router.get("/merchant/shops/{shop_id}/violations/{violation_id}")
def shop_get(db: DbDep, actor: SignedIn, shop_id: Id, violation_id: Id) -> ViolationOut:
    return ViolationOut.of(service.shop_violation(db, actor, shop_id, violation_id))


@router.post("/merchant/shops/{shop_id}/violations/{violation_id}/fixed")
def shop_fixed(
    db: DbDep, actor: SignedIn, shop_id: Id, violation_id: Id, body: NoteIn
) -> ViolationOut:
    """The shop fixed it (the penalty stands; no appeal afterwards)."""
    return ViolationOut.of(appeals.mark_fixed(db, actor, shop_id, violation_id, note=body.note))


@router.post("/merchant/shops/{shop_id}/violations/{violation_id}/appeal", status_code=201)
def shop_appeal(
    db: DbDep,
    actor: SignedIn,
    shop_id: Id,
    violation_id: Id,
    text: Annotated[str, Form(max_length=service.MAX_TEXT * 2)],
    photos: Photos = None,
) -> ViolationOut:
    """Appeal once, within the deadline, with evidence (text, up to nine photos)."""
    appeal = appeals.file_appeal(
        db, actor, shop_id, violation_id, text=text, photos=read_photos(photos)
    )
    return ViolationOut.of(appeal.violation)

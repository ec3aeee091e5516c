"""Pydantic models of the after-sales JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from xiaodian.aftersales import service, states
from xiaodian.aftersales.models import AftersaleCase, AftersaleEvent, CaseKind, CaseReason
from xiaodian.web.types import BodyId, Count, Fen


class CaseCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_no: str = Field(max_length=24)
    line_id: BodyId | None = Field(default=None, description="omit for the whole order")
    kind: CaseKind
    reason: CaseReason
    description: str = Field(default="", max_length=500)
    quantity: Count | None = Field(default=None, description="of the line; default all of it")
    amount_fen: Fen | None = Field(
        default=None, description="refund asked for; default all that is refundable"
    )


class TrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(max_length=20)
    tracking_no: str = Field(max_length=40)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen | None = Field(default=None, description="default: what the buyer asked")
    note: str = Field(default="", max_length=500, description="required when paying less")


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500)


class ConfirmReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restock: bool = Field(description="put the returned goods back on hand")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "uphold"]
    note: str = Field(max_length=500)
    amount_fen: Fen | None = None


class PhotoOut(BaseModel):
    path: str
    thumb: str


class CaseOut(BaseModel):
    id: int
    order_no: str
    shop_id: int
    line_id: int | None
    quantity: int | None
    kind: CaseKind
    status: str
    status_label: str
    reason: CaseReason
    description: str
    photos: list[PhotoOut]
    title: str
    spec_text: str
    requested_fen: int
    approved_fen: int | None
    refunded_fen: int
    reject_reason: str | None
    return_carrier: str | None
    return_tracking_no: str | None
    reship_carrier: str | None
    reship_tracking_no: str | None
    restocked: bool | None
    created_at: datetime
    respond_by: datetime
    rejected_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, case: AftersaleCase) -> CaseOut:
        return cls(
            id=case.id,
            order_no=case.order_no,
            shop_id=case.shop_id,
            line_id=case.line_id,
            quantity=case.quantity,
            kind=case.kind,
            status=str(case.status),
            status_label=states.STATUS_LABELS[case.status],
            reason=case.reason,
            description=case.description,
            photos=[PhotoOut(path=p["path"], thumb=p["thumb"]) for p in case.photos],
            title=case.title,
            spec_text=case.spec_text,
            requested_fen=case.requested_fen,
            approved_fen=case.approved_fen,
            refunded_fen=case.refunded_fen,
            reject_reason=case.reject_reason,
            return_carrier=case.return_carrier,
            return_tracking_no=case.return_tracking_no,
            reship_carrier=case.reship_carrier,
            reship_tracking_no=case.reship_tracking_no,
            restocked=case.restocked,
            created_at=case.created_at,
            respond_by=case.respond_by,
            rejected_at=case.rejected_at,
            escalated_at=case.escalated_at,
            closed_at=case.closed_at,
        )


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    role: str
    actor_id: int | None
    from_status: str | None
    to_status: str | None
    note: str | None
    amount_fen: int | None
    at: datetime


class CaseDetailOut(CaseOut):
    events: list[EventOut]
    actions: list[str] = Field(description="what the caller may do now")

    @classmethod
    def detail(cls, case: AftersaleCase, events: list[AftersaleEvent], role: str) -> CaseDetailOut:
        base = CaseOut.of(case).model_dump()
        return cls(
            **base,
            events=[EventOut.model_validate(e) for e in events],
            actions=sorted(states.allowed(case.status, case.kind, role)),
        )


class CaseListOut(BaseModel):
    items: list[CaseOut]
    total: int
    page: int
    pages: int

    @classmethod
    def of(cls, result: service.CasePage) -> CaseListOut:
        return cls(
            items=[CaseOut.of(c) for c in result.cases],
            total=result.total,
            page=result.page,
            pages=result.pages,
        )


class OptionsOut(BaseModel):
    order_no: str
    line_id: int | None
    kinds: list[CaseKind]
    reasons: list[CaseReason]
    max_quantity: int
    max_refund_fen: int
    blocked: str | None
    notes: list[str]

"""The ledger's JSON API: a shop's withdrawals (its owner asks, owner and finance staff
read) and the operators' queue (approve, reject, the sandbox payout's outcome)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Query, status
from pydantic import BaseModel, ConfigDict, Field

from xiaodian.ledger import withdrawals
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Fen, Id

router = routing.router(tags=["ledger"], responses=error_responses(401, 403, 404, 409, 422))


class WithdrawalIn(BaseModel):
    amount_fen: Fen = Field(gt=0)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class PayoutIn(BaseModel):
    outcome: Literal["success", "fail"]


class WithdrawalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int
    amount_fen: int
    status: str
    reason: str
    provider_ref: str | None
    requested_at: datetime
    decided_at: datetime | None
    finished_at: datetime | None


@router.get("/merchant/shops/{shop_id}/withdrawals")
def shop_withdrawals(shop_id: Id, db: DbDep, actor: SignedIn) -> list[WithdrawalOut]:
    """The shop's latest withdrawals, newest first (its owner and finance staff)."""
    rows = withdrawals.shop_withdrawals(db, actor, shop_id)
    return [WithdrawalOut.model_validate(row) for row in rows]


@router.post("/merchant/shops/{shop_id}/withdrawals", status_code=status.HTTP_201_CREATED)
def request_withdrawal(
    shop_id: Id, body: WithdrawalIn, db: DbDep, actor: SignedIn
) -> WithdrawalOut:
    """The owner asks for ``amount_fen`` of the available balance (at least the minimum,
    at most the balance, once a day)."""
    row = withdrawals.request_withdrawal(db, actor, shop_id, amount_fen=body.amount_fen)
    return WithdrawalOut.model_validate(row)


@router.get("/ops/withdrawals", tags=["ops"])
def queue(
    db: DbDep, actor: SignedIn, everything: bool = Query(False, alias="all")
) -> list[WithdrawalOut]:
    """Operators: withdrawals waiting for a decision or a payout (``all``: the latest)."""
    rows = withdrawals.queue(db, actor, open_only=not everything)
    return [WithdrawalOut.model_validate(row) for row in rows]


@router.post("/ops/withdrawals/{withdrawal_id}/approve", tags=["ops"])
def approve(withdrawal_id: Id, db: DbDep, actor: SignedIn) -> WithdrawalOut:
    return WithdrawalOut.model_validate(withdrawals.approve(db, actor, withdrawal_id))


@router.post("/ops/withdrawals/{withdrawal_id}/reject", tags=["ops"])
def reject(withdrawal_id: Id, body: RejectIn, db: DbDep, actor: SignedIn) -> WithdrawalOut:
    row = withdrawals.reject(db, actor, withdrawal_id, reason=body.reason)
    return WithdrawalOut.model_validate(row)


@router.post("/ops/withdrawals/{withdrawal_id}/payout", tags=["ops"])
def payout(withdrawal_id: Id, body: PayoutIn, db: DbDep, actor: SignedIn) -> WithdrawalOut:
    """The sandbox: how a payout still processing ended."""
    row = withdrawals.resolve_payout(db, actor, withdrawal_id, outcome=body.outcome)
    return WithdrawalOut.model_validate(row)

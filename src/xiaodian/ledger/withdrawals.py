"""Withdrawals (提现): a shop's owner asks for part of the shop's available balance, or a
promoter for part of their available commission; an operator approves or rejects it, the
payout pays it out or fails. Both follow the same rules (the minimum, the day's number of
requests, never above the balance) and the same steps; only the accounts differ
(``merchant:*`` of the shop, ``promoter:*`` of the promoter):

Money moves by transfers keyed ``withdrawal:<id>:<step>``, each in the transaction of the
withdrawal's change of state (``transitions.check`` over ``TRANSITIONS``):

- requested: D available / C withdrawing
- rejected (a reason), or the payout failed: D withdrawing / C available
- paid: D withdrawing / C wechatpay:clearing (the money left the provider)

A request locks the shop's ``merchant:available`` account row (``FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction itself serialises writers) and only then reads
the balance and the day's requests, so concurrent requests queue and never overdraw.

The payout is WeChat Pay's 商家转账 to the owner who asked (their openid: they signed in
with WeChat once), through payments' provider; the sandbox answers as
``XIAODIAN_LEDGER_PAYOUT_MODE`` says (success, fail, or processing, which an operator then
resolves). Every public function commits: one transaction, except the approval, which
commits before it calls the provider (``approve``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock, transitions
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.errors import Conflict, DomainError, InvalidInput, NotFound, _
from xiaodian.ledger import service
from xiaodian.ledger.models import LedgerWithdrawal as Withdrawal
from xiaodian.ledger.models import WithdrawalStatus as WithdrawalStatus  # re-exported
from xiaodian.ledger.service import (
    AVAILABLE,
    CLEARING,
    OWES,
    PLATFORM,
    PROMOTER_AVAILABLE,
    PROMOTER_WITHDRAWING,
    WITHDRAWING,
    Leg,
)
from xiaodian.ledger.statements import require_finance
from xiaodian.money import format_fen
from xiaodian.payments import service as payments_service
from xiaodian.payments.providers.base import (
    TRANSFER_FAILED,
    TRANSFER_NOT_FOUND,
    TRANSFER_SUCCESS,
    ProviderError,
    ProviderRejected,
    TransferState,
)

S = WithdrawalStatus
TRANSITIONS: dict[str, transitions.Transition[WithdrawalStatus]] = {
    "approve": transitions.Transition(frozenset({S.REQUESTED}), S.APPROVED),
    "reject": transitions.Transition(frozenset({S.REQUESTED}), S.REJECTED),
    "paid": transitions.Transition(frozenset({S.APPROVED}), S.PAID),
    "failed": transitions.Transition(frozenset({S.APPROVED}), S.FAILED),
}
STATUS_LABELS: dict[str, str] = {
    S.REQUESTED: _("Waiting for approval"),
    S.APPROVED: _("Paying out"),
    S.PAID: _("Paid out"),
    S.FAILED: _("Payout failed"),
    S.REJECTED: _("Rejected"),
}
LIST_LIMIT = 50
OUTCOMES = ("success", "fail", "processing")


def _move(
    db: Session, withdrawal: Withdrawal, step: str, legs: tuple[Leg, ...], ref: str | None = None
) -> None:
    service.post_transfers(
        db,
        [
            service.NewTransfer(
                key=f"withdrawal:{withdrawal.id}:{step}",
                kind="withdraw",
                legs=legs,
                ref=ref or f"withdrawal:{withdrawal.id}",
                note=withdrawal.reason,
            )
        ],
    )


def _accounts(withdrawal: Withdrawal) -> tuple[str, str, int]:
    """(its available account's kind, its withdrawing account's kind, their owner)."""
    if withdrawal.promoter_id is not None:
        return PROMOTER_AVAILABLE, PROMOTER_WITHDRAWING, withdrawal.promoter_id
    assert withdrawal.shop_id is not None
    return AVAILABLE, WITHDRAWING, withdrawal.shop_id


def _back_to_available(db: Session, withdrawal: Withdrawal, step: str) -> None:
    available, withdrawing, owner = _accounts(withdrawal)
    amount = withdrawal.amount_fen
    _move(db, withdrawal, step, (Leg(withdrawing, owner, amount), Leg(available, owner, -amount)))


def request_withdrawal(db: Session, actor: Actor, shop_id: int, *, amount_fen: int) -> Withdrawal:
    """The shop's owner asks for ``amount_fen`` of the available balance: at least the
    minimum, at most the balance (nothing owed to the platform), at most the day's number
    of requests. Moves the amount to ``merchant:withdrawing``; commits."""
    user_id = actor.require_shop(shop_id, owner=True)
    return _request(db, user_id, amount_fen, shop_id=shop_id)


def request_promoter_withdrawal(db: Session, actor: Actor, *, amount_fen: int) -> Withdrawal:
    """A promoter asks for ``amount_fen`` of their available commission, under the shops'
    rules (the minimum, the day's number of requests, at most the balance: one clawed back
    below zero waits). Moves the amount to ``promoter:withdrawing``; commits."""
    user_id = actor.require_user()
    return _request(db, user_id, amount_fen, promoter_id=user_id)


def _request(
    db: Session,
    user_id: int,
    amount_fen: int,
    *,
    shop_id: int | None = None,
    promoter_id: int | None = None,
) -> Withdrawal:
    conf = settings_module.current()
    if amount_fen < conf.ledger_withdrawal_min_fen:
        raise InvalidInput(
            _("A withdrawal is at least %(minimum)s."),
            code="withdrawal_too_small",
            minimum=format_fen(conf.ledger_withdrawal_min_fen),
        )
    available_kind, withdrawing_kind, owner = (
        (AVAILABLE, WITHDRAWING, shop_id)
        if shop_id is not None
        else (PROMOTER_AVAILABLE, PROMOTER_WITHDRAWING, promoter_id)
    )
    assert owner is not None
    # The lock first: a concurrent request of this payee waits here, then sees this one.
    service.account_ids(db, [(available_kind, owner)], lock=True)
    day = clock.today()
    payee = (
        Withdrawal.shop_id == shop_id
        if shop_id is not None
        else (Withdrawal.promoter_id == promoter_id)
    )
    today = db.scalar(
        select(func.count())
        .select_from(Withdrawal)
        .where(payee, Withdrawal.business_day == day, Withdrawal.status != S.REJECTED)
    )
    if (today or 0) >= conf.ledger_withdrawals_per_day:
        raise Conflict(
            _("A withdrawal was asked for today already; try again tomorrow."),
            code="withdrawal_daily_limit",
        )
    if shop_id is not None:
        raw = service.raw_balances(db, [(AVAILABLE, shop_id), (OWES, shop_id)])
        if service.shown(OWES, raw[(OWES, shop_id)]) > 0:
            raise Conflict(
                _("The shop owes the platform money: withdrawals wait until that is paid back."),
                code="withdrawal_owes",
            )
    else:
        raw = service.raw_balances(db, [(available_kind, owner)])
    available = service.shown(available_kind, raw[(available_kind, owner)])
    if amount_fen > available:
        raise InvalidInput(
            _("That is more than the available balance (%(available)s)."),
            code="withdrawal_above_balance",
            available=format_fen(max(available, 0)),
        )
    withdrawal = Withdrawal(
        shop_id=shop_id,
        promoter_id=promoter_id,
        amount_fen=amount_fen,
        status=S.REQUESTED,
        business_day=day,
        requested_by=user_id,
        requested_at=clock.now(),
    )
    db.add(withdrawal)
    db.flush()
    legs = (Leg(available_kind, owner, amount_fen), Leg(withdrawing_kind, owner, -amount_fen))
    _move(db, withdrawal, "requested", legs)
    cases_service.open_case(
        db,
        "withdrawals",
        f"withdrawal:{withdrawal.id}",
        title=format_fen(amount_fen) + ("" if shop_id is not None else f" · #{promoter_id}"),
        link="/ops/withdrawals",
        shop_id=shop_id,
    )
    db.commit()
    return withdrawal


def _locked(db: Session, withdrawal_id: int) -> Withdrawal:
    withdrawal = db.scalar(
        select(Withdrawal).where(Withdrawal.id == withdrawal_id).with_for_update()
    )
    if withdrawal is None:
        raise NotFound(_("Withdrawal not found."), code="withdrawal_not_found")
    return withdrawal


def _advance(withdrawal: Withdrawal, action: str, decided_by: int | None = None) -> None:
    row = transitions.check(
        TRANSITIONS,
        action,
        withdrawal.status,
        _("This withdrawal cannot change that way any more."),
        code="withdrawal_state",
    )
    withdrawal.status = row.target
    now = clock.now()
    if decided_by is not None:
        withdrawal.decided_by, withdrawal.decided_at = decided_by, now
    if row.target != S.APPROVED:
        withdrawal.finished_at = now


def _finish(db: Session, withdrawal: Withdrawal, outcome: str, reason: str = "") -> None:
    """The payout's answer: paid, failed (the amount returns), or still processing."""
    if outcome == "success":
        _advance(withdrawal, "paid")
        _available, withdrawing, owner = _accounts(withdrawal)
        amount = withdrawal.amount_fen
        legs = (Leg(withdrawing, owner, amount), Leg(CLEARING, PLATFORM, -amount))
        _move(db, withdrawal, "paid", legs, ref=withdrawal.provider_ref)
    elif outcome == "fail":
        _advance(withdrawal, "failed")
        withdrawal.reason = reason[:200] or "payout failed"
        _back_to_available(db, withdrawal, "failed")


def approve(db: Session, actor: Actor, withdrawal_id: int) -> Withdrawal:
    """An operator approves: the payout (商家转账 to the owner who asked, or the sandbox's)
    is sent. Two commits: the approval with its bill number first, so a crash during the
    call leaves a payout the job (``payouts_due``) asks about by that number, never a
    second one; then the provider's answer (paid, failed: the amount returns, or still
    processing)."""
    user_id = cases_service.require_role(db, actor, "withdrawals")
    withdrawal = _locked(db, withdrawal_id)
    _advance(withdrawal, "approve", user_id)
    cases_service.close_case(
        db, "withdrawals", f"withdrawal:{withdrawal.id}", outcome="approved", actor_id=user_id
    )
    payments_service.payee_openid(db, user_id=withdrawal.requested_by)  # refused: nothing sent
    withdrawal.provider_ref = f"XDWD{withdrawal.id:010d}{secrets.token_hex(4).upper()}"
    db.commit()
    return _pay_out(db, withdrawal.id)


def _pay_out(db: Session, withdrawal_id: int) -> Withdrawal:
    """Send (or send again: the same bill number is the same transfer) and record."""
    withdrawal = _locked(db, withdrawal_id)
    ref, payee, amount = withdrawal.provider_ref, withdrawal.requested_by, withdrawal.amount_fen
    db.commit()  # no lock held while the provider answers
    assert ref is not None
    try:
        state = payments_service.transfer(
            db, out_bill_no=ref, user_id=payee, amount_fen=amount, remark=PAYOUT_REMARK
        )
    except ProviderRejected as exc:  # refused for good: the money never left
        state = TransferState(ref, "FAIL", fail_reason=f"{exc.code}: {exc.message}")
    except (ProviderError, DomainError):  # no answer, or no payee: the job asks again
        db.rollback()
        return _record(db, withdrawal_id, None)
    return _record(db, withdrawal_id, state)


def _record(db: Session, withdrawal_id: int, state: TransferState | None) -> Withdrawal:
    """The provider's answer recorded (None: no answer yet, nothing changes); commits."""
    withdrawal = _locked(db, withdrawal_id)
    if state is not None and withdrawal.status == S.APPROVED:
        if state.state == TRANSFER_SUCCESS:
            _finish(db, withdrawal, "success")
        elif state.state in TRANSFER_FAILED:
            _finish(db, withdrawal, "fail", state.fail_reason or state.state)
    db.commit()
    return withdrawal


PAYOUT_REMARK = "店铺提现"
PAYOUT_QUIET = timedelta(minutes=1)  # a payout just sent is left to its own answer


def payouts_due(db: Session, *, limit: int = 50) -> int:
    """The worker: ask the provider about approved payouts still under way (a bill it never
    received is sent again, the same bill number); record the final ones. Commits each;
    returns how many finished."""
    before = clock.now() - PAYOUT_QUIET
    due = list(
        db.execute(
            select(Withdrawal.id, Withdrawal.provider_ref)
            .where(
                Withdrawal.status == S.APPROVED,
                Withdrawal.provider_ref.is_not(None),
                Withdrawal.decided_at <= before,
            )
            .order_by(Withdrawal.id)
            .limit(limit)
        ).all()
    )
    db.commit()
    finished = 0
    for withdrawal_id, ref in due:
        try:
            state = payments_service.query_transfer(db, out_bill_no=str(ref))
        except ProviderError:
            db.rollback()
            continue
        if state.state == TRANSFER_NOT_FOUND:
            done = _pay_out(db, withdrawal_id)
        else:
            done = _record(db, withdrawal_id, state)
        finished += done.status != S.APPROVED
    return finished


def reject(db: Session, actor: Actor, withdrawal_id: int, *, reason: str) -> Withdrawal:
    """An operator refuses, saying why: the amount returns to available; commits."""
    user_id = cases_service.require_role(db, actor, "withdrawals")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the withdrawal is rejected."), code="reason_required")
    withdrawal = _locked(db, withdrawal_id)
    _advance(withdrawal, "reject", user_id)
    withdrawal.reason = reason[:200]
    cases_service.close_case(
        db, "withdrawals", f"withdrawal:{withdrawal.id}", outcome="rejected", actor_id=user_id
    )
    _back_to_available(db, withdrawal, "rejected")
    db.commit()
    return withdrawal


def resolve_payout(db: Session, actor: Actor, withdrawal_id: int, *, outcome: str) -> Withdrawal:
    """An operator tells the sandbox how a processing payout ended (success or fail); with
    WeChat Pay its own answer decides (``payouts_due``)."""
    actor.require_operator()
    if settings_module.current().payment_provider != "sandbox":
        raise NotFound(_("Withdrawal not found."), code="withdrawal_not_found")
    if outcome not in ("success", "fail"):
        raise InvalidInput(_("Unknown payout outcome."), code="bad_outcome")
    withdrawal = _locked(db, withdrawal_id)
    _finish(db, withdrawal, outcome, "sandbox payout failed")
    db.commit()
    return withdrawal


@dataclass(frozen=True)
class WithdrawalRow:
    id: int
    shop_id: int | None
    amount_fen: int
    status: str
    reason: str
    provider_ref: str | None
    requested_at: datetime
    decided_at: datetime | None
    finished_at: datetime | None
    promoter_id: int | None = None  # a promoter's withdrawal (``shop_id`` is then None)


def _rows(db: Session, *conds: Any) -> list[WithdrawalRow]:
    found = db.scalars(
        select(Withdrawal).where(*conds).order_by(Withdrawal.id.desc()).limit(LIST_LIMIT)
    )
    return [
        WithdrawalRow(
            w.id,
            w.shop_id,
            w.amount_fen,
            w.status.value,
            w.reason,
            w.provider_ref,
            w.requested_at,
            w.decided_at,
            w.finished_at,
            w.promoter_id,
        )
        for w in found
    ]


def shop_withdrawals(db: Session, actor: Actor, shop_id: int) -> list[WithdrawalRow]:
    """The shop's latest withdrawals (its owner and finance staff)."""
    require_finance(actor, shop_id)
    return _rows(db, Withdrawal.shop_id == shop_id)


def my_withdrawals(db: Session, actor: Actor) -> list[WithdrawalRow]:
    """The promoter's own latest withdrawals."""
    return _rows(db, Withdrawal.promoter_id == actor.require_user())


def queue(db: Session, actor: Actor, *, open_only: bool = True) -> list[WithdrawalRow]:
    """Operators: the withdrawals waiting for a decision or a payout, the oldest last."""
    actor.require_operator()
    if open_only:
        return _rows(db, Withdrawal.status.in_([S.REQUESTED, S.APPROVED]))
    return _rows(db)

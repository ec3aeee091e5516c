"""Profit sharing (分账), when the deployment turns it on (``XIAODIAN_PROFIT_SHARING``).

Payments made while it is on are created with ``settle_info.profit_sharing``: WeChat Pay
freezes their money at the collecting merchant until it is split. When an order settles,
the worker (``run``, the job ``ledger_profit_sharing``) splits its platform fee to the
platform's own merchant number (``XIAODIAN_PROFIT_SHARING_PLATFORM_MCHID``; left with the
collecting account when unset) and each promoter's commission to the promoter's WeChat;
once every order of the payment has resolved (settled, or refunded in full) the rest is
unfrozen for the merchants' withdrawals. WeChat Pay's rules are kept: whole fen, at most
50 receivers a request and 50 requests a payment (one kept for the unfreeze), the whole of
a payment's splits within the collecting merchant's maximum ratio
(``XIAODIAN_PROFIT_SHARING_MAX_RATIO_BP``: the platform fee first, then commissions, the
largest first), and a request PROCESSING until WeChat Pay has settled the payment (asked
again with a growing pause). What cannot be split stays where the ledger already has it.

The ledger records the split the same way whatever the provider (WeChat Pay or the
sandbox), each step once by its business key (``share:<out_order_no>:<receiver>:<step>``):

- planned: a promoter's part is reserved, D ``promoter:available`` / C
  ``promoter:withdrawing`` (it can no longer be paid twice);
- a receiver's SUCCESS: the money left the collecting account, D ``promoter:withdrawing``
  (or ``platform:operating``, the platform's own account) / C ``wechatpay:clearing``;
- CLOSED (the receiver could not take it) or a request refused for good: the reservation
  goes back, D ``promoter:withdrawing`` / C ``promoter:available``.

A request is sent outside any transaction: its row commits first with its number, so a
crash during the call leaves a request the next run asks about by that number (one never
received is sent again under it), never a second split.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.errors import _
from xiaodian.ledger import service
from xiaodian.ledger.models import (
    HoldStatus,
    LedgerAccount,
    LedgerHold,
    LedgerPosting,
    LedgerShare,
    LedgerTransfer,
    ShareStatus,
)
from xiaodian.ledger.service import (
    CLEARING,
    FEE_INCOME,
    OPERATING,
    PLATFORM,
    PROMOTER_AVAILABLE,
    PROMOTER_WITHDRAWING,
    Leg,
)
from xiaodian.payments import sharing as payments_sharing
from xiaodian.payments.providers.base import (
    MAX_SHARING_RECEIVERS,
    MAX_SHARING_REQUESTS,
    RECEIVER_MERCHANT,
    RECEIVER_PERSONAL,
    SHARING_FINISHED,
    SHARING_NOT_FOUND,
    ProviderError,
    ProviderRejected,
    SharingReceiver,
    SharingState,
)

log = logging.getLogger(__name__)

S = ShareStatus
STATUS_LABELS = {
    S.PLANNED: _("Planned"),
    S.PROCESSING: _("Under way"),
    S.FINISHED: _("Finished"),
    S.FAILED: _("Refused"),
}
BATCH = 200
PAUSE = timedelta(minutes=1)  # the first pause before asking again; doubles, up to MAX_PAUSE
MAX_PAUSE = timedelta(hours=6)
FEE_TEXT = "技术服务费"
COMMISSION_TEXT = "推广佣金"
_SHARES = cast(Table, LedgerShare.__table__)


ADOPT_WINDOW = timedelta(days=2)


def run(db: Session, *, now: datetime | None = None) -> int:
    """The worker: plan the splits of what resolved, then send or ask about every request
    that is due. Commits per batch and per request; returns how many requests finished.
    Runs whether profit sharing is on or not: payments made to be split are split."""
    adopt(db, now=now)
    while plan(db, now=now) == BATCH:
        pass
    return send_due(db, now=now)


def adopt(db: Session, *, now: datetime | None = None) -> int:
    """While profit sharing is off, the holds of payments made to be split before it was
    turned off (paid afterwards, so not marked at payment) become due too. One
    transaction; returns how many it marked."""
    if settings_module.current().profit_sharing:
        db.commit()
        return 0  # every hold is marked at payment
    now = now or clock.now()
    orders = payments_sharing.sharing_orders_paid_since(db, now - ADOPT_WINDOW)
    marked = 0
    if orders:
        marked = db.execute(
            update(LedgerHold)
            .where(LedgerHold.order_id.in_(orders), LedgerHold.share_state.is_(None))
            .values(share_state="due")
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    db.commit()
    return int(marked or 0)


# --------------------------------------------------------------------------- planning


def plan(db: Session, *, now: datetime | None = None, limit: int = BATCH) -> int:
    """Record the requests of up to ``limit`` resolved holds paid to be split (the oldest
    first), with their reservations, and the unfreeze of each payment whose orders have
    all resolved. One transaction (committed); returns how many holds it planned."""
    now = now or clock.now()
    query = (
        select(LedgerHold.id, LedgerHold.order_id, LedgerHold.order_no, LedgerHold.status)
        .where(LedgerHold.share_state == "due", LedgerHold.status != HoldStatus.PENDING)
        .order_by(LedgerHold.id)
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers take different holds
    holds = list(db.execute(query))
    if not holds:
        db.commit()
        return 0
    trades = payments_sharing.trades_of(db, [h.order_id for h in holds], lock=True)
    fees, commissions = _amounts(db, [h.order_id for h in holds if h.status == HoldStatus.POSTED])
    promoters = {p for parts in commissions.values() for p in parts}
    accounts = payments_sharing.receiver_accounts(db, promoters) if promoters else {}
    used = _used(db, {t.out_trade_no for t in trades.values()})
    rows: list[dict[str, Any]] = []
    reserved: list[service.NewTransfer] = []
    none: list[int] = []
    for hold in holds:
        trade = trades.get(hold.order_id)
        if trade is None or not trade.profit_sharing or not trade.transaction_id:
            none.append(hold.id)
            continue
        if hold.status != HoldStatus.POSTED:
            continue  # refunded in full: nothing to split, the unfreeze gives the rest back
        count, split = used[trade.out_trade_no]
        cap = trade.amount_fen * settings_module.current().profit_sharing_max_ratio_bp // 10_000
        receivers = _receivers(
            fees.get(hold.order_id, 0), commissions.get(hold.order_id, {}), accounts, cap - split
        )
        for k in range(0, len(receivers), MAX_SHARING_RECEIVERS):
            if count >= MAX_SHARING_REQUESTS - 1:  # the last request is the unfreeze's
                log.warning("payment %s: no requests left to split", trade.out_trade_no)
                break
            chunk = receivers[k : k + MAX_SHARING_RECEIVERS]
            no = f"XDPS{hold.order_id}" + (f"N{k // MAX_SHARING_RECEIVERS}" if k else "")
            amount = sum(r["amount"] for r in chunk)
            rows.append(_row(no, "split", trade, chunk, amount, now, hold.order_id, hold.order_no))
            reserved += [
                _step(no, r, "reserved", hold.order_id, hold.order_no)
                for r in chunk
                if r["party"] == "promoter"
            ]
            count, split = count + 1, split + amount
        used[trade.out_trade_no] = (count, split)
    skipped = set(none)
    _mark(db, [h.id for h in holds if h.id not in skipped], "planned")
    _mark(db, none, "none")
    rows += _unfreezes(db, trades, now)
    if rows:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.execute(
            insert(_SHARES).values(rows).on_conflict_do_nothing(index_elements=["out_order_no"])
        )
    service.post_transfers(db, reserved, at=now)
    db.commit()
    return len(holds)


def _amounts(db: Session, order_ids: list[int]) -> tuple[dict[int, int], dict[int, dict[int, int]]]:
    """Each settled order's platform fee and each promoter's commission now available from
    it (released less clawed back), from the ledger's own postings: one query."""
    fees: dict[int, int] = {}
    commissions: dict[int, dict[int, int]] = defaultdict(dict)
    if not order_ids:
        return fees, commissions
    rows = db.execute(
        select(
            LedgerTransfer.order_id,
            LedgerAccount.kind,
            LedgerAccount.owner_id,
            func.sum(LedgerPosting.amount_fen),
        )
        .join(LedgerPosting, LedgerPosting.transfer_id == LedgerTransfer.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(
            LedgerTransfer.order_id.in_(order_ids),
            LedgerTransfer.kind.in_(("settle", "commission")),
            LedgerAccount.kind.in_((FEE_INCOME, PROMOTER_AVAILABLE)),
        )
        .group_by(LedgerTransfer.order_id, LedgerAccount.kind, LedgerAccount.owner_id)
    )
    for order_id, kind, owner, total in rows:
        amount = -int(total)  # both are credit-normal
        if amount <= 0 or order_id is None:
            continue
        if kind == FEE_INCOME:
            fees[order_id] = amount
        else:
            commissions[order_id][owner] = amount
    return fees, commissions


def _used(db: Session, out_trade_nos: set[str]) -> dict[str, tuple[int, int]]:
    """Per payment: the requests made so far and what their splits ask, one query."""
    used = {no: (0, 0) for no in out_trade_nos}
    if out_trade_nos:
        for no, count, amount in db.execute(
            select(
                LedgerShare.out_trade_no,
                func.count(),
                func.coalesce(func.sum(LedgerShare.amount_fen), 0),
            )
            .where(
                LedgerShare.out_trade_no.in_(out_trade_nos),
                LedgerShare.kind == "split",
                LedgerShare.status != S.FAILED,
            )
            .group_by(LedgerShare.out_trade_no)
        ):
            used[no] = (int(count), int(amount))
    return used


def _receivers(
    fee: int, commissions: dict[int, int], accounts: dict[int, str], room: int
) -> list[dict[str, Any]]:
    """What one order splits, within ``room`` (what the payment's ratio still allows): the
    platform fee first, then commissions, the largest first; a promoter without WeChat
    keeps theirs on the ledger."""
    conf = settings_module.current()
    wanted: list[tuple[str, int, str, str, int, str]] = []
    if conf.profit_sharing_platform_mchid and fee > 0:
        wanted.append(
            (
                "platform",
                PLATFORM,
                RECEIVER_MERCHANT,
                conf.profit_sharing_platform_mchid,
                fee,
                FEE_TEXT,
            )
        )
    for promoter, amount in sorted(commissions.items(), key=lambda kv: (-kv[1], kv[0])):
        if promoter in accounts:
            wanted.append(
                (
                    "promoter",
                    promoter,
                    RECEIVER_PERSONAL,
                    accounts[promoter],
                    amount,
                    COMMISSION_TEXT,
                )
            )
    receivers = []
    for party, owner, type_, account, amount, text in wanted:
        take = min(amount, room)
        if take <= 0:
            break
        room -= take
        receivers.append(
            {
                "party": party,
                "owner": owner,
                "type": type_,
                "account": account,
                "amount": take,
                "description": text,
            }
        )
    return receivers


def _row(
    no: str,
    kind: str,
    trade: payments_sharing.SharingTrade,
    receivers: list[dict[str, Any]],
    amount: int,
    now: datetime,
    order_id: int | None = None,
    order_no: str | None = None,
) -> dict[str, Any]:
    return {
        "out_order_no": no,
        "kind": kind,
        "order_id": order_id,
        "order_no": order_no,
        "out_trade_no": trade.out_trade_no,
        "transaction_id": trade.transaction_id,
        "receivers": receivers,
        "amount_fen": amount,
        "status": S.PLANNED,
        "attempts": 0,
        "next_try_at": now,
        "created_at": now,
    }


def _mark(db: Session, hold_ids: list[int], state: str) -> None:
    if hold_ids:
        db.execute(
            update(LedgerHold)
            .where(LedgerHold.id.in_(hold_ids))
            .values(share_state=state)
            .execution_options(synchronize_session=False)
        )


def _unfreezes(
    db: Session, trades: dict[int, payments_sharing.SharingTrade], now: datetime
) -> list[dict[str, Any]]:
    """The unfreeze of each payment to split whose every order has resolved and been
    planned (an order without income recorded has nothing to wait for): one query."""
    sharing = {t.out_trade_no: t for t in trades.values() if t.profit_sharing and t.transaction_id}
    if not sharing:
        return []
    covered = {o for t in sharing.values() for o in t.order_ids}
    waiting = set(
        db.scalars(
            select(LedgerHold.order_id).where(
                LedgerHold.order_id.in_(covered), LedgerHold.share_state == "due"
            )
        )
    )
    return [
        _row(f"XDPU{t.out_trade_no}", "unfreeze", t, [], 0, now)
        for t in sharing.values()
        if not waiting.intersection(t.order_ids)
    ]


# --------------------------------------------------------------------------- sending


def send_due(
    db: Session, *, now: datetime | None = None, limit: int = 50, batches: int = 20
) -> int:
    """Send the planned requests and ask about those under way whose pause is over (the
    oldest first), ``limit`` at a time for up to ``batches`` rounds; each recorded in its
    own transaction. Returns how many finished."""
    now = now or clock.now()
    finished = 0
    seen: set[int] = set()
    for _round in range(batches):
        due = [
            share_id
            for share_id in db.scalars(
                select(LedgerShare.id)
                .where(
                    LedgerShare.status.in_((S.PLANNED, S.PROCESSING)),
                    LedgerShare.next_try_at <= now,
                )
                .order_by(LedgerShare.next_try_at, LedgerShare.id)
                .limit(limit)
            )
            if share_id not in seen
        ]
        db.commit()
        if not due:
            break
        seen.update(due)
        finished += sum(_send(db, share_id, now) for share_id in due)
    return finished


def _locked(db: Session, share_id: int) -> LedgerShare:
    row = db.scalar(select(LedgerShare).where(LedgerShare.id == share_id).with_for_update())
    assert row is not None
    return row


def _send(db: Session, share_id: int, now: datetime) -> bool:
    """One request: sent the first time; after that asked about by its number (it may have
    been received), and sent again under that number only when the provider never got it.
    A refusal of the split itself is final; anything else is noted and tried again."""
    row = _locked(db, share_id)
    if row.status not in (S.PLANNED, S.PROCESSING):
        db.commit()
        return False
    if row.kind == "unfreeze" and _splits_under_way(db, row.out_trade_no):
        row.next_try_at = now + MAX_PAUSE  # woken when its payment's last split ends
        db.commit()
        return False
    first = row.status == S.PLANNED
    kind, no, transaction_id = row.kind, row.out_order_no, row.transaction_id
    receivers = [dict(r) for r in row.receivers]
    row.status = S.PROCESSING  # from here on it may have been received: ask before sending
    row.attempts += 1
    row.next_try_at = now + min(PAUSE * 2 ** min(row.attempts - 1, 12), MAX_PAUSE)
    db.commit()
    try:
        if not first:
            state = payments_sharing.query(db, out_order_no=no, transaction_id=transaction_id)
            if state.state != SHARING_NOT_FOUND:
                return _record(db, share_id, state, now)
        try:
            state = _request(db, kind, no, transaction_id, receivers)
        except ProviderRejected as exc:
            if kind != "split":
                raise
            _fail(db, share_id, f"{exc.code}: {exc.message}", now)  # never split
            return False
    except ProviderError as exc:  # no answer, or a refusal to retry: noted, asked again
        _note(db, share_id, exc)
        return False
    return _record(db, share_id, state, now)


def _note(db: Session, share_id: int, exc: ProviderError) -> None:
    db.rollback()
    log.warning("profit sharing %s: %s", share_id, exc)
    row = _locked(db, share_id)
    row.last_error = str(exc)[:200]
    db.commit()


def _splits_under_way(db: Session, out_trade_no: str) -> bool:
    return (
        db.scalar(
            select(func.count())
            .select_from(LedgerShare)
            .where(
                LedgerShare.out_trade_no == out_trade_no,
                LedgerShare.kind == "split",
                LedgerShare.status.in_((S.PLANNED, S.PROCESSING)),
            )
        )
        or 0
    ) > 0


def _wake_unfreeze(db: Session, out_trade_no: str, now: datetime) -> None:
    """A split of the payment ended: its unfreeze (if planned) is due now."""
    db.execute(
        update(LedgerShare)
        .where(
            LedgerShare.out_trade_no == out_trade_no,
            LedgerShare.kind == "unfreeze",
            LedgerShare.status.in_((S.PLANNED, S.PROCESSING)),
        )
        .values(next_try_at=now)
        .execution_options(synchronize_session=False)
    )


def _request(
    db: Session, kind: str, no: str, transaction_id: str, receivers: list[dict[str, Any]]
) -> SharingState:
    if kind == "unfreeze":
        return payments_sharing.unfreeze(db, out_order_no=no, transaction_id=transaction_id)
    conf = settings_module.current()
    for r in receivers:
        name = conf.profit_sharing_platform_name if r["party"] == "platform" else ""
        payments_sharing.add_receiver(db, type=r["type"], account=r["account"], name=name)
    return payments_sharing.share(
        db,
        out_order_no=no,
        transaction_id=transaction_id,
        receivers=[
            SharingReceiver(r["type"], r["account"], int(r["amount"]), r["description"])
            for r in receivers
        ],
    )


def _record(db: Session, share_id: int, state: SharingState, now: datetime) -> bool:
    """The provider's answer: every receiver's result posted once the request finished
    (what reached its receivers becomes the request's amount)."""
    row = _locked(db, share_id)
    if row.status not in (S.PLANNED, S.PROCESSING):
        db.commit()
        return False
    row.provider_order_id = state.order_id or row.provider_order_id
    row.last_error = None
    results = {(r.type, r.account): r for r in state.receivers}
    if row.kind == "unfreeze":
        if state.state == SHARING_FINISHED:
            row.amount_fen = sum(r.amount for r in state.receivers)
    elif state.state == SHARING_FINISHED:
        steps, reached = [], 0
        for r in row.receivers:
            found = results.get((r["type"], r["account"]))
            result = found.result if found is not None else "PENDING"
            if result == "SUCCESS":
                steps.append(_step(row.out_order_no, r, "paid", row.order_id, row.order_no))
                reached += int(r["amount"])
            elif result == "CLOSED":
                if r["party"] == "promoter":
                    steps.append(_step(row.out_order_no, r, "returned", row.order_id, row.order_no))
            else:
                state = SharingState(row.out_order_no, "PROCESSING", state.order_id)
                break
        else:
            service.post_transfers(db, steps, at=now)
            row.amount_fen = reached
    if state.state == SHARING_FINISHED:
        row.status, row.finished_at = S.FINISHED, now
        if row.kind == "split":
            _wake_unfreeze(db, row.out_trade_no, now)
    else:
        row.status = S.PROCESSING
    db.commit()
    return row.status == S.FINISHED


def _fail(db: Session, share_id: int, reason: str, now: datetime) -> None:
    db.rollback()
    row = _locked(db, share_id)
    if row.status in (S.PLANNED, S.PROCESSING):
        row.status, row.last_error, row.finished_at = S.FAILED, reason[:200], now
        _wake_unfreeze(db, row.out_trade_no, now)
        if row.kind == "split":
            service.post_transfers(
                db,
                [
                    _step(row.out_order_no, r, "returned", row.order_id, row.order_no)
                    for r in row.receivers
                    if r["party"] == "promoter"
                ],
                at=now,
            )
    db.commit()


def _step(
    no: str, receiver: dict[str, Any], step: str, order_id: int | None, order_no: str | None
) -> service.NewTransfer:
    """One receiver's step in the ledger (see the module's docstring)."""
    owner, amount = int(receiver["owner"]), int(receiver["amount"])
    if receiver["party"] == "platform":  # only ever paid: its part was never reserved
        assert step == "paid", step
        legs = (Leg(OPERATING, PLATFORM, amount), Leg(CLEARING, PLATFORM, -amount))
        who = "platform"
    elif step == "reserved":
        legs = (Leg(PROMOTER_AVAILABLE, owner, amount), Leg(PROMOTER_WITHDRAWING, owner, -amount))
        who = str(owner)
    elif step == "paid":
        legs = (Leg(PROMOTER_WITHDRAWING, owner, amount), Leg(CLEARING, PLATFORM, -amount))
        who = str(owner)
    else:  # returned
        legs = (Leg(PROMOTER_WITHDRAWING, owner, amount), Leg(PROMOTER_AVAILABLE, owner, -amount))
        who = str(owner)
    return service.NewTransfer(
        key=f"share:{no}:{who}:{step}",
        kind="share",
        legs=legs,
        order_id=order_id,
        order_no=order_no,
        ref=no,
        note=f"{receiver['type']} {receiver['account']}"[:200],
    )


def overview(db: Session, actor: Actor) -> dict[str, Any]:
    """For the operator's ledger page: requests by status and the latest refused ones."""
    actor.require_operator()
    counts = {STATUS_LABELS[status]: 0 for status in S}
    for status, count in db.execute(
        select(LedgerShare.status, func.count()).group_by(LedgerShare.status)
    ):
        counts[STATUS_LABELS[ShareStatus(status)]] = int(count)
    failed = list(
        db.scalars(
            select(LedgerShare)
            .where(LedgerShare.status == S.FAILED)
            .order_by(LedgerShare.id.desc())
            .limit(20)
        )
    )
    return {
        "on": settings_module.current().profit_sharing,
        "counts": counts,
        "failed": failed,
        "any": any(counts.values()),
    }

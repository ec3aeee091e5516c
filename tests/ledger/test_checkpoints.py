"""Balance checkpoints: a balance read through a checkpoint equals the plain sum of the
postings, before and after the checkpoint job and with postings after it; the checkpoint
never covers postings younger than its settle time; the drift check finds a checkpoint
that differs from the postings, records it, and puts the recomputation in its place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from tests.ledger.conftest import Trade
from xiaodian.ledger import checkpoints
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import LedgerAccount, LedgerCheckpoint, LedgerPosting


def _plain(db: Any) -> dict[tuple[str, int], int]:
    rows = db.execute(
        select(LedgerAccount.kind, LedgerAccount.owner_id, func.sum(LedgerPosting.amount_fen))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.kind, LedgerAccount.owner_id)
    ).all()
    return {(kind, owner): int(total) for kind, owner, total in rows}


def _through_checkpoints(db: Any, keys: Any) -> dict[tuple[str, int], int]:
    return ledger.raw_balances(db, keys)


def _assert_only_settled_postings_covered(db: Any, clock: Any) -> None:
    """Every checkpoint stops at a posting at least SETTLE_SECONDS old."""
    upto = db.scalar(select(func.max(LedgerCheckpoint.posting_id))) or 0
    younger = db.scalar(
        select(func.count())
        .select_from(LedgerPosting)
        .where(
            LedgerPosting.id <= upto,
            LedgerPosting.at > clock.now() - timedelta(seconds=checkpoints.SETTLE_SECONDS),
        )
    )
    assert younger == 0
    db.rollback()


def _trade_some(trade: Trade) -> tuple[Any, Any, int]:
    shop, _owner, sku = trade.shop(price=5_000)
    buyer = trade.buyer()
    for quantity in (1, 2):
        trade.pay(buyer, trade.buy(buyer, [(sku, quantity)]))
    return shop, buyer, sku


def test_balances_through_checkpoints_equal_the_postings(
    trade: Trade, clock: Any, database: Any
) -> None:
    _shop, buyer, sku = _trade_some(trade)
    with database.session() as db:
        plain = _plain(db)
        assert _through_checkpoints(db, plain) == plain
        checkpoints.checkpoint(db)
        _assert_only_settled_postings_covered(db, clock)
    clock.advance(minutes=11)
    with database.session() as db:
        checkpoints.checkpoint(db)
        newest = db.scalar(select(func.max(LedgerPosting.id)))
        assert db.scalar(select(func.min(LedgerCheckpoint.posting_id))) == newest
        assert _through_checkpoints(db, plain) == plain
        db.rollback()
    # more postings after the checkpoint: still the same as the plain sum
    second = trade.buy(buyer, [(sku, 3)])
    trade.pay(buyer, second)
    trade.refund(second[0], 700)
    with database.session() as db:
        plain = _plain(db)
        assert _through_checkpoints(db, plain) == plain
        checkpoints.checkpoint(db)
        _assert_only_settled_postings_covered(db, clock)
        assert _through_checkpoints(db, plain) == plain
    clock.advance(minutes=11)
    with database.session() as db:
        assert checkpoints.checkpoint(db) > 0
        assert db.scalar(select(func.min(LedgerCheckpoint.posting_id))) == db.scalar(
            select(func.max(LedgerPosting.id))
        )
        assert _through_checkpoints(db, plain) == plain
        report = checkpoints.drift_check(db)
        assert report.drifted == [] and report.accounts == db.scalar(
            select(func.count()).select_from(LedgerAccount)
        )


def test_the_drift_check_finds_and_repairs_a_checkpoint_that_differs(
    trade: Trade, clock: Any, database: Any, login_client: Any
) -> None:
    _trade_some(trade)
    clock.advance(timedelta(minutes=11))
    with database.session() as db:
        checkpoints.checkpoint(db)
        plain = _plain(db)
        target = db.scalars(select(LedgerCheckpoint.account_id)).first()
        db.execute(
            update(LedgerCheckpoint)
            .where(LedgerCheckpoint.account_id == target)
            .values(balance_fen=LedgerCheckpoint.balance_fen + 1)
        )
        db.commit()
        assert _through_checkpoints(db, plain) != plain
        db.rollback()
        report = checkpoints.drift_check(db)
        assert [a for a, _kept, _real in report.drifted] == [target]
        assert _through_checkpoints(db, plain) == plain
        db.rollback()
    page = login_client(_operator_user(database, trade)).get("/ops/ledger")
    assert page.status_code == 200 and "不符" in page.text


def test_the_drift_check_counts_postings_that_name_no_account(
    trade: Trade, clock: Any, database: Any, login_client: Any
) -> None:
    """Postings have no foreign key on their account (settlement's speed): the nightly check
    is what finds one naming an account that does not exist."""
    _trade_some(trade)
    with database.session() as db:
        assert checkpoints.drift_check(db).orphan_postings == 0
        top = db.scalar(select(func.max(LedgerAccount.id)))
        posted = ledger.post_transfers(
            db,
            [
                ledger.NewTransfer(
                    key="test:orphan",
                    kind="paid",
                    legs=(
                        ledger.Leg(ledger.CLEARING, 0, 5),
                        ledger.Leg(ledger.PENDING, 1, -5),
                    ),
                )
            ],
        )
        transfer_id = posted.new["test:orphan"]
        db.execute(
            insert(LedgerPosting).values(
                transfer_id=transfer_id, account_id=int(top or 0) + 1000, amount_fen=7
            )
        )
        db.commit()
        assert checkpoints.drift_check(db).orphan_postings == 1
    page = login_client(_operator_user(database, trade)).get("/ops/ledger")
    assert page.status_code == 200 and "1 条分录指向不存在的账本账户" in page.text


def _operator_user(database: Any, trade: Trade) -> Any:
    from xiaodian.accounts.models import User

    with database.session() as db:
        user = db.get(User, trade.operator.user_id)
        db.expunge(user)
        return user

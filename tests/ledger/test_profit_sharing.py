"""Profit sharing (分账) through the sandbox: payments made while it is on are frozen to be
split; when an order settles its platform fee goes to the platform's merchant number and
the promoter's commission to the promoter's WeChat (PROCESSING until WeChat Pay has
settled, asked again after a pause), within the maximum ratio; once every order of the
payment resolved the rest is unfrozen. Each step is posted once; the books balance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.affiliates.test_commission import _promoted
from tests.ledger.conftest import Trade, assert_books_balance, balance
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.affiliates import commissions
from xiaodian.ledger import service as ledger
from xiaodian.ledger import settlement, sharing
from xiaodian.ledger.models import LedgerHold, LedgerPosting, LedgerShare
from xiaodian.payments import reconcile as payments_reconcile
from xiaodian.payments.models import Payment, SandboxSharingOrder, SandboxTrade
from xiaodian.payments.providers import sandbox_sharing
from xiaodian.payments.providers.base import ProviderRejected, SharingReceiver

PLATFORM_MCHID = "1900000200"
S = sharing.ShareStatus


@pytest.fixture
def sharing_on(settings: Any) -> Any:
    conf = settings.model_copy(
        update={
            "profit_sharing": True,
            "profit_sharing_platform_mchid": PLATFORM_MCHID,
            "profit_sharing_platform_name": "小店平台科技有限公司",
        }
    )
    settings_module.install(conf)
    return conf


def _settle(trade: Trade, s: dict[str, Any]) -> None:
    trade.ship(s["owner"], s["shop"].id, s["no"])
    trade.confirm(s["buyer"], s["no"])
    trade.clock.advance(timedelta(days=8))
    with trade.session() as db:
        settlement.settle_due(db)


def _run(trade: Trade) -> int:
    with trade.session() as db:
        return sharing.run(db)


def _shares(db: Any) -> list[LedgerShare]:
    rows = list(db.scalars(select(LedgerShare).order_by(LedgerShare.id)))
    for row in rows:
        db.expunge(row)
    db.rollback()
    return rows


def _postings(db: Any) -> int:
    count = db.scalar(select(func.count()).select_from(LedgerPosting))
    db.rollback()
    return int(count)


def test_settled_order_splits_fee_and_commission_then_unfreezes(
    trade: Trade, db: Any, sharing_on: Any
) -> None:
    s = _promoted(trade)  # ¥100.00, 10 % commission, the default 1 % platform fee
    payment = db.scalar(select(Payment).where(Payment.status == "paid"))
    assert payment.profit_sharing
    sandbox_trade = db.scalar(
        select(SandboxTrade).where(SandboxTrade.out_trade_no == payment.out_trade_no)
    )
    assert sandbox_trade.profit_sharing
    db.rollback()
    promoter = s["promoter"].id
    assert _run(trade) == 0  # nothing has settled: nothing to split
    assert _shares(db) == []

    _settle(trade, s)
    clearing = balance(db, ledger.CLEARING)
    assert _run(trade) == 0  # sent: WeChat Pay answers PROCESSING at first
    split, unfreeze = _shares(db)
    assert (split.kind, split.status, split.amount_fen) == ("split", S.PROCESSING, 1100)
    assert [(r["type"], r["account"], r["amount"]) for r in split.receivers] == [
        ("MERCHANT_ID", PLATFORM_MCHID, 100),
        ("PERSONAL_OPENID", f"o_sandbox_{promoter}", 1000),
    ]
    assert (unfreeze.kind, unfreeze.status) == ("unfreeze", S.PLANNED)  # waits for the split
    # the promoter's part is reserved: it cannot be paid twice
    assert balance(db, ledger.PROMOTER_AVAILABLE, promoter) == 0
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 1000

    trade.clock.advance(timedelta(seconds=30))
    assert _run(trade) == 0  # the pause before asking again has not passed
    trade.clock.advance(timedelta(minutes=1))
    assert _run(trade) == 1  # the split finished; the unfreeze sent, PROCESSING
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 0
    assert balance(db, ledger.OPERATING) == 100
    assert balance(db, ledger.CLEARING) == clearing - 1100
    trade.clock.advance(timedelta(minutes=5))
    assert _run(trade) == 1
    split, unfreeze = _shares(db)
    assert (split.status, unfreeze.status, unfreeze.amount_fen) == (S.FINISHED, S.FINISHED, 8900)
    assert db.scalar(select(SandboxTrade.unfrozen_at)) is not None
    db.rollback()
    earned = commissions.my_earnings(db, Actor(user_id=promoter))
    assert (earned.available_fen, earned.withdrawing_fen, earned.withdrawn_fen) == (0, 0, 1000)
    assert_books_balance(db)

    # run again, later: nothing is sent or posted twice
    seen = _postings(db)
    trade.clock.advance(timedelta(hours=7))
    assert _run(trade) == 0
    assert _postings(db) == seen
    assert len(db.scalars(select(SandboxSharingOrder)).all()) == 2


def test_splits_stay_within_the_maximum_ratio(trade: Trade, db: Any, sharing_on: Any) -> None:
    s = _promoted(trade, rate=50)  # ¥50.00 commission; the ratio allows ¥30.00 in all
    _settle(trade, s)
    _run(trade)
    split = _shares(db)[0]
    assert [r["amount"] for r in split.receivers] == [100, 2900]
    promoter = s["promoter"].id
    assert balance(db, ledger.PROMOTER_AVAILABLE, promoter) == 2100  # stays on the ledger
    trade.clock.advance(timedelta(minutes=3))
    _run(trade)
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 0
    assert_books_balance(db)


def test_a_receiver_that_cannot_take_it_gets_its_part_back(
    trade: Trade, db: Any, sharing_on: Any
) -> None:
    s = _promoted(trade)
    _settle(trade, s)
    settings_module.install(sharing_on.model_copy(update={"ledger_payout_mode": "fail"}))
    _run(trade)
    trade.clock.advance(timedelta(minutes=3))
    _run(trade)
    split = _shares(db)[0]
    assert split.status == S.FINISHED
    promoter = s["promoter"].id
    assert balance(db, ledger.PROMOTER_AVAILABLE, promoter) == 1000
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 0
    assert balance(db, ledger.OPERATING) == 0
    assert_books_balance(db)


def test_a_refused_split_returns_the_reservation(
    trade: Trade, db: Any, sharing_on: Any, make_user: Any, login_client: Any
) -> None:
    # the collecting merchant itself as the fee's receiver: WeChat Pay refuses it for good
    settings_module.install(
        sharing_on.model_copy(update={"profit_sharing_platform_mchid": sandbox_sharing_mchid()})
    )
    s = _promoted(trade)
    _settle(trade, s)
    _run(trade)
    split = _shares(db)[0]
    assert split.status == S.FAILED
    assert "INVALID_REQUEST" in (split.last_error or "")
    assert balance(db, ledger.PROMOTER_AVAILABLE, s["promoter"].id) == 1000
    assert_books_balance(db)
    page = login_client(make_user(operator=True)).get("/ops/ledger")
    assert page.status_code == 200
    assert split.out_order_no in page.text and "INVALID_REQUEST" in page.text


def sandbox_sharing_mchid() -> str:
    from xiaodian.payments.providers.sandbox import MCHID

    return MCHID


def test_an_order_refunded_in_full_only_unfreezes(trade: Trade, db: Any, sharing_on: Any) -> None:
    _shop, _owner, sku = trade.shop(price=5000)
    buyer = trade.buyer()
    no = trade.buy(buyer, [(sku, 1)])[0]
    trade.pay(buyer, [no])
    trade.refund(no, 5000)
    _run(trade)
    (unfreeze,) = _shares(db)
    trade.clock.advance(timedelta(days=1, minutes=1))
    _run(trade)
    (unfreeze,) = _shares(db)
    assert (unfreeze.kind, unfreeze.status, unfreeze.amount_fen) == ("unfreeze", S.FINISHED, 0)
    assert db.scalar(select(LedgerHold.share_state)) == "planned"
    db.rollback()


def test_off_by_default_nothing_is_frozen_or_split(trade: Trade, db: Any) -> None:
    s = _promoted(trade)
    _settle(trade, s)
    assert _run(trade) == 0
    assert _shares(db) == []
    assert db.scalar(select(Payment.profit_sharing)) is False
    assert db.scalar(select(LedgerHold.share_state)) is None
    db.rollback()


def test_the_sandbox_keeps_wechat_pays_rules(trade: Trade, db: Any, sharing_on: Any) -> None:
    _shop, _owner, sku = trade.shop(price=10000)
    buyer = trade.buyer()
    no = trade.buy(buyer, [(sku, 1)])[0]
    out_trade_no = trade.pay(buyer, [no])
    with trade.session() as s:
        tid = s.scalar(
            select(SandboxTrade.transaction_id).where(SandboxTrade.out_trade_no == out_trade_no)
        )
        sandbox_sharing.add_receiver(s, "1900000109", "PERSONAL_OPENID", "o_a", "")
        s.commit()

    def refused(receivers: list[SharingReceiver], code: str, no: str = "XDT1") -> None:
        with trade.session() as s:
            with pytest.raises(ProviderRejected) as caught:
                sandbox_sharing.share(s, no, tid, receivers, False)
            assert caught.value.code == code

    one = SharingReceiver("PERSONAL_OPENID", "o_a", 100, "佣金")
    refused([], "PARAM_ERROR")
    refused([one] * 51, "PARAM_ERROR")
    refused([SharingReceiver("PERSONAL_OPENID", "o_a", 0, "佣金")], "PARAM_ERROR")
    refused([SharingReceiver("PERSONAL_OPENID", "o_never_added", 100, "佣金")], "INVALID_REQUEST")
    refused([SharingReceiver("PERSONAL_OPENID", "o_a", 3001, "佣金")], "INVALID_REQUEST")  # ratio
    refused([one], "PARAM_ERROR", no="bad no!")
    with trade.session() as s:
        first = sandbox_sharing.share(s, "XDT2", tid, [one], False)
        again = sandbox_sharing.share(s, "XDT2", tid, [one], False)  # the same order
        s.commit()
    assert first.order_id == again.order_id and first.state == "PROCESSING"
    with trade.session() as s:
        for k in range(49):
            sandbox_sharing.share(
                s, f"XDT3N{k}", tid, [SharingReceiver("PERSONAL_OPENID", "o_a", 1, "佣金")], False
            )
        s.commit()
    refused([SharingReceiver("PERSONAL_OPENID", "o_a", 1, "佣金")], "INVALID_REQUEST", no="XDT4")
    # a split under way: the rest cannot be unfrozen yet
    with trade.session() as s, pytest.raises(ProviderRejected):
        sandbox_sharing.unfreeze(s, "XDU1", tid)


def test_a_payment_of_two_orders_unfreezes_when_both_resolved(
    trade: Trade, db: Any, sharing_on: Any
) -> None:
    shop_a, owner_a, sku_a = trade.shop(price=10000)
    shop_b, owner_b, sku_b = trade.shop(price=20000)
    buyer = trade.buyer()
    first, second = trade.buy(buyer, [(sku_a, 1), (sku_b, 1)])
    trade.pay(buyer, [first, second])
    trade.ship(owner_a, shop_a.id, first)
    trade.confirm(buyer, first)
    trade.clock.advance(timedelta(days=8))
    with trade.session() as s:
        assert settlement.settle_due(s) == 1
    _run(trade)
    assert [(r.kind, r.order_no) for r in _shares(db)] == [("split", first)]  # b is pending
    trade.ship(owner_b, shop_b.id, second)
    trade.confirm(buyer, second)
    trade.clock.advance(timedelta(days=8))
    with trade.session() as s:
        assert settlement.settle_due(s) == 1
    for _ in range(4):
        _run(trade)
        trade.clock.advance(timedelta(minutes=3))
    rows = _shares(db)
    assert [(r.kind, r.status) for r in rows] == [
        ("split", S.FINISHED),
        ("split", S.FINISHED),
        ("unfreeze", S.FINISHED),
    ]
    # the fees (1 %: ¥1.00 and ¥2.00) went to the platform, the rest came back unfrozen
    assert [r.amount_fen for r in rows] == [100, 200, 30000 - 300]
    assert balance(db, ledger.OPERATING) == 300
    assert_books_balance(db)


def test_an_answer_lost_on_the_way_is_asked_for_under_the_same_number(
    trade: Trade, db: Any, sharing_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xiaodian.payments import sharing as payments_sharing
    from xiaodian.payments.providers.base import ProviderError

    s = _promoted(trade)
    _settle(trade, s)
    real = payments_sharing.share

    def received_then_lost(db: Any, **kwargs: Any) -> Any:
        real(db, **kwargs)
        db.commit()  # WeChat Pay has the request ...
        raise ProviderError("timed out")  # ... its answer never came back

    monkeypatch.setattr(payments_sharing, "share", received_then_lost)
    _run(trade)
    split = _shares(db)[0]
    # sent once: from now on it is asked about by its number before anything is sent again
    assert (split.status, split.attempts, split.last_error) == (S.PROCESSING, 1, "timed out")
    monkeypatch.setattr(payments_sharing, "share", real)
    for _ in range(3):
        trade.clock.advance(timedelta(minutes=5))
        _run(trade)
    assert [r.status for r in _shares(db)] == [S.FINISHED, S.FINISHED]
    assert len(db.scalars(select(SandboxSharingOrder)).all()) == 2  # one split, one unfreeze
    db.rollback()
    assert balance(db, ledger.PROMOTER_WITHDRAWING, s["promoter"].id) == 0
    assert balance(db, ledger.OPERATING) == 100
    assert_books_balance(db)


def test_a_refused_query_is_not_taken_for_a_refused_split(
    trade: Trade, db: Any, sharing_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xiaodian.payments import sharing as payments_sharing

    s = _promoted(trade)
    _settle(trade, s)
    _run(trade)  # sent, PROCESSING at the sandbox
    real = payments_sharing.query

    def refused(db: Any, **kwargs: Any) -> Any:
        raise ProviderRejected("FREQUENCY_LIMITED", "too many queries")

    monkeypatch.setattr(payments_sharing, "query", refused)
    trade.clock.advance(timedelta(minutes=2))
    _run(trade)
    split = _shares(db)[0]
    assert split.status == S.PROCESSING and "FREQUENCY_LIMITED" in (split.last_error or "")
    promoter = s["promoter"].id
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 1000  # still reserved
    monkeypatch.setattr(payments_sharing, "query", real)
    for _ in range(3):
        trade.clock.advance(timedelta(minutes=5))
        _run(trade)
    assert [r.status for r in _shares(db)] == [S.FINISHED, S.FINISHED]
    assert balance(db, ledger.PROMOTER_WITHDRAWING, promoter) == 0
    assert balance(db, ledger.PROMOTER_AVAILABLE, promoter) == 0  # paid once, not returned
    assert balance(db, ledger.OPERATING) == 100
    assert_books_balance(db)


def test_a_payment_made_to_be_split_is_split_after_sharing_is_turned_off(
    trade: Trade, db: Any, sharing_on: Any, settings: Any
) -> None:
    from xiaodian.payments import service as payments_service

    shop, owner, sku = trade.shop(price=10000)
    buyer = trade.buyer()
    no = trade.buy(buyer, [(sku, 1)])[0]
    with trade.session() as s:
        start = payments_service.start_payment(s, buyer[0], order_nos=[no], method="sandbox")
    settings_module.install(sharing_on.model_copy(update={"profit_sharing": False}))
    with trade.session() as s:
        payments_service.sandbox_pay(s, buyer[0], start.out_trade_no)
    trade.clock.advance(minutes=6)
    with trade.session() as s:
        payments_reconcile.reconcile(s)
    _run(trade)  # the job, every 5 minutes: the hold is adopted
    assert db.scalar(select(LedgerHold.share_state)) == "due"
    db.rollback()
    trade.ship(owner, shop.id, no)
    trade.confirm(buyer, no)
    trade.clock.advance(timedelta(days=8))
    with trade.session() as s:
        settlement.settle_due(s)
    for _ in range(4):
        _run(trade)
        trade.clock.advance(timedelta(minutes=3))
    assert [(r.kind, r.status) for r in _shares(db)] == [
        ("split", S.FINISHED),
        ("unfreeze", S.FINISHED),
    ]
    assert db.scalar(select(SandboxTrade.unfrozen_at)) is not None
    db.rollback()


def test_two_planners_of_one_payment_plan_its_unfreeze_once(
    trade: Trade, db: Any, sharing_on: Any, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race is PostgreSQL's")
    import threading

    shop_a, owner_a, sku_a = trade.shop(price=10000)
    shop_b, owner_b, sku_b = trade.shop(price=20000)
    buyer = trade.buyer()
    first, second = trade.buy(buyer, [(sku_a, 1), (sku_b, 1)])
    trade.pay(buyer, [first, second])
    for owner, shop, no in ((owner_a, shop_a, first), (owner_b, shop_b, second)):
        trade.ship(owner, shop.id, no)
        trade.confirm(buyer, no)
    trade.clock.advance(timedelta(days=8))
    with trade.session() as s:
        assert settlement.settle_due(s) == 2
    barrier = threading.Barrier(2)

    def planner() -> None:
        barrier.wait()
        with trade.session() as s:
            sharing.plan(s, limit=1)

    threads = [threading.Thread(target=planner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(r.kind for r in _shares(db))
    assert kinds == ["split", "split", "unfreeze"]

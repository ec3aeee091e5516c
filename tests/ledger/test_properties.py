"""The ledger under random sequences (hypothesis, stateful): checkout and payment of one or
two orders at once, shipping, confirmation, partial and full refunds before and after
settlement, settlement runs (some killed before their commit), withdrawals (requested,
left waiting, approved and paid, rejected, or failed at the payout), clock moves; and the
faults a real provider brings: its notifications arriving late, out of order, twice, or
again under a new id (after reconciliation already applied them); refunds it closes (they
fail, the operator retries, the retry succeeds); the daily bills fetched days late and
matched against the books.

The same machine runs as a seeded simulator (``test_simulator.py``): thousands of steps
chosen by ``random.Random(seed)``, the invariants checked after every one, a failing seed
replayed exactly.

A model kept by the test (each order's paid amount, what was refunded while its income was
pending and after it settled, its fees computed here with exact fractions) is compared
with the ledger after every step:

- every transfer sums to zero, and so does the whole ledger;
- each shop's pending, available, withdrawing and owed balances, derived from the
  postings, equal the model's recomputation (less what was withdrawn); none is below zero;
- for every order, merchant + platform + refunded = paid, and what is left at the
  provider for it is paid - refunded;
- no posting is ever updated or deleted.

Here every invariant reads everything after every step (the runs are short). The simulator
checks each step incrementally (``check_step``: the postings since the last check, the
transfers, accounts and orders they touched, the orders whose model changed, every shop's
balances from running sums) and everything (``check_all``) every few hundred steps and at
the end; the incremental view is also checked here after every step, beside the full one.

Runs on SQLite and, with XIAODIAN_TEST_POSTGRES_URL, on PostgreSQL.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.ledger.conftest import Trade, assert_books_balance, balance, orders_totals
from tests.trading.test_invariants import as_new_notification, set_sandbox_refund_mode
from xiaodian import clock as clock_module
from xiaodian import settings as settings_module
from xiaodian.errors import DomainError
from xiaodian.ledger import reconciliation, settlement, withdrawals
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import (
    HoldStatus,
    LedgerAccount,
    LedgerHold,
    LedgerPosting,
    LedgerTransfer,
)
from xiaodian.ledger.service import (
    AVAILABLE,
    CLEARING,
    OWES,
    PENDING,
    WITHDRAWING,
    AccountKey,
    Leg,
    NewTransfer,
)
from xiaodian.orders.models import Order
from xiaodian.payments import notify
from xiaodian.payments import reconcile as payments_reconcile
from xiaodian.payments import service as payments_service
from xiaodian.payments.models import SandboxDelivery
from xiaodian.payments.providers import get_sandbox

EXAMPLES = int(os.environ.get("XIAODIAN_LEDGER_EXAMPLES", "10"))
STEPS = 20
REDELIVERED = 12  # at most this many payments' notifications arrive again per step
WINDOW = timedelta(days=7)
PLATFORM_BP = 100  # the default rate of a category without one
PAYMENT_BP = 60


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


@dataclass
class Model:
    no: str
    shop: int
    paid: int = 0
    items: int = 0
    order_id: int = 0
    shipped: bool = False
    closed: bool = False
    completed_at: datetime | None = None
    voided: int = 0  # refunded while pending
    after: int = 0  # refunded after settlement
    settled: bool = False
    fees: int = 0
    # the numbers of the models changed since the last check (set last: every change after
    # construction, the construction itself included, lands there)
    changed: set[str] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        changed = self.__dict__.get("changed")
        if changed is not None:
            changed.add(self.no)

    @property
    def refunded(self) -> int:
        return self.voided + self.after


@dataclass
class ShopModel:
    id: int
    owner: Any
    sku: int
    orders: list[Model] = field(default_factory=list, repr=False)
    funded: int = 0  # an opening available balance (so withdrawals happen early)
    withdrawing: int = 0  # requested or approved, not paid out yet
    withdrawn: int = 0  # paid out
    days: list[Any] = field(default_factory=list)  # business days of counted requests


@dataclass
class Fresh:
    """What the postings read by one ``Books.read`` touched."""

    transfers: set[int] = field(default_factory=set)
    accounts: set[int] = field(default_factory=set)
    orders: set[int] = field(default_factory=set)  # order ids named by their transfers


class Books:
    """The ledger as the checks have read it: every posting up to id ``seen``, their sum
    and each account's. Postings only get higher ids and are never updated or deleted
    (``no_posting_changes``), so reading those above ``seen`` keeps the sums exact;
    ``check_all`` compares them with sums read afresh."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.seen = 0
        self.total = 0
        self.raw: dict[int, int] = {}  # account id -> the sum of its postings (debit > 0)
        self.ids: dict[AccountKey, int] = {}  # (kind, owner) -> account id
        self.keys: dict[int, AccountKey] = {}
        self.read()

    def read(self) -> Fresh:
        rows = self.db.execute(
            select(
                LedgerPosting.id,
                LedgerPosting.transfer_id,
                LedgerPosting.account_id,
                LedgerPosting.amount_fen,
                LedgerTransfer.order_id,
            )
            .outerjoin(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .where(LedgerPosting.id > self.seen)
            .order_by(LedgerPosting.id)
        ).all()
        fresh = Fresh()
        for posting_id, transfer_id, account_id, amount, order_id in rows:
            self.seen = posting_id
            self.total += amount
            self.raw[account_id] = self.raw.get(account_id, 0) + amount
            fresh.transfers.add(transfer_id)
            fresh.accounts.add(account_id)
            if order_id is not None:
                fresh.orders.add(order_id)
        unknown = fresh.accounts - self.keys.keys()
        if unknown:
            for account_id, kind, owner in self.db.execute(
                select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_id).where(
                    LedgerAccount.id.in_(unknown)
                )
            ):
                self.keys[account_id] = (kind, owner)
                self.ids[(kind, owner)] = account_id
        self.db.rollback()
        return fresh

    def shown(self, kind: str, owner: int) -> int:
        """An account's balance on its normal side, from the sums."""
        account_id = self.ids.get((kind, owner))
        return ledger.shown(kind, 0 if account_id is None else self.raw.get(account_id, 0))


def make_machine(trade: Trade, db: Any, clock: Any) -> type[RuleBasedStateMachine]:
    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.shops: list[ShopModel] = []
            for price in (1999, 3333):
                shop, owner, sku = trade.shop(price=price)
                self.shops.append(ShopModel(shop.id, owner, sku, funded=price))
                legs = (Leg(CLEARING, 0, price), Leg(AVAILABLE, shop.id, -price))
                with trade.session() as session:
                    opening = NewTransfer(f"opening:{shop.id}", "adjust", legs)
                    ledger.post_transfers(session, [opening])
                    session.commit()
            self.buyer = trade.buyer()
            self.orders: list[Model] = []
            self.by_id: dict[int, Model] = {}
            self.by_no: dict[str, Model] = {}
            self.changed: set[str] = set()  # models changed since the last ``check_step``
            self.trades: list[str] = []  # this example's payments (out_trade_no)
            self.books = Books(db)

        def pick(self, i: int, ok: Any) -> Model | None:
            found = [o for o in self.orders if ok(o)]
            return found[i % len(found)] if found else None

        def posted(self) -> set[str]:
            """This example's orders whose income has settled (read from the holds: the
            shops are this example's, so are all their orders)."""
            found = set(
                db.scalars(
                    select(LedgerHold.order_no).where(
                        LedgerHold.shop_id.in_([s.id for s in self.shops]),
                        LedgerHold.status == HoldStatus.POSTED,
                    )
                )
            )
            db.rollback()
            return found

        @rule(both=st.booleans(), qty=st.integers(1, 3))
        def buy_and_pay(self, both: bool, qty: int) -> None:
            shops = self.shops if both else self.shops[:1]
            nos = trade.buy(self.buyer, [(s.sku, qty) for s in shops])
            self.trades.append(trade.pay(self.buyer, nos))
            for no in nos:
                order = trade.order(no)
                model = Model(no, order.shop_id, order.paid_fen, order.items_fen, order_id=order.id)
                model.changed = self.changed
                assert model.paid == order.total_fen > 0
                self.orders.append(model)
                self.by_id[model.order_id] = model
                self.by_no[no] = model
                next(s for s in self.shops if s.id == model.shop).orders.append(model)

        @rule(i=st.integers(0, 50))
        def ship(self, i: int) -> None:
            model = self.pick(i, lambda o: not o.shipped and not o.closed)
            if model is None:
                return
            shop = next(s for s in self.shops if s.id == model.shop)
            trade.ship(shop.owner, shop.id, model.no)
            model.shipped = True

        @rule(i=st.integers(0, 50))
        def confirm(self, i: int) -> None:
            model = self.pick(i, lambda o: o.shipped and o.completed_at is None)
            if model is None:
                return
            trade.confirm(self.buyer, model.no)
            model.completed_at = clock.now()

        @rule(i=st.integers(0, 50), how=st.sampled_from(["1", "half", "rest", "rest+1"]))
        def refund(self, i: int, how: str) -> None:
            model = self.pick(i, lambda o: o.refunded < o.paid)
            if model is None:
                return
            rest = model.paid - model.refunded
            amount = {"1": 1, "half": max(1, rest // 2), "rest": rest, "rest+1": rest + 1}[how]
            try:
                trade.refund(model.no, amount)
            except DomainError:
                assert amount > rest
                return
            assert amount <= rest
            self.refunded(model, amount)

        def refunded(self, model: Model, amount: int) -> None:
            if model.settled:
                model.after += amount
            else:
                model.voided += amount
            if model.refunded == model.paid and not model.shipped:
                model.closed = True  # fully refunded before shipping: nothing more happens

        @rule(i=st.integers(0, 50), half=st.booleans())
        def refund_fails_then_is_retried(self, i: int, half: bool) -> None:
            """The provider closes a refund (its money never left): nothing changes in the
            books; the operator sends it again, and the retry succeeds."""
            model = self.pick(i, lambda o: o.refunded < o.paid)
            if model is None:
                return
            rest = model.paid - model.refunded
            amount = max(1, rest // 2) if half else rest
            set_sandbox_refund_mode("processing")
            try:
                with trade.session() as session:
                    sent = payments_service.operator_refund(
                        session, trade.operator, order_no=model.no, amount_fen=amount, reason="测试"
                    ).out_refund_no
                with trade.session() as session:
                    payments_service.submit_refunds(session)
                with trade.session() as session:
                    payments_service.sandbox_refund_outcome(
                        session, trade.operator, out_refund_no=sent, outcome="closed"
                    )
                clock.advance(timedelta(minutes=6))
                with trade.session() as session:
                    payments_reconcile.reconcile(session)
                assert trade.order(model.no).refunded_fen == model.refunded  # nothing counted
                self.check_step()  # nothing posted: a posting for it would not add up
            finally:
                set_sandbox_refund_mode("success")
            with trade.session() as session:
                payments_service.retry_refund(session, trade.operator, out_refund_no=sent)
            with trade.session() as session:
                payments_service.submit_refunds(session)
            self.refunded(model, amount)

        @rule(seed=st.integers(0, 2**32), twice=st.booleans(), fresh=st.booleans())
        def notifications_arrive(self, seed: int, twice: bool, fresh: bool) -> None:
            """The provider's notifications of this example's payments and refunds arrive
            late (reconciliation applied them already), in any order, some twice, some
            again under a new id: each is answered 204 and nothing changes. Those of up to
            ``REDELIVERED`` payments: the latest few and others drawn from the seed (a long
            run's every step does not replay all its history)."""
            rng = random.Random(seed)
            trades = self.trades
            if len(trades) > REDELIVERED:
                latest = REDELIVERED // 3
                trades = trades[-latest:] + rng.sample(trades[:-latest], REDELIVERED - latest)
            with trade.session() as session:
                bodies = list(
                    session.scalars(
                        select(SandboxDelivery.body)
                        .where(SandboxDelivery.out_trade_no.in_(trades))
                        .order_by(SandboxDelivery.id)
                    )
                )
            rng.shuffle(bodies)
            for body in bodies:
                for _time in range(2 if twice else 1):
                    with trade.session() as session:
                        headers = get_sandbox(session).sign(body)
                        session.rollback()
                        answer = notify.handle_notification(
                            session, headers=headers, body=body.encode()
                        )
                    assert answer.status_code == 204, answer
                if fresh:
                    with trade.session() as session:
                        headers, again = as_new_notification(session, body)
                        session.rollback()
                        answer = notify.handle_notification(session, headers=headers, body=again)
                    assert answer.status_code == 204, answer

        @rule(days_back=st.integers(2, 6))
        def late_bills(self, days_back: int) -> None:
            """A past day's bills fetched late (or again) and matched against the books:
            every trade and refund of the day is found, nothing is a break."""
            day = clock_module.today() - timedelta(days=days_back)
            with trade.session() as session:
                runs = reconciliation.reconcile_day(session, day)
                session.commit()
                assert [(r.kind, r.breaks) for r in runs] == [(r.kind, 0) for r in runs], [
                    (b.kind, b.ref, b.issue) for b in reconciliation.breaks(session, trade.operator)
                ]

        @rule(days=st.sampled_from([0.5, 1, 3, 7, 8]))
        def time_passes(self, days: float) -> None:
            clock.advance(timedelta(days=days))

        @rule(killed=st.booleans())
        def settle(self, killed: bool) -> None:
            now = clock.now()
            due = [
                o
                for o in self.orders
                if not o.settled
                and o.completed_at is not None
                and o.completed_at + WINDOW <= now
                and o.voided < o.paid
            ]
            with trade.session() as session:
                if killed:  # a run that dies before its commit changes nothing
                    settlement.settle_batch(session, limit=1)
                    session.rollback()
                    return
                settlement.settle_due(
                    session, limit=2
                )  # every example's orders: the jobs are global
            posted = self.posted()
            assert posted == {o.no for o in self.orders if o.settled} | {o.no for o in due}
            for model in due:
                model.settled = True
                settled = model.paid - model.voided
                share = Fraction(settled, model.paid)
                platform = half_up(Fraction(model.items * PLATFORM_BP, 10_000) * share)
                payment = half_up(Fraction(settled * PAYMENT_BP, 10_000))
                model.fees = platform + payment

        @rule(
            i=st.integers(0, 1),
            how=st.sampled_from(["min-1", "half", "all", "all+1"]),
            decide=st.sampled_from(["leave", "approve", "reject", "fail"]),
        )
        def withdraw(self, i: int, how: str, decide: str) -> None:
            shop = self.shops[i]
            available = balance(db, AVAILABLE, shop.id)
            owes = balance(db, OWES, shop.id)
            amount = {"min-1": 99, "half": available // 2, "all": available}.get(how, available + 1)
            today = clock_module.today()
            try:
                with trade.session() as session:
                    w = withdrawals.request_withdrawal(
                        session, shop.owner, shop.id, amount_fen=amount
                    )
                    withdrawal_id = w.id
            except DomainError as exc:
                assert amount < 100 or amount > available or owes > 0 or today in shop.days, (
                    exc.code
                )
                return
            assert 100 <= amount <= available and owes == 0 and today not in shop.days
            shop.days.append(today)
            shop.withdrawing += amount
            if decide == "leave":
                return
            conf = settings_module.current()
            with trade.session() as session:
                if decide == "reject":
                    withdrawals.reject(session, trade.operator, withdrawal_id, reason="测试")
                    shop.days.remove(today)  # a rejected request does not count
                    shop.withdrawing -= amount
                    return
                mode = "fail" if decide == "fail" else "success"
                settings_module.install(conf.model_copy(update={"ledger_payout_mode": mode}))
                try:
                    withdrawals.approve(session, trade.operator, withdrawal_id)
                finally:
                    settings_module.install(conf)
            shop.withdrawing -= amount
            if decide == "approve":
                shop.withdrawn += amount

        # ------------------------------------------------------------------ checks

        def balances_agree(self, shown: Any) -> None:
            """Each shop's balances (``shown(kind, shop id)``) against the model."""
            for shop in self.shops:
                mine = shop.orders
                pending = sum(o.paid - o.voided for o in mine if not o.settled)
                net = sum(o.paid - o.voided - o.fees - o.after for o in mine if o.settled)
                available, owes = shown(AVAILABLE, shop.id), shown(OWES, shop.id)
                assert shown(PENDING, shop.id) == pending, f"shop {shop.id}: pending"
                assert available >= 0 and owes >= 0, f"shop {shop.id}: below zero"
                assert shown(WITHDRAWING, shop.id) == shop.withdrawing, f"shop {shop.id}: out"
                assert available - owes + shop.withdrawing + shop.withdrawn == net + shop.funded, (
                    f"shop {shop.id}: net"
                )

        def orders_add_up(self, models: list[Model]) -> None:
            """Each order's refunds and transfers against its model (a few queries for
            any number of orders)."""
            if not models:
                return
            ids = sorted({m.order_id for m in models})
            refunded: dict[int, int] = {}
            for start in range(0, len(ids), 500):
                rows = db.execute(
                    select(Order.id, Order.refunded_fen).where(
                        Order.id.in_(ids[start : start + 500])
                    )
                )
                refunded.update((order_id, fen) for order_id, fen in rows)
            db.rollback()
            totals = orders_totals(db, ids)
            for model in models:
                assert refunded[model.order_id] == model.refunded, f"order {model.no}: refunded"
                sides = totals[model.order_id]
                assert sides["merchant"] + sides["platform"] + model.refunded == model.paid, (
                    f"order {model.no}: sides"
                )
                assert sides["platform"] == model.fees, f"order {model.no}: fees"
                assert sides["clearing"] == model.paid - model.refunded, f"order {model.no}: left"

        def check_step(self) -> None:
            """The invariants, reading only what changed since the last check: the new
            postings (their sum kept running), the transfers and accounts they touched (the
            ledger's own balance read of each against the running sum), every shop's
            balances from the running sums, the orders the postings named or whose model
            changed, and every order's refunds in sum."""
            fresh = self.books.read()
            assert self.books.total == 0, f"the postings sum to {self.books.total}"
            if fresh.transfers:
                unbalanced = db.execute(
                    select(LedgerPosting.transfer_id, func.sum(LedgerPosting.amount_fen))
                    .where(LedgerPosting.transfer_id.in_(fresh.transfers))
                    .group_by(LedgerPosting.transfer_id)
                    .having(func.sum(LedgerPosting.amount_fen) != 0)
                ).all()
                db.rollback()
                assert unbalanced == [], f"unbalanced transfers: {unbalanced}"
            keys = [self.books.keys[a] for a in fresh.accounts if a in self.books.keys]
            if keys:
                read = ledger.raw_balances(db, keys)
                db.rollback()
                sums = {key: self.books.raw[self.books.ids[key]] for key in keys}
                assert read == sums, "balances read by the ledger differ from the postings"
            self.balances_agree(self.books.shown)
            touched = {i: self.by_id[i] for i in fresh.orders if i in self.by_id}
            touched.update((self.by_no[no].order_id, self.by_no[no]) for no in self.changed)
            self.changed.clear()
            self.orders_add_up([touched[i] for i in sorted(touched)])
            count, refunded = db.execute(
                select(func.count(), func.coalesce(func.sum(Order.refunded_fen), 0)).where(
                    Order.shop_id.in_([s.id for s in self.shops])
                )
            ).one()
            db.rollback()
            expected = (len(self.orders), sum(o.refunded for o in self.orders))
            assert (count, refunded) == expected, "orders and refunds in sum"

        def check_all(self) -> None:
            """Every invariant over everything, read afresh; and the running sums of
            ``check_step`` against the postings summed again."""
            self.check_step()
            self.books_balance()
            rows = db.execute(
                select(LedgerPosting.account_id, func.sum(LedgerPosting.amount_fen)).group_by(
                    LedgerPosting.account_id
                )
            )
            sums = {account_id: int(total) for account_id, total in rows}
            last = db.scalar(select(func.coalesce(func.max(LedgerPosting.id), 0)))
            db.rollback()
            assert sums == self.books.raw
            assert last == self.books.seen
            self.balances_match_the_model()
            self.every_order_adds_up()

        @invariant()
        def books_balance(self) -> None:
            assert_books_balance(db)

        @invariant()
        def balances_match_the_model(self) -> None:
            self.balances_agree(lambda kind, owner: balance(db, kind, owner))

        @invariant()
        def every_order_adds_up(self) -> None:
            self.orders_add_up(self.orders)

        @invariant()
        def the_incremental_checks_agree(self) -> None:
            self.check_step()

    return Ledger


def test_the_ledger_under_random_sequences(
    trade: Trade, db: Any, clock: Any, no_posting_changes: list[str]
) -> None:
    machine = make_machine(trade, db, clock)
    run_state_machine_as_test(
        machine,
        settings=hsettings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            print_blob=True,
        ),
    )

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
from sqlalchemy import select

from tests.ledger.conftest import Trade, assert_books_balance, balance, order_totals
from tests.trading.test_invariants import as_new_notification, set_sandbox_refund_mode
from xiaodian import clock as clock_module
from xiaodian import settings as settings_module
from xiaodian.errors import DomainError
from xiaodian.ledger import reconciliation, settlement, withdrawals
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import HoldStatus, LedgerHold
from xiaodian.ledger.service import (
    AVAILABLE,
    CLEARING,
    OWES,
    PENDING,
    WITHDRAWING,
    Leg,
    NewTransfer,
)
from xiaodian.payments import notify
from xiaodian.payments import service as payments_service
from xiaodian.payments.models import SandboxDelivery
from xiaodian.payments.providers import get_sandbox

EXAMPLES = int(os.environ.get("XIAODIAN_LEDGER_EXAMPLES", "10"))
STEPS = 20
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
    shipped: bool = False
    closed: bool = False
    completed_at: datetime | None = None
    voided: int = 0  # refunded while pending
    after: int = 0  # refunded after settlement
    settled: bool = False
    fees: int = 0

    @property
    def refunded(self) -> int:
        return self.voided + self.after


@dataclass
class ShopModel:
    id: int
    owner: Any
    sku: int
    orders: list[Model] = field(default_factory=list)
    funded: int = 0  # an opening available balance (so withdrawals happen early)
    withdrawing: int = 0  # requested or approved, not paid out yet
    withdrawn: int = 0  # paid out
    days: list[Any] = field(default_factory=list)  # business days of counted requests


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
            self.trades: list[str] = []  # this example's payments (out_trade_no)

        def pick(self, i: int, ok: Any) -> Model | None:
            found = [o for o in self.orders if ok(o)]
            return found[i % len(found)] if found else None

        def posted(self) -> set[str]:
            """This example's orders whose income has settled (read from the holds)."""
            nos = [o.no for o in self.orders]
            found = set(
                db.scalars(
                    select(LedgerHold.order_no).where(
                        LedgerHold.order_no.in_(nos), LedgerHold.status == HoldStatus.POSTED
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
                model = Model(no, order.shop_id, order.paid_fen, order.items_fen)
                assert model.paid == order.total_fen > 0
                self.orders.append(model)

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
                    payments_service.reconcile(session)
                assert trade.order(model.no).refunded_fen == model.refunded  # nothing counted
                self.balances_match_the_model()
                self.every_order_adds_up()
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
            again under a new id: each is answered 204 and nothing changes."""
            with trade.session() as session:
                bodies = list(
                    session.scalars(
                        select(SandboxDelivery.body)
                        .where(SandboxDelivery.out_trade_no.in_(self.trades))
                        .order_by(SandboxDelivery.id)
                    )
                )
            random.Random(seed).shuffle(bodies)
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

        @invariant()
        def books_balance(self) -> None:
            assert_books_balance(db)

        @invariant()
        def balances_match_the_model(self) -> None:
            for shop in self.shops:
                mine = [o for o in self.orders if o.shop == shop.id]
                pending = sum(o.paid - o.voided for o in mine if not o.settled)
                net = sum(o.paid - o.voided - o.fees - o.after for o in mine if o.settled)
                available, owes = balance(db, AVAILABLE, shop.id), balance(db, OWES, shop.id)
                assert balance(db, PENDING, shop.id) == pending
                assert available >= 0 and owes >= 0
                assert balance(db, WITHDRAWING, shop.id) == shop.withdrawing
                assert available - owes + shop.withdrawing + shop.withdrawn == net + shop.funded

        @invariant()
        def every_order_adds_up(self) -> None:
            for model in self.orders:
                order = trade.order(model.no)
                assert order.refunded_fen == model.refunded
                totals = order_totals(db, order.id)
                assert totals["merchant"] + totals["platform"] + model.refunded == model.paid
                assert totals["platform"] == model.fees
                assert totals["clearing"] == model.paid - model.refunded

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

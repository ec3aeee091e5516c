"""The trading loop under random sequences of events (hypothesis, stateful).

A state machine drives random buyers through checkout (random SKUs and quantities, more than
in stock too, repeated Idempotency-Keys), payment at the sandbox whose notifications reach
the real notify endpoint (``payments.delivery`` posting into a TestClient, failing on
purpose sometimes), duplicate and replayed notifications (the same id again, or WeChat
sending a new one), cancel, payment timeout (the frozen clock moves, the job runs),
shipping, confirming, refunds through after-sales and by an operator (random amounts,
too large ones too), the refund job, the sandbox settling refunds in any order, and
reconciliation. After every step the invariants of the data are checked:

- stock: on_hand + reserved + sold == received for every SKU, none negative, reserved is
  what pending orders hold and sold what paid orders hold (released / sold exactly once);
- an order is paid at most once (one "pay" event, ``paid_fen`` 0 or the total, by the one
  payment whose line says so); cancelled orders are unpaid;
- refunds never exceed payments: succeeded + in-flight refunds per order <= paid, counted
  refunds == ``refunded_fen``, everything refunded from a payment <= its amount, at the
  sandbox too;
- each payment agrees with its orders and with the sandbox's trade; an order paid after
  it was cancelled gets an automatic refund (never lost money).

At the end of every example everything due is delivered, submitted and reconciled, and
then nothing may be left in flight. ``pytest -s`` prints which paths the run took (how
often each use case succeeded or failed, and with which error code).

Each example builds its own shops, SKUs and buyers in the test's database and checks the
invariants over those (the jobs run over the whole database, so earlier examples' rows
keep moving too, harmlessly). Runs on SQLite and, with XIAODIAN_TEST_POSTGRES_URL, on
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from tests.orders.conftest import actor_for, add_address
from xiaodian import clock as clock_module
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.aftersales import cases as aftersales_cases
from xiaodian.catalog.models import Sku
from xiaodian.db import Database
from xiaodian.errors import Conflict, DomainError, IllegalTransition, InvalidInput
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import AppliedRefund, Order, OrderEvent, OrderLine, OrderStatus
from xiaodian.payments import core, delivery
from xiaodian.payments import reconcile as payments_reconcile
from xiaodian.payments import service as payments_service
from xiaodian.payments.models import (
    DeliveryStatus,
    NotificationLog,
    Payment,
    PaymentEvent,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxDelivery,
    SandboxRefund,
    SandboxRefundStatus,
    SandboxTrade,
    SandboxTradeState,
)
from xiaodian.payments.providers import get_sandbox

S = OrderStatus
P = PaymentStatus
R = RefundStatus
T = TypeVar("T")

PAID_STATES = (S.PAID, S.SHIPPED, S.COMPLETED)  # the units count as sold
TRADE_PAID = (SandboxTradeState.SUCCESS, SandboxTradeState.REFUND)
IN_FLIGHT = (R.PENDING, R.PROCESSING)
# About 15-25 s per backend; XIAODIAN_TRADING_EXAMPLES=500 for a long soak.
EXAMPLES = int(os.environ.get("XIAODIAN_TRADING_EXAMPLES", "30"))
STEPS = 40
# Mostly what buyers order (one_of picks a branch evenly: three of four are sensible),
# sometimes nonsense or more than any stock.
QUANTITY = st.one_of(
    st.integers(1, 2), st.integers(1, 3), st.just(1), st.sampled_from([-1, 0, 5, 20])
)
LINES = st.lists(st.tuples(st.integers(0, 2), QUANTITY), min_size=1, max_size=2)
# Refund amounts: relative to what the order has left to refund ("half", "rest", one fen
# more than the rest, the whole total, one fen more than the total), or any number of fen
# (small ones, nonsense, mostly more than was paid).
AMOUNT = st.one_of(
    st.sampled_from(["half", "rest", "rest+1", "total", "total+1"]),
    st.integers(1, 3000),
    st.integers(-5, 200_000),
)


def amount_fen(how: int | str, order: Order) -> int:
    rest = order.paid_fen - order.refunded_fen
    relative = {
        "half": max(1, rest // 2),
        "rest": rest,
        "rest+1": rest + 1,
        "total": order.total_fen,
        "total+1": order.total_fen + 1,
    }
    return how if isinstance(how, int) else relative[how]


JOBS = [
    "deliver",
    "deliver failing",
    "submit refunds",
    "submit refunds, the sandbox settles them later",
    "reconcile",
]


class IntoApp:
    """The sandbox's HTTP poster, delivering into the TestClient (or failing on purpose)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.fail = False
        self.answers: list[tuple[int, str]] = []

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        if self.fail:
            raise httpx.ConnectError("connection refused")
        response = self.client.post(urlsplit(url).path, content=body, headers=headers)
        self.answers.append((response.status_code, response.text))
        return response.status_code


@dataclass(frozen=True)
class Buyer:
    user_id: int
    actor: Actor
    address_id: int


def _line_rows(db: Session, order_ids: list[int]) -> list[Any]:
    if not order_ids:
        return []
    return list(
        db.execute(
            select(OrderLine.order_id, OrderLine.sku_id, OrderLine.quantity).where(
                OrderLine.order_id.in_(order_ids)
            )
        )
    )


def make_machine(
    database: Database,
    client: TestClient,
    poster: IntoApp,
    make_user: Callable[..., Any],
    frozen: clock_module.FrozenClock,
    operator: Actor,
    seen: Counter[str],
) -> type[RuleBasedStateMachine]:
    class Trading(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sku_ids: list[int] = []
            self.received: dict[int, int] = {}
            self.shop_of: dict[int, int] = {}
            self.buyers: list[Buyer] = []
            self.owners: dict[int, Actor] = {}  # shop id -> owner
            self.orders: list[tuple[int, str]] = []  # (buyer index, order no)
            self.payments: list[tuple[int, str]] = []  # (buyer index, out_trade_no)
            self.keys: list[tuple[int, str, list[tuple[int, int]], list[str]]] = []
            poster.fail = False
            poster.answers.clear()

        # ------------------------------------------------------------------ helpers

        def attempt(
            self, name: str, action: Callable[[Session], T]
        ) -> tuple[T | None, DomainError | None]:
            """Run one use case in its own session: its result, or the domain error."""
            with database.session() as db:
                try:
                    result = action(db)
                except DomainError as exc:
                    seen[f"{name}: {exc.code}"] += 1
                    return None, exc
            seen[f"{name}: ok"] += 1
            return result, None

        def read(self, query: Callable[[Session], T]) -> T:
            with database.session(write=False) as db:
                return query(db)

        def order_ids(self, db: Session) -> list[int]:
            buyer_ids = [b.user_id for b in self.buyers]
            return list(db.scalars(select(Order.id).where(Order.buyer_id.in_(buyer_ids))))

        def pick_order(self, pick: int, statuses: tuple[OrderStatus, ...]) -> tuple[int, str]:
            """One of the example's orders: three times in four one in ``statuses`` if any
            (so that what needs a paid order happens often, and the rest still happens)."""
            candidates = self.orders
            if pick % 4:
                numbers = [no for _b, no in self.orders]
                wanted = set(
                    self.read(
                        lambda db: db.scalars(
                            select(Order.order_no).where(
                                Order.order_no.in_(numbers), Order.status.in_(statuses)
                            )
                        ).all()
                    )
                )
                candidates = [o for o in self.orders if o[1] in wanted] or self.orders
            return candidates[pick // 4 % len(candidates)]

        def order(self, db: Session, order_no: str) -> Order:
            order = db.scalar(select(Order).where(Order.order_no == order_no))
            assert order is not None
            return order

        def our_payments(self, db: Session) -> list[Payment]:
            buyer_ids = [b.user_id for b in self.buyers]
            return list(db.scalars(select(Payment).where(Payment.buyer_id.in_(buyer_ids))))

        def snapshot(self) -> Any:
            """Everything a duplicate notification must leave alone."""

            def _take(db: Session) -> Any:
                ids = self.order_ids(db)
                orders = sorted(
                    db.execute(
                        select(Order.id, Order.status, Order.paid_fen, Order.refunded_fen).where(
                            Order.id.in_(ids)
                        )
                    ).all()
                )
                payments = sorted((p.id, p.status, p.transaction_id) for p in self.our_payments(db))
                pay_ids = [p[0] for p in payments]
                refunds = sorted(
                    db.execute(
                        select(Refund.id, Refund.status, Refund.amount_fen).where(
                            Refund.payment_id.in_(pay_ids)
                        )
                    ).all()
                )
                skus = sorted(
                    db.execute(
                        select(Sku.id, Sku.stock_on_hand, Sku.stock_reserved, Sku.stock_sold).where(
                            Sku.id.in_(self.sku_ids)
                        )
                    ).all()
                )
                events = db.scalar(
                    select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id.in_(ids))
                )
                pay_events = db.scalar(
                    select(func.count())
                    .select_from(PaymentEvent)
                    .where(PaymentEvent.payment_id.in_(pay_ids))
                )
                return orders, payments, refunds, skus, events, pay_events

            return self.read(_take)

        # ------------------------------------------------------------------ the scene

        @initialize(
            stocks=st.tuples(st.integers(0, 3), st.integers(2, 12), st.integers(2, 12)),
            prices=st.lists(st.integers(1, 30000), min_size=3, max_size=3),
        )
        def scene(self, stocks: tuple[int, int, int], prices: list[int]) -> None:
            with database.session() as db:
                for _ in range(2):
                    user = make_user()
                    self.buyers.append(Buyer(user.id, actor_for(user), add_address(db, user)))
                owner1, owner2 = make_user(), make_user()
                shop1, shop2 = make_shop(db, owner1), make_shop(db, owner2)
                self.owners = {
                    shop1.id: actor_for(owner1, {shop1.id: "owner"}),
                    shop2.id: actor_for(owner2, {shop2.id: "owner"}),
                }
                first = make_product(
                    db, shop1, skus=[("红色", prices[0], stocks[0]), ("蓝色", prices[1], stocks[1])]
                )
                second = make_product(db, shop2, skus=[("标准", prices[2], stocks[2])])
                for sku in [*first.skus, *second.skus]:
                    self.sku_ids.append(sku.id)
                    self.shop_of[sku.id] = first.shop_id if sku in first.skus else second.shop_id
                    self.received[sku.id] = sku.stock_received
            set_sandbox_refund_mode("success")

        # ------------------------------------------------------------------ checkout

        @rule(buyer=st.integers(0, 1), lines=LINES, keyed=st.booleans())
        def checkout(self, buyer: int, lines: list[tuple[int, int]], keyed: bool) -> None:
            self.place(buyer, lines, keyed, then="stop")

        @rule(
            buyer=st.integers(0, 1),
            lines=LINES,
            keyed=st.booleans(),
            then=st.sampled_from(["pay", "pay and deliver", "pay and deliver"]),
        )
        def checkout_and_pay(
            self, buyer: int, lines: list[tuple[int, int]], keyed: bool, then: str
        ) -> None:
            """As most buyers do: check out and pay at once."""
            self.place(buyer, lines, keyed, then=then)

        def place(self, buyer: int, lines: list[tuple[int, int]], keyed: bool, then: str) -> None:
            who = self.buyers[buyer]
            wanted = [(self.sku_ids[i], qty) for i, qty in lines]
            on_hand = self.read(
                lambda db: dict(
                    db.execute(
                        select(Sku.id, Sku.stock_on_hand).where(Sku.id.in_(self.sku_ids))
                    ).all()
                )
            )
            merged: dict[int, int] = defaultdict(int)
            for sku_id, qty in wanted:
                merged[sku_id] += qty
            key = f"key-{secrets.token_hex(8)}" if keyed else None

            def _go(db: Session) -> list[str]:
                result = checkout(
                    db, who.actor, lines=wanted, address_id=who.address_id, idempotency_key=key
                )
                return [o.order_no for o in result.orders]

            numbers, error = self.attempt("checkout", _go)
            if any(qty < 1 for _sku, qty in wanted):
                assert isinstance(error, InvalidInput), error
            elif any(merged[sku] > on_hand[sku] for sku in merged):
                assert isinstance(error, Conflict) and error.code == "out_of_stock", error
            else:
                assert error is None, error
                assert numbers is not None
                assert len(numbers) == len({self.shop_of[sku] for sku in merged})  # one per shop
                self.orders += [(buyer, no) for no in numbers]
                if key:
                    self.keys.append((buyer, key, wanted, numbers))
                if then != "stop":
                    self.pay_for(buyer, numbers, pay=True)
                if then == "pay and deliver":
                    self.deliver_notifications(fail=False)

        @precondition(lambda self: self.keys)
        @rule(pick=st.integers(0, 10**6))
        def checkout_again_with_the_same_key(self, pick: int) -> None:
            buyer, key, wanted, numbers = self.keys[pick % len(self.keys)]
            who = self.buyers[buyer]
            before = self.snapshot()

            def _go(db: Session) -> tuple[bool, list[str]]:
                result = checkout(
                    db, who.actor, lines=wanted, address_id=who.address_id, idempotency_key=key
                )
                return result.replayed, [o.order_no for o in result.orders]

            result, error = self.attempt("checkout again", _go)
            assert error is None, error
            assert result == (True, numbers)
            assert self.snapshot() == before

        # ------------------------------------------------------------------ paying

        @precondition(lambda self: self.orders)
        @rule(picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=3), pay=st.booleans())
        def start_payment(self, picks: list[int], pay: bool) -> None:
            """Pay for one to three of a buyer's orders (in any state)."""
            buyer = self.orders[picks[0] % len(self.orders)][0]
            mine = [no for b, no in self.orders if b == buyer]
            self.pay_for(buyer, list(dict.fromkeys(mine[p % len(mine)] for p in picks)), pay=pay)

        def pay_for(self, buyer: int, chosen: list[str], *, pay: bool) -> None:
            who = self.buyers[buyer]
            now = clock_module.now()
            payable = self.read(
                lambda db: all(
                    o.status == S.PENDING_PAYMENT and o.pay_deadline > now
                    for o in (self.order(db, no) for no in chosen)
                )
            )

            def _go(db: Session) -> str:
                start = payments_service.start_payment(
                    db, who.actor, order_nos=chosen, method="sandbox"
                )
                return start.out_trade_no

            out_trade_no, error = self.attempt("start payment", _go)
            if not payable:
                assert isinstance(error, IllegalTransition), error
                return
            assert error is None, error
            assert out_trade_no is not None
            if (buyer, out_trade_no) not in self.payments:
                self.payments.append((buyer, out_trade_no))
            if pay:
                self.buyer_pays_at(buyer, out_trade_no)

        def buyer_pays_at(self, buyer: int, out_trade_no: str) -> None:
            who = self.buyers[buyer]
            _paid, error = self.attempt(
                "sandbox pay", lambda db: payments_service.sandbox_pay(db, who.actor, out_trade_no)
            )
            assert error is None or isinstance(error, IllegalTransition), error

        @precondition(lambda self: self.payments)
        @rule(pick=st.integers(0, 10**6))
        def buyer_pays(self, pick: int) -> None:
            buyer, out_trade_no = self.payments[pick % len(self.payments)]
            self.buyer_pays_at(buyer, out_trade_no)

        @rule(job=st.sampled_from(JOBS))
        def background_job(self, job: str) -> None:
            """What the worker runs: notification deliveries (the receiver may be down),
            refund submission (the sandbox's refunds succeed at once, or stay processing
            until it settles them), reconciliation with the provider."""
            if job.startswith("deliver"):
                self.deliver_notifications(fail=job == "deliver failing")
            elif job.startswith("submit refunds"):
                set_sandbox_refund_mode("processing" if job.endswith("later") else "success")
                try:
                    with database.session() as db:
                        payments_service.submit_refunds(db)
                finally:
                    set_sandbox_refund_mode("success")
            else:
                with database.session() as db:
                    report = payments_reconcile.reconcile(db)
                assert report.errors == 0

        def deliver_notifications(self, fail: bool) -> None:
            poster.fail = fail
            try:
                with database.session() as db:
                    delivery.deliver_due(db)
            finally:
                poster.fail = False

        @precondition(lambda self: self.payments)
        @rule(pick=st.integers(0, 10**6), same_id=st.booleans())
        def duplicate_notification(self, pick: int, same_id: bool) -> None:
            """WeChat sends a notification already processed again: the same one (a retry),
            or a new one about the same trade or refund. Nothing may change."""
            trades = [no for _b, no in self.payments]

            def _delivered(db: Session) -> list[tuple[int, str, str]]:
                return list(
                    db.execute(
                        select(SandboxDelivery.id, SandboxDelivery.body, SandboxDelivery.url)
                        .where(
                            SandboxDelivery.out_trade_no.in_(trades),
                            SandboxDelivery.status == DeliveryStatus.DELIVERED,
                        )
                        .order_by(SandboxDelivery.id)
                    ).all()
                )

            done = self.read(_delivered)
            if not done:
                return
            _id, body, url = done[pick % len(done)]
            before = self.snapshot()
            if same_id:
                headers = self.read(lambda db: get_sandbox(db).sign(body))
                assert poster(url, headers, body.encode()) == 204
            else:
                headers, again = self.read(lambda db: as_new_notification(db, body))
                assert poster(url, headers, again) == 204
            assert self.snapshot() == before

        # ------------------------------------------------------------------ orders

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10**6))
        def cancel(self, pick: int) -> None:
            buyer, order_no = self.orders[pick % len(self.orders)]
            status = self.read(lambda db: self.order(db, order_no).status)
            _order, error = self.attempt(
                "cancel",
                lambda db: orders_service.cancel_order(db, self.buyers[buyer].actor, order_no),
            )
            if status == S.PENDING_PAYMENT:
                assert error is None, error
            else:
                assert isinstance(error, IllegalTransition), error

        @rule(minutes=st.sampled_from([1, 5, 14, 16, 30]))
        def time_passes(self, minutes: int) -> None:
            frozen.advance(minutes=minutes)
            with database.session() as db:
                orders_service.cancel_expired_orders(db)
            now = clock_module.now()
            overdue = self.read(
                lambda db: db.scalar(
                    select(func.count())
                    .select_from(Order)
                    .where(
                        Order.id.in_(self.order_ids(db)),
                        Order.status == S.PENDING_PAYMENT,
                        Order.pay_deadline <= now,
                    )
                )
            )
            assert overdue == 0

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10**6))
        def ship(self, pick: int) -> None:
            _buyer, order_no = self.pick_order(pick, (S.PAID,))
            order = self.read(lambda db: self.order(db, order_no))
            tracking = "SF" + "".join(secrets.choice("0123456789") for _ in range(12))
            _done, error = self.attempt(
                "ship",
                lambda db: fulfilment.ship_order(
                    db,
                    self.owners[order.shop_id],
                    order.shop_id,
                    order_no,
                    carrier="SF",
                    tracking_no=tracking,
                ),
            )
            if order.status == S.PAID and not order.aftersale_open:
                assert error is None, error
            else:
                assert isinstance(error, IllegalTransition | Conflict), error

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10**6))
        def confirm_receipt(self, pick: int) -> None:
            buyer, order_no = self.pick_order(pick, (S.SHIPPED,))
            status = self.read(lambda db: self.order(db, order_no).status)
            _done, error = self.attempt(
                "confirm",
                lambda db: orders_service.confirm_receipt(db, self.buyers[buyer].actor, order_no),
            )
            if status == S.SHIPPED:
                assert error is None, error
            else:
                assert isinstance(error, IllegalTransition), error

        # ------------------------------------------------------------------ refunds

        @precondition(lambda self: self.orders)
        @rule(
            pick=st.integers(0, 10**6),
            how=st.one_of(st.none(), AMOUNT),
            approve=st.booleans(),
        )
        def aftersale_refund(self, pick: int, how: int | str | None, approve: bool) -> None:
            """The buyer asks for a refund (仅退款) of the whole order; the merchant agrees."""
            buyer, order_no = self.pick_order(pick, PAID_STATES)
            order = self.read(lambda db: self.order(db, order_no))
            amount = None if how is None else amount_fen(how, order)
            case_id, error = self.attempt(
                "open case",
                lambda db: (
                    aftersales_cases.open_case(
                        db,
                        self.buyers[buyer].actor,
                        order_no=order_no,
                        line_id=None,
                        kind="refund_only",
                        reason="quality",
                        amount_fen=amount,
                    ).id
                ),
            )
            if amount is not None and amount > order.paid_fen - order.refunded_fen:
                assert isinstance(error, InvalidInput | Conflict), error
            if error is not None:
                assert isinstance(error, InvalidInput | Conflict | IllegalTransition), error
                return
            assert case_id is not None
            if approve:
                _case, error = self.attempt(
                    "approve",
                    lambda db: aftersales_cases.approve(
                        db, self.owners[order.shop_id], order.shop_id, case_id
                    ),
                )
                assert error is None or isinstance(error, Conflict), error

        @precondition(lambda self: self.orders)
        @rule(
            pick=st.integers(0, 10**6),
            how=AMOUNT,
            again=st.sampled_from(["no", "no", "same key", "new key"]),
        )
        def operator_refund(self, pick: int, how: int | str, again: str) -> None:
            """An operator refunds (part of) an order; maybe the request comes twice (a
            double click: the same Idempotency-Key; or a second operator: a new key)."""
            _buyer, order_no = self.pick_order(pick, (*PAID_STATES, S.CLOSED))
            amount = amount_fen(how, self.read(lambda db: self.order(db, order_no)))
            key = f"ops-{secrets.token_hex(6)}"
            first = self.refund_by_operator(order_no, amount, key)
            if again == "same key":
                before = self.snapshot()
                assert self.refund_by_operator(order_no, amount, key, repeat=True) == first
                assert self.snapshot() == before
            elif again == "new key":
                self.refund_by_operator(order_no, amount, f"ops-{secrets.token_hex(6)}")

        def refund_by_operator(
            self, order_no: str, amount: int, key: str, *, repeat: bool = False
        ) -> int | None:
            """The refund's id, checked against what may still be refunded (counted here
            from the rows, independently of the code under test)."""

            def _left(db: Session) -> int | None:
                order = self.order(db, order_no)
                payment = db.scalar(
                    select(Payment)
                    .join(PaymentOrder, PaymentOrder.payment_id == Payment.id)
                    .where(
                        PaymentOrder.order_id == order.id,
                        PaymentOrder.outcome == "paid",
                        Payment.status == P.PAID,
                    )
                )
                if payment is None:
                    return None
                refunds = list(db.scalars(select(Refund).where(Refund.payment_id == payment.id)))
                in_flight = sum(
                    r.amount_fen
                    for r in refunds
                    if r.order_id == order.id and r.settles_order and r.status in IN_FLIGHT
                )
                taken = sum(r.amount_fen for r in refunds if r.status != R.FAILED)
                return min(
                    order.paid_fen - order.refunded_fen - in_flight, payment.amount_fen - taken
                )

            left = self.read(_left)
            refund, error = self.attempt(
                "operator refund",
                lambda db: payments_service.operator_refund(
                    db,
                    operator,
                    order_no=order_no,
                    amount_fen=amount,
                    reason="运营退款",
                    idempotency_key=key,
                ),
            )
            if amount <= 0:
                assert isinstance(error, InvalidInput), error
            elif left is None:
                assert isinstance(error, Conflict) and error.code == "not_paid", error
            elif repeat:
                pass  # the same key again: the same answer (the caller compares)
            elif amount > left:
                assert isinstance(error, Conflict), (error, amount, left)
            else:
                assert error is None and refund is not None, error
                assert refund.amount_fen == amount
            return refund.id if refund is not None else None

        @precondition(lambda self: self.payments)
        @rule(
            pick=st.integers(0, 10**6),
            outcome=st.sampled_from(
                [
                    SandboxRefundStatus.SUCCESS,
                    SandboxRefundStatus.CLOSED,
                    SandboxRefundStatus.ABNORMAL,
                ]
            ),
        )
        def sandbox_settles_a_refund(self, pick: int, outcome: SandboxRefundStatus) -> None:
            """A processing refund reaches its outcome at the provider (notified later)."""
            trades = [no for _b, no in self.payments]
            with database.session() as db:
                rows = list(
                    db.scalars(
                        select(SandboxRefund)
                        .where(
                            SandboxRefund.out_trade_no.in_(trades),
                            SandboxRefund.status == SandboxRefundStatus.PROCESSING,
                        )
                        .order_by(SandboxRefund.id)
                    )
                )
                if rows:
                    assert get_sandbox(db).settle_refund(rows[pick % len(rows)], outcome)
                    db.commit()

        # ------------------------------------------------------------------ invariants

        @invariant()
        def notifications_were_accepted(self) -> None:
            refused = [a for a in poster.answers if a[0] != 204]
            assert not refused, refused

        @invariant()
        def data_is_consistent(self) -> None:
            if not self.buyers:
                return
            seen["(steps)"] += 1
            with database.session(write=False) as db:
                self.stock_adds_up(db)
                self.orders_are_paid_once_and_refunds_never_exceed(db)
                self.payments_agree_with_orders_and_the_sandbox(db)

        def stock_adds_up(self, db: Session) -> None:
            skus = {
                row.id: row
                for row in db.execute(
                    select(
                        Sku.id,
                        Sku.stock_on_hand,
                        Sku.stock_reserved,
                        Sku.stock_sold,
                        Sku.stock_received,
                    ).where(Sku.id.in_(self.sku_ids))
                )
            }
            ids = self.order_ids(db)
            status = dict(db.execute(select(Order.id, Order.status).where(Order.id.in_(ids))).all())
            held: dict[int, int] = defaultdict(int)
            sold: dict[int, int] = defaultdict(int)
            for order_id, sku_id, qty in _line_rows(db, ids):
                if status[order_id] == S.PENDING_PAYMENT:
                    held[sku_id] += qty
                elif status[order_id] in PAID_STATES:
                    sold[sku_id] += qty
            for sku_id, sku in skus.items():
                counters = (sku.stock_on_hand, sku.stock_reserved, sku.stock_sold)
                assert min(counters) >= 0, (sku_id, counters)
                assert sum(counters) == sku.stock_received == self.received[sku_id], (
                    sku_id,
                    counters,
                    sku.stock_received,
                )
                assert sku.stock_reserved == held[sku_id], (sku_id, counters, dict(held))
                assert sku.stock_sold == sold[sku_id], (sku_id, counters, dict(sold))

        def orders_are_paid_once_and_refunds_never_exceed(self, db: Session) -> None:
            ids = self.order_ids(db)
            orders = {o.id: o for o in db.scalars(select(Order).where(Order.id.in_(ids)))}
            pays: dict[int, int] = defaultdict(int)
            for order_id, action in db.execute(
                select(OrderEvent.order_id, OrderEvent.action).where(OrderEvent.order_id.in_(ids))
            ):
                pays[order_id] += action == "pay"
            applied: dict[int, int] = defaultdict(int)
            for order_id, amount in db.execute(
                select(AppliedRefund.order_id, AppliedRefund.amount_fen).where(
                    AppliedRefund.order_id.in_(ids)
                )
            ):
                applied[order_id] += amount
            succeeded: dict[int, int] = defaultdict(int)
            committed: dict[int, int] = defaultdict(int)
            for refund in db.scalars(select(Refund).where(Refund.order_id.in_(ids))):
                if not refund.settles_order:
                    continue
                if refund.status == R.SUCCEEDED:
                    succeeded[refund.order_id] += refund.amount_fen
                if refund.status != R.FAILED:
                    committed[refund.order_id] += refund.amount_fen
            paid_links: dict[int, list[str]] = defaultdict(list)
            for order_id, out_trade_no in db.execute(
                select(PaymentOrder.order_id, Payment.out_trade_no)
                .join(Payment, Payment.id == PaymentOrder.payment_id)
                .where(PaymentOrder.order_id.in_(ids), PaymentOrder.outcome == "paid")
            ):
                paid_links[order_id].append(out_trade_no)
            for order_id, o in orders.items():
                where = (o.order_no, o.status, o.paid_fen, o.refunded_fen)
                assert pays[order_id] <= 1, where
                if o.status in (*PAID_STATES, S.CLOSED):
                    assert o.paid_fen == o.total_fen and pays[order_id] == 1, where
                    assert paid_links[order_id] == [o.payment_ref], (where, paid_links[order_id])
                else:
                    assert o.paid_fen == 0 and pays[order_id] == 0, where
                    assert o.payment_ref is None and not paid_links[order_id], where
                assert 0 <= o.refunded_fen <= o.paid_fen, where
                assert o.refunded_fen == applied[order_id] == succeeded[order_id], (
                    where,
                    applied[order_id],
                    succeeded[order_id],
                )
                assert committed[order_id] <= o.paid_fen, (where, committed[order_id])
                if o.status == S.CLOSED:
                    assert o.refunded_fen == o.paid_fen, where

        def payments_agree_with_orders_and_the_sandbox(self, db: Session) -> None:
            payments = self.our_payments(db)
            if not payments:
                return
            pay_ids = [p.id for p in payments]
            trade_nos = [p.out_trade_no for p in payments]
            links = list(
                db.scalars(select(PaymentOrder).where(PaymentOrder.payment_id.in_(pay_ids)))
            )
            orders = {
                o.id: o
                for o in db.scalars(
                    select(Order).where(Order.id.in_({link.order_id for link in links}))
                )
            }
            paid_events: dict[int, int] = defaultdict(int)
            for payment_id in db.scalars(
                select(PaymentEvent.payment_id).where(
                    PaymentEvent.payment_id.in_(pay_ids), PaymentEvent.action == "paid"
                )
            ):
                paid_events[payment_id] += 1
            trades = {
                t.out_trade_no: t
                for t in db.scalars(
                    select(SandboxTrade).where(SandboxTrade.out_trade_no.in_(trade_nos))
                )
            }
            refunds = list(db.scalars(select(Refund).where(Refund.payment_id.in_(pay_ids))))
            at_sandbox = {
                row.out_refund_no: row
                for row in db.scalars(
                    select(SandboxRefund).where(SandboxRefund.out_trade_no.in_(trade_nos))
                )
            }
            for payment in payments:
                where = (payment.out_trade_no, payment.status)
                mine = [link for link in links if link.payment_id == payment.id]
                its_refunds = [r for r in refunds if r.payment_id == payment.id]
                trade = trades.get(payment.out_trade_no)
                assert payment.amount_fen == sum(link.amount_fen for link in mine), where
                assert trade is not None and trade.amount_fen == payment.amount_fen, where
                if payment.status == P.PAID:
                    assert paid_events[payment.id] == 1, where
                    assert payment.transaction_id == trade.transaction_id, where
                    assert trade.state in TRADE_PAID, (where, trade.state)
                    for link in mine:
                        order = orders[link.order_id]
                        assert link.outcome in ("paid", "unpayable"), (where, link.outcome)
                        if link.outcome == "paid":
                            assert order.payment_ref == payment.out_trade_no, where
                            assert order.paid_fen == link.amount_fen, where
                        else:  # paid after the order was cancelled: refunded automatically
                            assert order.payment_ref != payment.out_trade_no, where
                            auto = [
                                r.amount_fen
                                for r in its_refunds
                                if r.order_id == link.order_id and r.ref == core.AUTO_REFUND_REF
                            ]
                            assert auto == [link.amount_fen], where
                else:
                    assert paid_events[payment.id] == 0 and payment.paid_at is None, where
                    assert all(link.outcome is None for link in mine), where
                    assert not its_refunds, where
                    if payment.status == P.CLOSED:
                        assert trade.state == SandboxTradeState.CLOSED, (where, trade.state)
                taken = sum(r.amount_fen for r in its_refunds if r.status != R.FAILED)
                assert taken <= payment.amount_fen, (where, taken)
                sandbox_taken = sum(
                    row.amount_fen
                    for row in at_sandbox.values()
                    if row.out_trade_no == payment.out_trade_no
                    and row.status != SandboxRefundStatus.CLOSED
                )
                assert sandbox_taken <= trade.amount_fen, (where, sandbox_taken)
                for refund in its_refunds:
                    row = at_sandbox.get(refund.out_refund_no)
                    if refund.status in (R.PROCESSING, R.SUCCEEDED):
                        assert row is not None and row.amount_fen == refund.amount_fen, where
                    if refund.status == R.SUCCEEDED:
                        assert row is not None and row.status == SandboxRefundStatus.SUCCESS, where
                    # PENDING: not submitted yet (or the call failed: the job retries it)

        # ------------------------------------------------------------------ the end

        def teardown(self) -> None:
            """Deliver, submit and reconcile everything due: nothing may stay in flight."""
            if not self.buyers:
                return
            poster.fail = False
            set_sandbox_refund_mode("success")
            trades = [no for _b, no in self.payments]
            with database.session() as db:
                sandbox = get_sandbox(db)
                for row in db.scalars(
                    select(SandboxRefund).where(
                        SandboxRefund.out_trade_no.in_(trades),
                        SandboxRefund.status == SandboxRefundStatus.PROCESSING,
                    )
                ):
                    sandbox.settle_refund(row, SandboxRefundStatus.SUCCESS)
                db.commit()
            for _round in range(3):
                frozen.advance(hours=7)  # past every retry and every deadline
                with database.session() as db:
                    delivery.deliver_due(db, limit=1000)
                    orders_service.cancel_expired_orders(db)
                    payments_service.submit_refunds(db, limit=1000)
                    payments_reconcile.reconcile(db, limit=1000)
                    delivery.deliver_due(db, limit=1000)
            self.record_what_happened()
            self.notifications_were_accepted()
            self.data_is_consistent()
            with database.session(write=False) as db:
                for payment in self.our_payments(db):
                    trade = db.scalar(
                        select(SandboxTrade).where(
                            SandboxTrade.out_trade_no == payment.out_trade_no
                        )
                    )
                    assert trade is not None
                    assert (payment.status == P.PAID) == (trade.state in TRADE_PAID), (
                        payment.out_trade_no,
                        payment.status,
                        trade.state,
                    )
                    # Every refund has an outcome by now, except an ABNORMAL one: WeChat
                    # Pay holds that money until the merchant finishes the refund in its
                    # platform, so it rightly stays in flight (counted against the payment).
                    left = db.scalar(
                        select(func.count())
                        .select_from(Refund)
                        .where(
                            Refund.payment_id == payment.id,
                            Refund.status.in_(IN_FLIGHT),
                            Refund.abnormal.is_(False),
                        )
                    )
                    assert left == 0, payment.out_trade_no
                pending = db.scalar(
                    select(func.count())
                    .select_from(Order)
                    .where(Order.id.in_(self.order_ids(db)), Order.status == S.PENDING_PAYMENT)
                )
                assert pending == 0
                errors = db.scalar(
                    select(func.count())
                    .select_from(NotificationLog)
                    .where(NotificationLog.http_status >= 500)
                )
                assert errors == 0

        def record_what_happened(self) -> None:
            """Which paths the examples took (printed at the end: ``pytest -s``)."""
            seen["(examples)"] += 1
            with database.session(write=False) as db:
                ids = self.order_ids(db)
                for status in db.scalars(select(Order.status).where(Order.id.in_(ids))):
                    seen[f"order ended {status}"] += 1
                for payment in self.our_payments(db):
                    seen[f"payment ended {payment.status}"] += 1
                    for link in payment.orders:
                        seen[f"payment line {link.outcome}"] += 1
                    for refund in db.scalars(select(Refund).where(Refund.payment_id == payment.id)):
                        seen[f"refund {refund.ref.split(':')[0]} {refund.status}"] += 1
                for trade in [no for _b, no in self.payments]:
                    for outcome in db.scalars(
                        select(NotificationLog.outcome).where(NotificationLog.out_trade_no == trade)
                    ):
                        seen[f"notification {outcome}"] += 1

    return Trading


def set_sandbox_refund_mode(mode: str) -> None:
    """Sandbox refunds succeed at once ("success") or wait for an outcome ("processing")."""
    from xiaodian.payments.providers import sandbox_dir

    (sandbox_dir(settings_module.current()) / "refund_mode").write_text(mode)


def as_new_notification(db: Session, body: str) -> tuple[dict[str, str], bytes]:
    """A new notification (a new id, freshly signed) saying what an earlier one said."""
    sandbox = get_sandbox(db)
    sent = json.loads(body)
    headers = {k.lower(): v for k, v in sandbox.sign(body).items()}
    resource = sandbox.verifier.parse_notification(headers, body.encode()).resource
    _id, new_body = sandbox.build_body(
        sent["event_type"], sent["summary"], sent["resource"]["original_type"], resource
    )
    return sandbox.sign(new_body), new_body.encode()


def _no_sync_commit(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    if not record.info.get("no_sync_commit"):
        with dbapi_conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        dbapi_conn.commit()
        record.info["no_sync_commit"] = True


def test_trading_invariants_hold_under_random_events(
    database: Database,
    sandbox_settings: Any,
    client: TestClient,
    make_user: Any,
    clock: clock_module.FrozenClock,
) -> None:
    if database.engine.dialect.name == "postgresql":
        # Thousands of short transactions: do not wait for each commit's fsync (this
        # test's connections only; what is committed and seen is the same).
        sa_event.listen(database.engine, "checkout", _no_sync_commit)
    poster = IntoApp(client)
    previous = delivery.use_poster(poster)
    try:
        user = make_user(operator=True)
        operator = Actor(user_id=user.id, display_name="运营", is_operator=True)
        seen: Counter[str] = Counter()
        machine = make_machine(database, client, poster, make_user, clock, operator, seen)
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
    finally:
        delivery.use_poster(previous)
    print("\npaths taken:", dict(sorted(seen.items())))

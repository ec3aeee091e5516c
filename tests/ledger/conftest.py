"""The ledger's scene: shops, products, buyers, and orders checked out, paid, shipped,
confirmed and refunded through the real services (the sandbox provider, its payments
found by reconciliation, its refunds succeeding when submitted)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from tests.orders.conftest import actor_for, add_address
from xiaodian import clock as clock_module
from xiaodian.actor import Actor
from xiaodian.db import Database
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import LedgerAccount, LedgerPosting, LedgerTransfer
from xiaodian.orders import fulfilment
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import checkout
from xiaodian.payments import reconcile as payments_reconcile
from xiaodian.payments import service as payments_service
from xiaodian.payments.providers.sandbox import load_keys


@pytest.fixture(scope="session")
def ledger_sandbox_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ledger-sandbox-keys") / "sandbox"
    load_keys(directory)
    return directory


@pytest.fixture
def sandbox(settings: Any, ledger_sandbox_keys: Path) -> Any:
    target = Path(settings.data_dir) / "sandbox"
    if not target.exists():
        shutil.copytree(ledger_sandbox_keys, target)
    return settings


@dataclass
class Trade:
    """Drives orders through the services, each call its own transaction(s)."""

    database: Database
    clock: clock_module.FrozenClock
    make_user: Any
    operator: Actor = field(init=False)

    def __post_init__(self) -> None:
        op = self.make_user(operator=True)
        self.operator = Actor(user_id=op.id, is_operator=True)

    def session(self) -> Any:
        return self.database.session()

    def shop(self, *, price: int = 10000, category: str | None = None) -> tuple[Any, Actor, int]:
        """(shop, its owner's actor, a SKU id)."""
        owner = self.make_user()
        with self.session() as db:
            shop = make_shop(db, owner)
            product = make_product(db, shop, skus=[("标准", price, 10_000)], category_slug=category)
            return shop, actor_for(owner, {shop.id: "owner"}), product.skus[0].id

    def buyer(self) -> tuple[Actor, int]:
        user = self.make_user()
        with self.session() as db:
            return actor_for(user), add_address(db, user)

    def buy(self, buyer: tuple[Actor, int], lines: list[tuple[int, int]]) -> list[str]:
        actor, address_id = buyer
        with self.session() as db:
            result = checkout(
                db, actor, lines=lines, address_id=address_id, idempotency_key=None, from_cart=False
            )
            return [o.order_no for o in result.orders]

    def pay(self, buyer: tuple[Actor, int], order_nos: list[str]) -> str:
        """Pay at the sandbox; reconciliation (6 minutes later) finds the payment. The
        payment's out_trade_no (its notification waits in the sandbox, undelivered)."""
        actor = buyer[0]
        with self.session() as db:
            start = payments_service.start_payment(db, actor, order_nos=order_nos, method="sandbox")
        with self.session() as db:
            payments_service.sandbox_pay(db, actor, start.out_trade_no)
        self.clock.advance(minutes=6)
        with self.session() as db:
            payments_reconcile.reconcile(db)
        return start.out_trade_no

    def ship(self, owner: Actor, shop_id: int, order_no: str) -> None:
        with self.session() as db:
            fulfilment.ship_order(
                db, owner, shop_id, order_no, carrier="SF", tracking_no="SF123456789012"
            )

    def confirm(self, buyer: tuple[Actor, int], order_no: str) -> None:
        with self.session() as db:
            orders_service.confirm_receipt(db, buyer[0], order_no)

    def refund(self, order_no: str, amount_fen: int) -> None:
        with self.session() as db:
            payments_service.operator_refund(
                db, self.operator, order_no=order_no, amount_fen=amount_fen, reason="测试"
            )
        with self.session() as db:
            payments_service.submit_refunds(db)

    def order(self, order_no: str) -> Any:
        with self.session() as db:
            order = orders_service.get_order_by_no(db, order_no=order_no)
            db.expunge(order)
            return order


@pytest.fixture
def trade(
    database: Database, clock: clock_module.FrozenClock, make_user: Any, sandbox: Any
) -> Trade:
    return Trade(database, clock, make_user)


def balance(db: Session, kind: str, owner_id: int = ledger.PLATFORM) -> int:
    """An account's balance on its normal side, read fresh."""
    raw = ledger.raw_balances(db, [(kind, owner_id)])[(kind, owner_id)]
    db.rollback()
    return ledger.shown(kind, raw)


def assert_books_balance(db: Session) -> None:
    """Every transfer sums to zero, so do all postings."""
    unbalanced = db.execute(
        select(LedgerPosting.transfer_id, func.sum(LedgerPosting.amount_fen))
        .group_by(LedgerPosting.transfer_id)
        .having(func.sum(LedgerPosting.amount_fen) != 0)
    ).all()
    assert unbalanced == []
    assert (db.scalar(select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0)))) == 0
    db.rollback()


def order_totals(db: Session, order_id: int) -> dict[str, int]:
    """What an order's transfers gave each side: merchant (shown), platform, refunded."""
    return orders_totals(db, [order_id])[order_id]


def orders_totals(db: Session, order_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``order_totals`` of many orders, one query per 500 of them."""
    ids = sorted(set(order_ids))
    by_order: dict[int, dict[str, int]] = {order_id: {} for order_id in ids}
    for start in range(0, len(ids), 500):
        rows = db.execute(
            select(LedgerTransfer.order_id, LedgerAccount.kind, func.sum(LedgerPosting.amount_fen))
            .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .where(LedgerTransfer.order_id.in_(ids[start : start + 500]))
            .group_by(LedgerTransfer.order_id, LedgerAccount.kind)
        ).all()
        for order_id, kind, total in rows:
            by_order[order_id][kind] = int(total)
    db.rollback()
    return {order_id: _sides(by_kind) for order_id, by_kind in by_order.items()}


def _sides(by_kind: dict[str, int]) -> dict[str, int]:
    # what the merchant is owed net (credit-normal; "owes" is a debit against it)
    merchant = -sum(by_kind.get(kind, 0) for kind in ledger.MERCHANT_KINDS)
    platform = -(by_kind.get(ledger.FEE_INCOME, 0) + by_kind.get(ledger.PAYMENT_FEES, 0))
    return {"merchant": merchant, "platform": platform, "clearing": by_kind.get(ledger.CLEARING, 0)}


@pytest.fixture
def no_posting_changes(database: Database) -> Iterator[list[str]]:
    """Fails the test if any statement UPDATEs or DELETEs ledger postings (SQLite has no
    trigger to refuse them; this proves no code path sends one)."""
    seen: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = " ".join(statement.lower().split())
        if ("update ledger_postings" in words) or ("delete from ledger_postings" in words):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", spy)
    yield seen
    event.remove(database.engine, "before_cursor_execute", spy)
    assert seen == [], seen


def later(clock: clock_module.FrozenClock, days: float) -> None:
    clock.advance(timedelta(days=days))

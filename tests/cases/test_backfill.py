"""Upgrading a running shop: what already waits when the cases arrive (revision 0030) gets
the case its domain would have opened, with the same key, shop and deadline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import delete, select

from tests.factories import make_product
from tests.ledger.conftest import Trade
from xiaodian.cases.models import Case
from xiaodian.catalog.models import ProductStatus

MIGRATION = Path(__file__).resolve().parents[2] / "src/xiaodian/migrations/versions/0030_cases.py"


def _backfill(trade: Trade) -> None:
    spec = importlib.util.spec_from_file_location("cases_0030", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (
        trade.database.engine.begin() as connection,
        Operations.context(MigrationContext.configure(connection)),
    ):
        module._backfill()


def _cases(trade: Trade) -> list[tuple[Any, ...]]:
    with trade.database.session(write=False) as db:
        rows = db.scalars(select(Case).order_by(Case.queue, Case.key))
        return [(c.queue, c.key, c.shop_id, c.due_at, c.closed_at) for c in rows]


def test_what_waits_before_the_upgrade_gets_its_case(trade: Trade) -> None:
    shop, _owner, sku = trade.shop()
    buyer = trade.buyer()
    (order_no,) = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, [order_no])
    with trade.session() as db:
        make_product(db, shop, status=ProductStatus.UNDER_REVIEW)  # no hook: as if before 0030
    opened_by_the_domains = [c for c in _cases(trade) if c[0] == "orders_to_ship"]
    assert len(opened_by_the_domains) == 1
    with trade.session() as db:
        db.execute(delete(Case))
        db.commit()

    _backfill(trade)

    found = _cases(trade)
    assert [c for c in found if c[0] == "orders_to_ship"] == opened_by_the_domains
    reviews = [c for c in found if c[0] == "product_reviews"]
    assert len(reviews) == 1 and reviews[0][2] == shop.id and reviews[0][4] is None
    assert {c[0] for c in found} == {"orders_to_ship", "product_reviews"}

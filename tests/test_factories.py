from __future__ import annotations

from typing import Any

from tests.factories import make_product, make_shop


def test_factories_build_a_sellable_product(db: Any, make_user: Any) -> None:
    owner = make_user()
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("红", 1000, 5), ("蓝", 1200, 0)])
    assert product.min_price_fen == 1000
    assert [s.stock_on_hand for s in product.skus] == [5, 0]
    assert all(s.stock_received == s.stock_on_hand for s in product.skus)

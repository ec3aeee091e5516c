"""The sellability policy on its own: what it refuses and why, how many, at what price, and
the price rules a higher domain plugs in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from xiaodian.catalog import sellability
from xiaodian.catalog.models import ProductStatus
from xiaodian.catalog.sellability import Buyer, SkuInfo

SKU = SkuInfo(
    sku_id=7,
    product_id=3,
    shop_id=2,
    shop_name="小店",
    shop_active=True,
    title="茶杯",
    spec_text="白色",
    price_fen=1990,
    stock_on_hand=5,
    sku_active=True,
    product_on_sale=True,
    purchase_limit=None,
    cover_path=None,
)


@pytest.fixture
def policy() -> Iterator[sellability.Policy]:
    """A fresh default policy for the test, the installed one (and its rules) put back."""
    fresh = sellability.Policy()
    old = sellability.use(fresh, keep_rules=False)
    yield fresh
    sellability.use(old, keep_rules=False)


def _offer(policy: sellability.Policy, sku: SkuInfo, buyer: Buyer | None = None) -> Any:
    return policy.offers(None, [sku], buyer)[sku.sku_id]  # type: ignore[arg-type]


def test_a_listed_sku_in_stock_is_for_sale_at_its_price(policy: sellability.Policy) -> None:
    offer = _offer(policy, SKU)
    assert offer.is_available_to_buy and offer.unavailable is None
    assert offer.price_fen == 1990 and offer.num_available == 5
    assert offer.refusal(5) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"product_on_sale": False}, "unlisted"),
        ({"sku_active": False}, "unlisted"),
        ({"shop_active": False}, "shop_closed"),
        ({"shop_active": False, "product_on_sale": False}, "shop_closed"),
    ],
)
def test_unlisted_products_off_skus_and_suspended_shops_are_not_for_sale(
    policy: sellability.Policy, change: dict[str, bool], reason: str
) -> None:
    offer = _offer(policy, replace(SKU, **change))
    assert not offer.is_available_to_buy and offer.num_available == 0
    assert offer.unavailable.reason == reason and offer.unavailable.off_sale
    assert offer.refusal(1) is offer.unavailable  # off sale comes before stock and limits
    error = offer.unavailable.error()
    assert (error.status_code, error.code) == (409, "unavailable")
    assert error.params["item"] == "茶杯 (白色)"


def test_out_of_stock_and_more_than_on_hand(policy: sellability.Policy) -> None:
    empty = _offer(policy, replace(SKU, stock_on_hand=0))
    assert empty.is_available_to_buy and empty.num_available == 0
    refusal = empty.refusal(1)
    assert refusal is not None and (refusal.reason, refusal.n) == ("sold_out", 0)
    assert refusal.error().code == "out_of_stock"
    offer = _offer(policy, SKU)
    short = offer.refusal(6)
    assert short is not None and (short.reason, short.n) == ("short", 5) and not short.off_sale
    assert (short.error().code, short.error().params["n"]) == ("out_of_stock", 5)
    assert offer.refusal(5) is None


def test_the_per_buyer_limit_counts_the_product_and_what_was_bought(
    policy: sellability.Policy,
) -> None:
    offer = _offer(policy, replace(SKU, purchase_limit=3))
    assert offer.refusal(1, product_quantity=3) is None
    assert offer.refusal(1, product_quantity=2, bought=1) is None
    over = offer.refusal(1, product_quantity=2, bought=2)
    assert over is not None and (over.reason, over.n, over.bought) == ("limit", 3, 2)
    error = over.error()
    assert error.code == "purchase_limit" and error.params == {
        "item": "茶杯",
        "limit": 3,
        "bought": 2,
    }
    assert offer.refusal(4) is not None  # the quantity itself when no product total is given
    short = offer.refusal(6, bought=9)  # stock is named before the limit
    assert short is not None and short.reason == "short"


def test_price_rules_reprice_in_order_and_see_the_batch_and_the_buyer(
    policy: sellability.Policy,
) -> None:
    seen: list[tuple[list[int], Buyer | None, dict[int, int]]] = []

    @sellability.price_rule
    def member_price(
        db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None, prices: Mapping[int, int]
    ) -> Mapping[int, int]:
        seen.append(([s.sku_id for s in skus], buyer, dict(prices)))
        return {s.sku_id: prices[s.sku_id] - 100 for s in skus if buyer is not None}

    @sellability.price_rule
    def round_down(
        db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None, prices: Mapping[int, int]
    ) -> Mapping[int, int]:
        return {sku_id: price // 100 * 100 for sku_id, price in prices.items()}

    other = replace(SKU, sku_id=8, price_fen=555)
    offers = policy.offers(None, [SKU, other], Buyer(42))  # type: ignore[arg-type]
    assert (offers[7].price_fen, offers[8].price_fen) == (1800, 400)
    assert seen == [([7, 8], Buyer(42), {7: 1990, 8: 555})]  # one call for the whole batch
    visitor = policy.offers(None, [SKU], None)  # type: ignore[arg-type]
    assert visitor[7].price_fen == 1900
    assert SKU.price_fen == 1990  # the SKU's own price is left as it is


@pytest.mark.parametrize("bad", [-1, 1.5, True, "100"])
def test_a_rule_that_gives_a_bad_price_fails_loudly(policy: sellability.Policy, bad: Any) -> None:
    def broken(*_args: Any) -> Mapping[int, int]:
        return {SKU.sku_id: bad}

    sellability.price_rule(broken)
    with pytest.raises(ValueError, match="price rule"):
        _offer(policy, SKU)
    sellability.remove_price_rule(broken)
    assert _offer(policy, SKU).price_fen == 1990


def test_another_policy_takes_over_for_every_caller_and_keeps_the_rules(
    policy: sellability.Policy,
) -> None:
    def rule(*_args: Any) -> Mapping[int, int]:
        return {SKU.sku_id: 1000}

    sellability.price_rule(rule)

    class NoStockNeeded(sellability.Policy):
        def availability(self, sku: SkuInfo) -> sellability.Refusal | None:
            return None

    old = sellability.use(NoStockNeeded())
    try:
        offer = _offer(sellability.current(), replace(SKU, product_on_sale=False))
        assert offer.is_available_to_buy and offer.price_fen == 1000
    finally:
        sellability.use(old)
    assert sellability.current() is policy


def test_load_skus_reads_the_product_and_the_shop_in_one_query(
    db: Session, make_user: Any, count_queries: Any
) -> None:
    shop = make_shop(db, make_user())
    product = make_product(db, shop, skus=[("红", 1000, 3), ("蓝", 2000, 0)], purchase_limit=2)
    red, blue = (s.id for s in product.skus)
    shop.is_active = False
    product.status = ProductStatus.OFF_SHELF
    db.commit()
    with count_queries() as counted:
        skus = sellability.load_skus(db, [red, blue, 99999])
    assert counted.count == 1 and set(skus) == {red, blue}
    assert skus[red] == SkuInfo(
        sku_id=red,
        product_id=product.id,
        shop_id=shop.id,
        shop_name=shop.name,
        shop_active=False,
        title=product.title,
        spec_text="红",
        price_fen=1000,
        stock_on_hand=3,
        sku_active=True,
        product_on_sale=False,
        purchase_limit=2,
        cover_path=None,
        weight_g=300,  # the factory's SKUs weigh 300 g
    )
    assert skus[red] == sellability.sku_facts(product, shop_name=shop.name, shop_active=False)[0]
    assert sellability.current().offers(db, skus, None)[red].unavailable.reason == "shop_closed"
    assert sellability.load_skus(db, []) == {}


def test_listings_filter_by_the_policy_in_sql_as_it_decides_in_python(
    db: Session, make_user: Any
) -> None:
    from xiaodian.catalog.storefront import service as storefront

    open_shop, closed_shop = make_shop(db, make_user()), make_shop(db, make_user())
    products = [
        make_product(db, shop, status=status)
        for shop in (open_shop, closed_shop)
        for status in (ProductStatus.ON_SALE, ProductStatus.OFF_SHELF)
    ]
    closed_shop.is_active = False
    db.commit()
    policy = sellability.current()
    shown = {
        p.id
        for p in products
        if policy.product_refusal(
            on_sale=p.status == ProductStatus.ON_SALE, shop_active=p.shop_id == open_shop.id
        )
        is None
    }
    listed = {card.id for card in storefront.list_products(db, page_size=100).items}
    assert listed == shown == {products[0].id}

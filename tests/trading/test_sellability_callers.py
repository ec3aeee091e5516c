"""Every place that sells asks the one sellability policy, so each refuses the same things
the same way: the product page, the cart (its view and adding to it), checkout's preview,
checkout, and the flash sale (opening one, buying in one). A price rule plugged into the
policy reaches all of them, except a flash sale's own live price."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import actor_for, make_address, make_product, make_shop
from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog import sellability
from xiaodian.catalog.models import ProductStatus
from xiaodian.catalog.sellability import Buyer, SkuInfo
from xiaodian.catalog.storefront import service as storefront
from xiaodian.content.live import flash, flash_purchase
from xiaodian.content.live import service as live
from xiaodian.errors import Conflict, DomainError, InvalidInput
from xiaodian.orders import cart, checkout, preview


@dataclass
class Scene:
    shop: Any
    product: Any
    sku_id: int
    host: Actor
    buyer: Actor
    address_id: int
    room_id: int

    def open_sale(self, db: Session, *, quantity: int = 2, price_fen: int = 990) -> Any:
        return flash.open_sale(
            db,
            self.host,
            self.room_id,
            flash.SaleInput(
                product_id=self.product.id,
                sku_id=self.sku_id,
                price_fen=price_fen,
                quantity=quantity,
                per_buyer_limit=1,
                duration_seconds=600,
            ),
        )


@pytest.fixture
def scene(db: Session, make_user: Any) -> Scene:
    owner, buyer = make_user(display_name="店主"), make_user(display_name="买家")
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("红色", 1990, 5)], purchase_limit=4)
    host = actor_for(owner, {shop.id: "owner"})
    room = live.create_room(
        db,
        host,
        live.RoomInput(
            title="直播",
            scheduled_at=clock.now() + timedelta(hours=1),
            shop_id=shop.id,
            stream_url="https://live.example.com/hls/a.m3u8",
            product_ids=[product.id],
        ),
    )
    live.transition(db, host, room.id, "go_live")
    address_id = make_address(db, buyer.id)
    return Scene(shop, product, product.skus[0].id, host, actor_for(buyer), address_id, room.id)


def _refused(db: Session, call: Any) -> DomainError:
    with pytest.raises(DomainError) as raised:
        call()
    db.rollback()
    return raised.value


def _codes(db: Session, scene: Scene, quantity: int) -> dict[str, str]:
    """The error code each refusing caller answers ``quantity`` units with."""
    lines = [(scene.sku_id, quantity)]
    return {
        "cart_add": _refused(
            db, lambda: cart.add_to_cart(db, scene.buyer, sku_id=scene.sku_id, quantity=quantity)
        ).code,
        "checkout": _refused(
            db,
            lambda: checkout.checkout(
                db, scene.buyer, lines=lines, address_id=scene.address_id, from_cart=False
            ),
        ).code,
    }


def _cart_problem(db: Session, scene: Scene) -> tuple[str | None, int]:
    (line,) = cart.get_cart(db, scene.buyer).lines
    db.rollback()
    return line.problem, line.problem_n


def _preview(db: Session, scene: Scene, quantity: int) -> preview.CheckoutPreview:
    view = preview.preview(db, scene.buyer, lines=[(scene.sku_id, quantity)])
    db.rollback()
    return view


@pytest.mark.parametrize("situation", ["unlisted", "shop_suspended", "sku_switched_off"])
def test_what_is_not_for_sale_is_refused_by_every_caller(
    db: Session, scene: Scene, situation: str
) -> None:
    cart.add_to_cart(db, scene.buyer, sku_id=scene.sku_id, quantity=1)
    running = scene.open_sale(db)
    flash.start_sale(db, scene.host, scene.room_id, running.id)
    if situation == "unlisted":
        scene.product.status = ProductStatus.OFF_SHELF
    elif situation == "shop_suspended":
        scene.shop.is_active = False
    else:
        scene.product.skus[0].is_active = False
    db.commit()

    if situation == "sku_switched_off":  # the page stays, without that SKU
        assert storefront.get_product(db, scene.product.id).skus == []
        opening = _refused(db, lambda: scene.open_sale(db))
        assert (opening.status_code, opening.code) == (404, "sku_not_found")
    else:
        page = _refused(db, lambda: storefront.get_product(db, scene.product.id))
        assert (page.status_code, page.code) == (404, "product_not_found")
        opening = _refused(db, lambda: scene.open_sale(db))
        assert (opening.status_code, opening.code) == (409, "unavailable")
    assert _cart_problem(db, scene) == ("off_shelf", 0)
    assert _preview(db, scene, 1).problems == ["No longer on sale"]
    assert _codes(db, scene, 1) == {"cart_add": "unavailable", "checkout": "unavailable"}
    buying = _refused(
        db,
        lambda: flash_purchase.buy(
            db, scene.buyer, room_id=scene.room_id, sale_id=running.id, quantity=1
        ),
    )
    assert (buying.status_code, buying.code) == (409, "unavailable")


def test_stock_is_refused_the_same_way_by_every_caller(db: Session, scene: Scene) -> None:
    page = storefront.get_product(db, scene.product.id)
    assert [(s.id, s.stock, s.available) for s in page.skus] == [(scene.sku_id, 5, True)]
    db.rollback()
    assert _codes(db, scene, 5 + 1) == {"cart_add": "out_of_stock", "checkout": "out_of_stock"}
    over = _refused(db, lambda: scene.open_sale(db, quantity=6))
    assert isinstance(over, InvalidInput) and (over.code, over.params["n"]) == ("over_stock", 5)
    assert _preview(db, scene, 6).problems == ["Not enough stock"]

    cart.add_to_cart(db, scene.buyer, sku_id=scene.sku_id, quantity=3)
    scene.product.skus[0].stock_on_hand = 2
    scene.product.skus[0].stock_received = 2
    db.commit()
    assert _cart_problem(db, scene) == ("short", 2)
    scene.product.skus[0].stock_on_hand = 0
    scene.product.skus[0].stock_received = 0
    db.commit()
    assert _cart_problem(db, scene) == ("sold_out", 0)
    page = storefront.get_product(db, scene.product.id)
    assert not page.in_stock and page.skus[0].stock == 0
    db.rollback()


def test_the_purchase_limit_is_refused_the_same_way_by_every_caller(
    db: Session, scene: Scene
) -> None:
    assert _codes(db, scene, 5) == {"cart_add": "purchase_limit", "checkout": "purchase_limit"}
    view = _preview(db, scene, 5)
    assert view.problems == [] and view.limit_error is not None
    assert view.limit_error.code == "purchase_limit" and view.limit_error.params["limit"] == 4
    checkout.checkout(
        db, scene.buyer, lines=[(scene.sku_id, 3)], address_id=scene.address_id, from_cart=False
    )
    cart.add_to_cart(db, scene.buyer, sku_id=scene.sku_id, quantity=1)  # 3 + 1: at the limit
    assert _cart_problem(db, scene) == (None, 0)
    refused = _refused(
        db, lambda: cart.update_cart_item(db, scene.buyer, _item_id(db, scene), quantity=2)
    )
    assert (refused.code, refused.params["bought"]) == ("purchase_limit", 3)
    assert _codes(db, scene, 2)["checkout"] == "purchase_limit"


def _item_id(db: Session, scene: Scene) -> int:
    (line,) = cart.get_cart(db, scene.buyer).lines
    item_id = int(line.item.id)
    db.rollback()
    return item_id


@pytest.fixture
def member_price() -> Iterator[list[Buyer | None]]:
    """A rule of a higher domain (campaigns, later): 300 fen off for signed-in buyers."""
    buyers: list[Buyer | None] = []

    def rule(
        _db: Session, skus: Sequence[SkuInfo], buyer: Buyer | None, prices: Mapping[int, int]
    ) -> Mapping[int, int]:
        buyers.append(buyer)
        return {s.sku_id: prices[s.sku_id] - 300 for s in skus} if buyer is not None else {}

    sellability.price_rule(rule)
    yield buyers
    sellability.remove_price_rule(rule)


def test_a_price_rule_reaches_the_cart_the_preview_and_the_order(
    db: Session, scene: Scene, member_price: list[Buyer | None]
) -> None:
    assert storefront.get_product(db, scene.product.id).skus[0].price_fen == 1990  # a visitor
    db.rollback()
    cart.add_to_cart(db, scene.buyer, sku_id=scene.sku_id, quantity=2)
    (line,) = cart.get_cart(db, scene.buyer).lines
    assert (line.price_fen, line.amount_fen, line.info.price_fen) == (1690, 3380, 1990)
    db.rollback()
    assert _preview(db, scene, 2).total_fen == 3380
    done = checkout.checkout(
        db, scene.buyer, lines=[(scene.sku_id, 2)], address_id=scene.address_id, from_cart=True
    )
    (order,) = done.orders
    assert order.total_fen == 3380 and order.lines[0].unit_price_fen == 1690
    assert Buyer(scene.buyer.user_id) in member_price  # type: ignore[arg-type]


def test_a_flash_sale_keeps_its_live_price_below_what_the_policy_charges(
    db: Session, scene: Scene, member_price: list[Buyer | None]
) -> None:
    sale = scene.open_sale(db, price_fen=1500)
    assert sale.regular_price_fen == 1990  # the price the policy gives everyone
    flash.start_sale(db, scene.host, scene.room_id, sale.id)
    done = flash_purchase.buy(db, scene.buyer, room_id=scene.room_id, sale_id=sale.id, quantity=1)
    assert done.amount_fen == 1500  # the server's price is not repriced by the rule
    with pytest.raises(Conflict):
        flash_purchase.buy(
            db, scene.buyer, room_id=scene.room_id, sale_id=sale.id, quantity=1
        )  # limit
    db.rollback()


def test_a_rule_that_reads_nothing_costs_checkout_no_statement(
    db: Session, scene: Scene, count_queries: Any
) -> None:
    def place() -> int:
        with count_queries() as counted:
            checkout.checkout(
                db,
                scene.buyer,
                lines=[(scene.sku_id, 1)],
                address_id=scene.address_id,
                from_cart=False,
            )
        return int(counted.count)

    plain = place()

    def rule(_db: Session, skus: Sequence[SkuInfo], *_rest: Any) -> Mapping[int, int]:
        return {s.sku_id: 100 for s in skus}

    sellability.price_rule(rule)
    try:
        assert place() == plain
    finally:
        sellability.remove_price_rule(rule)

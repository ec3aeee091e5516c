"""JSON API of the orders domain: cart, addresses, checkout, buyer orders, merchant orders."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated

from fastapi import File, Header, Path, Query, Request, Response, UploadFile, status
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.orders import addresses, cart, fulfilment, service
from xiaodian.orders.addresses import AddressInput
from xiaodian.orders.checkout import Channel, checkout
from xiaodian.orders.schemas import (
    AddressIn,
    AddressOut,
    BatchErrorOut,
    BatchOut,
    CarrierOut,
    CartAddIn,
    CartItemOut,
    CartOut,
    CartPatchIn,
    CheckoutIn,
    CheckoutOut,
    OrderDetailOut,
    OrderListOut,
    OrderOut,
    ShipIn,
)
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn, request_touch
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id, PageNo

router = routing.router(tags=["orders"], responses=error_responses(401, 403, 404, 409, 413, 422))

OrderNo = Annotated[str, Path(min_length=8, max_length=24, pattern=r"^\d+$")]


def pay_url(order_nos: list[str]) -> str:
    return "/pay?orders=" + ",".join(order_nos)


# --------------------------------------------------------------------------- cart


@router.get("/cart")
def get_cart(db: DbDep, actor: SignedIn) -> CartOut:
    """The cart grouped by shop, at today's prices, with any problem per line."""
    return CartOut.of(cart.get_cart(db, actor))


@router.post("/cart/items", status_code=status.HTTP_201_CREATED)
def add_cart_item(body: CartAddIn, db: DbDep, actor: SignedIn) -> CartItemOut:
    """Add a SKU (quantities add up to at most 999)."""
    item = cart.add_to_cart(db, actor, sku_id=body.sku_id, quantity=body.quantity)
    return CartItemOut.model_validate(item)


@router.patch("/cart/items/{item_id}")
def patch_cart_item(item_id: Id, body: CartPatchIn, db: DbDep, actor: SignedIn) -> CartItemOut:
    item = cart.update_cart_item(db, actor, item_id, quantity=body.quantity, selected=body.selected)
    return CartItemOut.model_validate(item)


@router.delete("/cart/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_cart_item(item_id: Id, db: DbDep, actor: SignedIn) -> None:
    cart.remove_cart_item(db, actor, item_id)


# --------------------------------------------------------------------------- addresses


def _address_input(body: AddressIn) -> AddressInput:
    return AddressInput(**body.model_dump())


@router.get("/addresses")
def list_addresses(db: DbDep, actor: SignedIn) -> list[AddressOut]:
    return [AddressOut.of(a) for a in addresses.list_addresses(db, actor)]


@router.post("/addresses", status_code=status.HTTP_201_CREATED)
def create_address(body: AddressIn, db: DbDep, actor: SignedIn) -> AddressOut:
    return AddressOut.of(addresses.create_address(db, actor, _address_input(body)))


@router.get("/addresses/{address_id}")
def get_address(address_id: Id, db: DbDep, actor: SignedIn) -> AddressOut:
    return AddressOut.of(addresses.get_address(db, actor, address_id))


@router.put("/addresses/{address_id}")
def update_address(address_id: Id, body: AddressIn, db: DbDep, actor: SignedIn) -> AddressOut:
    return AddressOut.of(addresses.update_address(db, actor, address_id, _address_input(body)))


@router.post("/addresses/{address_id}/default")
def default_address(address_id: Id, db: DbDep, actor: SignedIn) -> AddressOut:
    return AddressOut.of(addresses.set_default_address(db, actor, address_id))


@router.delete("/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_address(address_id: Id, db: DbDep, actor: SignedIn) -> None:
    addresses.delete_address(db, actor, address_id)


# --------------------------------------------------------------------------- checkout


@router.post("/checkout", status_code=status.HTTP_201_CREATED)
def post_checkout(
    request: Request,
    body: CheckoutIn,
    db: DbDep,
    actor: SignedIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)] = None,
) -> CheckoutOut:
    """Place one order per shop at today's prices (client prices are ignored).

    Send an ``Idempotency-Key`` header: the same key returns the same orders; the same key
    with a different body is 409. Then pay at ``pay_url``.
    """
    return place(db, actor, body, touch=request_touch(request), idempotency_key=idempotency_key)


def place(
    db: Session, actor: Actor, body: CheckoutIn, *, touch: str, idempotency_key: str | None
) -> CheckoutOut:
    """The checkout route's work (also the fast path's, ``orders.fastpath``)."""
    channel = Channel(body.channel.type, body.channel.id) if body.channel else Channel()
    channel = replace(channel, touch=touch)
    result = checkout(
        db,
        actor,
        lines=[(line.sku_id, line.quantity) for line in body.lines],
        address_id=body.address_id,
        note=body.note,
        channel=channel,
        idempotency_key=idempotency_key,
        from_cart=body.from_cart,
        coupons=body.coupon_ids,
    )
    return CheckoutOut(
        orders=[OrderOut.of(o) for o in result.orders],
        pay_url=pay_url([o.order_no for o in result.orders]),
        replayed=result.replayed,
    )


# --------------------------------------------------------------------------- buyer orders


@router.get("/orders")
def list_orders(
    db: DbDep,
    actor: SignedIn,
    tab: Annotated[str, Query(max_length=20)] = "all",
    page: PageNo = 1,
) -> OrderListOut:
    """The buyer's orders; tab = all | unpaid | to_ship | to_receive | completed | aftersale."""
    result = service.list_my_orders(db, actor, tab=tab, page=page)
    return OrderListOut(
        orders=[OrderOut.of(o) for o in result.orders],
        total=result.total,
        page=result.page,
        pages=result.pages,
    )


@router.get("/orders/{order_no}")
def get_order(order_no: OrderNo, db: DbDep, actor: SignedIn) -> OrderDetailOut:
    order = service.get_my_order(db, actor, order_no)
    return OrderDetailOut.with_events(order, service.order_events(db, order.id))


@router.post("/orders/{order_no}/cancel")
def cancel_order(order_no: OrderNo, db: DbDep, actor: SignedIn) -> OrderOut:
    """Cancel an unpaid order (its stock is released)."""
    return OrderOut.of(service.cancel_order(db, actor, order_no))


@router.post("/orders/{order_no}/confirm")
def confirm_order(order_no: OrderNo, db: DbDep, actor: SignedIn) -> OrderOut:
    """Confirm receipt of a shipped order."""
    return OrderOut.of(service.confirm_receipt(db, actor, order_no))


# --------------------------------------------------------------------------- merchant


@router.get("/carriers")
def carriers() -> list[CarrierOut]:
    return [CarrierOut(code=c.code, name=c.name) for c in fulfilment.CARRIERS.values()]


@router.get("/merchant/shops/{shop_id}/orders")
def shop_orders(
    shop_id: Id,
    db: DbDep,
    actor: SignedIn,
    status_: Annotated[str, Query(alias="status", max_length=30)] = "",
    page: PageNo = 1,
) -> OrderListOut:
    result = fulfilment.list_shop_orders(db, actor, shop_id, status=status_, page=page)
    return OrderListOut(
        orders=[OrderOut.of(o) for o in result.orders],
        total=result.total,
        page=result.page,
        pages=result.pages,
    )


@router.get(
    "/merchant/shops/{shop_id}/orders/export.csv",
    response_class=Response,
    responses={200: {"description": "The orders as CSV (UTF-8)", "content": {"text/csv": {}}}},
)
def export_orders(
    shop_id: Id,
    db: DbDep,
    actor: SignedIn,
    status_: Annotated[str, Query(alias="status", max_length=30)] = "",
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    data = fulfilment.export_csv(
        db, actor, shop_id, status=status_, date_from=date_from, date_to=date_to
    )
    return csv_response(data, shop_id)


def csv_response(data: bytes, shop_id: int) -> Response:
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="orders-{shop_id}.csv"'},
    )


@router.post("/merchant/shops/{shop_id}/orders/ship-batch")
async def ship_batch(
    request: Request, shop_id: Id, db: DbDep, actor: SignedIn, file: UploadFile = File(...)
) -> BatchOut:
    """Ship from a CSV ``order_no,carrier,tracking_no``; bad rows reported by line number."""
    data = await file.read(fulfilment.MAX_CSV_BYTES + 1)
    result = fulfilment.ship_batch(
        db,
        actor,
        shop_id,
        data,
        content_type=file.content_type or "",
        filename=file.filename or "",
    )
    gettext = request.state.gettext
    return BatchOut(
        shipped=result.shipped,
        errors=[
            BatchErrorOut(line=line, order_no=no, code=exc.code, message=exc.render(gettext))
            for line, no, exc in result.errors
        ],
    )


@router.get("/merchant/shops/{shop_id}/orders/{order_no}")
def shop_order(shop_id: Id, order_no: OrderNo, db: DbDep, actor: SignedIn) -> OrderDetailOut:
    order = fulfilment.shop_order(db, actor, shop_id, order_no)
    return OrderDetailOut.with_events(order, service.order_events(db, order.id))


@router.post("/merchant/shops/{shop_id}/orders/{order_no}/ship")
def ship(shop_id: Id, order_no: OrderNo, body: ShipIn, db: DbDep, actor: SignedIn) -> OrderOut:
    order = fulfilment.ship_order(
        db, actor, shop_id, order_no, carrier=body.carrier, tracking_no=body.tracking_no
    )
    return OrderOut.of(order)

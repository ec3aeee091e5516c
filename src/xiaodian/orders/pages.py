"""HTML pages of the orders domain: cart, checkout, addresses, buyer orders, and the
merchant console's orders section."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import addresses, adjust, cart, fulfilment, lifecycle, service, states
from xiaodian.orders.addresses import AddressInput
from xiaodian.orders.api import csv_response, pay_url
from xiaodian.orders.checkout import Channel, checkout
from xiaodian.orders.models import OrderStatus
from xiaodian.orders.preview import preview
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser, request_touch, safe_next
from xiaodian.web.forms import see_other
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_int

router = routing.router(include_in_schema=False)

OrderNo = Annotated[str, Path(min_length=8, max_length=24, pattern=r"^\d+$")]


def _common() -> dict[str, Any]:
    return {
        "status_labels": states.STATUS_LABELS,
        "action_labels": states.ACTION_LABELS,
        "carriers": fulfilment.CARRIERS,
        "S": OrderStatus,
    }


# --------------------------------------------------------------------------- cart


CART = "orders/cart.html"


def _cart_ctx(db: DbDep, actor: Actor) -> dict[str, Any]:
    return {"cart": cart.get_cart(db, actor), "problems": cart.PROBLEMS, **_common()}


@router.get("/cart")
def cart_page(request: Request, db: DbDep, actor: PageUser) -> Response:
    return render(request, CART, _cart_ctx(db, actor))


PAGE_CHANNELS = ("video", "live")


def _page_channel(kind: str, ref: str) -> Channel:
    """A channel claimed by a page form (a video's buy sheet, a product page opened from a
    live room's 小黄车); shelf otherwise. Checkout checks the claim against the video or
    room (``create_orders``), so a made-up one attributes nothing."""
    if kind in PAGE_CHANNELS:
        try:
            return Channel(kind, form_int(ref, lo=1))
        except ValueError:
            pass
    return Channel()


@router.post("/cart/items")
def cart_add(
    request: Request,
    db: DbDep,
    actor: PageUser,
    sku_id: Annotated[Id, Form()],
    quantity: Annotated[int, Form(ge=1, le=999)] = 1,
    buy_now: Annotated[str, Form(max_length=5)] = "",
    channel: Annotated[str, Form(max_length=10)] = "",
    channel_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """The product page's form: add to cart, or (``buy_now=1``) go straight to checkout.

    ``channel``/``channel_id`` (e.g. a short video's buy button) ride along to checkout,
    where the server checks them (``orders.lifecycle.prove_channel``)."""
    if buy_now in ("1", "true", "on"):
        via = _page_channel(channel, channel_id)
        extra = f"&channel={via.type}&channel_id={via.ref_id}" if via.ref_id else ""
        return see_other(f"/checkout?sku={sku_id}&qty={quantity}{extra}")
    return forms.submit(
        request,
        db,
        lambda: cart.add_to_cart(db, actor, sku_id=sku_id, quantity=quantity),
        done="/cart",
        template=CART,
        context=lambda: _cart_ctx(db, actor),
    )


@router.post("/cart/items/{item_id}")
def cart_update(
    request: Request,
    item_id: Id,
    db: DbDep,
    actor: PageUser,
    quantity: Annotated[int, Form(ge=1, le=999)],
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: cart.update_cart_item(db, actor, item_id, quantity=quantity),
        done="/cart",
        template=CART,
        context=lambda: _cart_ctx(db, actor),
    )


@router.post("/cart/items/{item_id}/delete")
def cart_remove(request: Request, item_id: Id, db: DbDep, actor: PageUser) -> Response:
    cart.remove_cart_item(db, actor, item_id)
    return see_other("/cart")


@router.post("/cart/checkout")
async def cart_checkout(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Check out the ticked lines: remember the selection, then show checkout."""
    form = await request.form()
    ids = []
    for value in form.getlist("item"):
        try:
            item_id = form_int(value)
        except ValueError:
            continue
        if item_id > 0:
            ids.append(item_id)
    if not ids:  # before select_items, which would untick every line
        return forms.page_again(
            request,
            db,
            InvalidInput(_("Choose at least one item."), code="no_items"),
            template=CART,
            context=_cart_ctx(db, actor),
        )
    cart.select_items(db, actor, ids[:200])
    return see_other("/checkout")


# --------------------------------------------------------------------------- checkout


CHECKOUT = "orders/checkout.html"


def _checkout_ctx(
    db: DbDep,
    actor: Actor,
    lines: list[tuple[int, int]],
    *,
    from_cart: bool,
    address_id: int | None = None,
    coupons: list[int] | None = None,
) -> dict[str, Any]:
    my_addresses = addresses.list_addresses(db, actor)
    picked = next((a for a in my_addresses if a.id == address_id), None)
    picked = picked or (my_addresses[0] if my_addresses else None)
    chosen = picked.id if picked is not None else None
    snapshot = picked.snapshot() if picked is not None else None
    view = preview(db, actor, lines=lines, coupons=coupons, address=snapshot) if lines else None
    return {
        "preview": view,
        "addresses": my_addresses,
        "chosen": chosen,
        "from_cart": from_cart,
        "form_key": secrets.token_urlsafe(24),
        "note": "",
        **_common(),
    }


@router.get("/checkout")
def checkout_page(
    request: Request,
    db: DbDep,
    actor: PageUser,
    sku: Annotated[Id | None, Query()] = None,
    qty: Annotated[int, Query(ge=1, le=999)] = 1,
    address: Annotated[Id | None, Query()] = None,
) -> Response:
    """The checkout page; ``address``: the address chosen on it (the shipping fees shown
    are to it; the page reloads with it when the buyer picks another)."""
    if sku is not None:
        return render(
            request,
            CHECKOUT,
            _checkout_ctx(db, actor, [(sku, qty)], from_cart=False, address_id=address),
        )
    lines = cart.selected_lines(db, actor)
    if not lines:
        return see_other("/cart")
    return render(
        request, CHECKOUT, _checkout_ctx(db, actor, lines, from_cart=True, address_id=address)
    )


@router.post("/checkout")
async def checkout_submit(request: Request, db: DbDep, actor: PageUser) -> Response:
    """The checkout form (one or more lines, read from the form as sent).

    If the checkout page cannot be built again for its error (the product is gone), the
    app's error page shows that error instead."""
    form = await request.form()

    def field(name: str, limit: int = 200) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    from_cart = field("from_cart") == "1"
    try:
        skus = [form_int(v) for v in form.getlist("sku_id")][:60]
        qtys = [form_int(v) for v in form.getlist("quantity")][:60]
        if len(skus) != len(qtys) or not skus:
            raise ValueError
    except ValueError:
        raise InvalidInput(_("Choose at least one item.")) from None
    lines = list(zip(skus, qtys, strict=True))
    try:  # the coupons ticked on the page (none ticked: none)
        coupons = [form_int(v) for v in form.getlist("coupon_id")][: adjust.MAX_CHOSEN + 1]
    except ValueError:
        raise InvalidInput(_("Coupons must be a list of ids."), code="bad_coupons") from None
    note = field("note", 400)
    try:
        address_id: int | None = form_int(field("address_id", 12))
    except ValueError:
        address_id = None

    def place() -> Any:
        if address_id is None:
            raise InvalidInput(_("Choose a shipping address."), code="no_address")
        return checkout(
            db,
            actor,
            lines=lines,
            address_id=address_id,
            note=note,
            idempotency_key=field("form_key", 100) or None,
            from_cart=from_cart,
            channel=replace(
                _page_channel(field("channel", 10), field("channel_id", 12)),
                touch=request_touch(request),
            ),
            coupons=coupons,
        )

    return forms.submit(
        request,
        db,
        place,
        done=lambda result: pay_url([o.order_no for o in result.orders]),
        template=CHECKOUT,
        context=lambda: _checkout_ctx(
            db, actor, lines, from_cart=from_cart, address_id=address_id, coupons=coupons
        ),
        values={"note": note},
        page_errors=(),
    )


# --------------------------------------------------------------------------- addresses


ADDRESS_FORM = "orders/address_form.html"


def _address_ctx(address: Any = None, *, next_url: str = "") -> dict[str, Any]:
    return {
        "address": address,
        "values": address.__dict__ if address is not None else {},
        "next": safe_next(next_url, default=""),
    }


@router.get("/addresses")
def address_list(request: Request, db: DbDep, actor: PageUser) -> Response:
    return render(
        request, "orders/addresses.html", {"addresses": addresses.list_addresses(db, actor)}
    )


@router.get("/addresses/new")
def address_new(request: Request, actor: PageUser, next: str = "") -> Response:
    return render(request, ADDRESS_FORM, _address_ctx(next_url=next))


def _read_address(
    name: str, phone: str, province: str, city: str, district: str, detail: str, default: str
) -> AddressInput:
    return AddressInput(
        name=name,
        phone=phone,
        province=province,
        city=city,
        district=district,
        detail=detail,
        is_default=default in ("1", "on", "true"),
    )


AddrField = Annotated[str, Form(max_length=240)]


@router.post("/addresses")
def address_create(
    request: Request,
    db: DbDep,
    actor: PageUser,
    name: AddrField = "",
    phone: AddrField = "",
    province: AddrField = "",
    city: AddrField = "",
    district: AddrField = "",
    detail: AddrField = "",
    is_default: Annotated[str, Form(max_length=5)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    data = _read_address(name, phone, province, city, district, detail, is_default)
    return forms.submit(
        request,
        db,
        lambda: addresses.create_address(db, actor, data),
        done=safe_next(next, default="/addresses"),
        template=ADDRESS_FORM,
        context=_address_ctx(next_url=next),
        values={"values": data.__dict__},
    )


@router.get("/addresses/{address_id}/edit")
def address_edit(request: Request, address_id: Id, db: DbDep, actor: PageUser) -> Response:
    return render(request, ADDRESS_FORM, _address_ctx(addresses.get_address(db, actor, address_id)))


@router.post("/addresses/{address_id}")
def address_update(
    request: Request,
    address_id: Id,
    db: DbDep,
    actor: PageUser,
    name: AddrField = "",
    phone: AddrField = "",
    province: AddrField = "",
    city: AddrField = "",
    district: AddrField = "",
    detail: AddrField = "",
    is_default: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    data = _read_address(name, phone, province, city, district, detail, is_default)
    return forms.submit(
        request,
        db,
        lambda: addresses.update_address(db, actor, address_id, data),
        done="/addresses",
        template=ADDRESS_FORM,
        context=lambda: _address_ctx(addresses.get_address(db, actor, address_id)),
        values={"values": data.__dict__},
    )


@router.post("/addresses/{address_id}/delete")
def address_delete(request: Request, address_id: Id, db: DbDep, actor: PageUser) -> Response:
    addresses.delete_address(db, actor, address_id)
    return see_other("/addresses")


@router.post("/addresses/{address_id}/default")
def address_default(request: Request, address_id: Id, db: DbDep, actor: PageUser) -> Response:
    addresses.set_default_address(db, actor, address_id)
    return see_other("/addresses")


# --------------------------------------------------------------------------- buyer orders


@router.get("/orders")
def order_list(
    request: Request,
    db: DbDep,
    actor: PageUser,
    tab: Annotated[str, Query(max_length=20)] = "all",
    page: PageNo = 1,
) -> Response:
    if tab not in service.TABS:
        tab = "all"
    result = service.list_my_orders(db, actor, tab=tab, page=page)
    return render(
        request,
        "orders/list.html",
        {"result": result, "tab": tab, "tabs": service.TABS, **_common()},
    )


ORDER = "orders/detail.html"


def _order_ctx(db: DbDep, actor: Actor, order_no: str) -> dict[str, Any]:
    order = service.get_my_order(db, actor, order_no)
    return {
        "order": order,
        "events": service.order_events(db, order.id),
        "panels": lifecycle.order_panels(db, order),
        "pay_url": pay_url([order.order_no]),
        **_common(),
    }


@router.get("/orders/{order_no}")
def order_detail(request: Request, order_no: OrderNo, db: DbDep, actor: PageUser) -> Response:
    return render(request, ORDER, _order_ctx(db, actor, order_no))


@router.post("/orders/{order_no}/cancel")
def order_cancel(request: Request, order_no: OrderNo, db: DbDep, actor: PageUser) -> Response:
    return forms.submit(
        request,
        db,
        lambda: service.cancel_order(db, actor, order_no),
        done=f"/orders/{order_no}",
        template=ORDER,
        context=lambda: _order_ctx(db, actor, order_no),
    )


@router.post("/orders/{order_no}/confirm")
def order_confirm(request: Request, order_no: OrderNo, db: DbDep, actor: PageUser) -> Response:
    return forms.submit(
        request,
        db,
        lambda: service.confirm_receipt(db, actor, order_no),
        done=f"/orders/{order_no}",
        template=ORDER,
        context=lambda: _order_ctx(db, actor, order_no),
    )


# --------------------------------------------------------------------------- merchant


MERCHANT_LIST = "orders/merchant_list.html"
MERCHANT_ORDER = "orders/merchant_detail.html"


def _merchant_list_ctx(
    db: DbDep, actor: Actor, shop_id: int, *, status: str = "", page: int = 1
) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    result = fulfilment.list_shop_orders(db, actor, shop_id, status=status, page=page)
    return {
        "shop": shop,
        "section": "orders",
        "result": result,
        "status": status,
        "counts": fulfilment.status_counts(db, actor, shop_id),
        "batch": None,
        **_common(),
    }


@router.get("/merchant/shops/{shop_id}/orders")
def merchant_orders(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    status: Annotated[str, Query(max_length=30)] = "",
    page: PageNo = 1,
) -> Response:
    if status and status not in {s.value for s in OrderStatus}:
        status = ""
    ctx = _merchant_list_ctx(db, actor, shop_id, status=status, page=page)
    return render(request, MERCHANT_LIST, ctx)


@router.get("/merchant/shops/{shop_id}/orders/export.csv")
def merchant_export(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    status: Annotated[str, Query(max_length=30)] = "",
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    data = fulfilment.export_csv(
        db, actor, shop_id, status=status, date_from=date_from, date_to=date_to
    )
    return csv_response(data, shop_id)


@router.post("/merchant/shops/{shop_id}/orders/ship-batch")
async def merchant_ship_batch(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    """A CSV of tracking numbers: the list again with what was shipped and what was not."""
    data = await file.read(fulfilment.MAX_CSV_BYTES + 1)
    return forms.submit(
        request,
        db,
        lambda: fulfilment.ship_batch(
            db,
            actor,
            shop_id,
            data,
            content_type=file.content_type or "",
            filename=file.filename or "",
        ),
        done=lambda batch: render(
            request, MERCHANT_LIST, {**_merchant_list_ctx(db, actor, shop_id), "batch": batch}
        ),
        template=MERCHANT_LIST,
        context=lambda: _merchant_list_ctx(db, actor, shop_id),
    )


def _merchant_order_ctx(db: DbDep, actor: Actor, shop_id: int, order_no: str) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    order = fulfilment.shop_order(db, actor, shop_id, order_no)
    return {
        "shop": shop,
        "section": "orders",
        "order": order,
        "events": service.order_events(db, order.id),
        "values": {},
        **_common(),
    }


@router.get("/merchant/shops/{shop_id}/orders/{order_no}")
def merchant_order(
    request: Request, shop_id: Id, order_no: OrderNo, db: DbDep, actor: PageUser
) -> Response:
    return render(request, MERCHANT_ORDER, _merchant_order_ctx(db, actor, shop_id, order_no))


@router.post("/merchant/shops/{shop_id}/orders/{order_no}/ship")
def merchant_ship(
    request: Request,
    shop_id: Id,
    order_no: OrderNo,
    db: DbDep,
    actor: PageUser,
    carrier: Annotated[str, Form(max_length=20)] = "",
    tracking_no: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: fulfilment.ship_order(
            db, actor, shop_id, order_no, carrier=carrier, tracking_no=tracking_no
        ),
        done=f"/merchant/shops/{shop_id}/orders/{order_no}",
        template=MERCHANT_ORDER,
        context=lambda: _merchant_order_ctx(db, actor, shop_id, order_no),
        values={"values": {"carrier": carrier, "tracking_no": tracking_no}},
    )

"""HTML pages of the orders domain: cart, checkout, addresses, buyer orders, and the
merchant console's orders section."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from xiaodian.actor import Actor
from xiaodian.errors import DomainError, InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import addresses, cart, fulfilment, service, states
from xiaodian.orders.addresses import AddressInput
from xiaodian.orders.api import csv_response, pay_url
from xiaodian.orders.checkout import Channel, checkout
from xiaodian.orders.models import OrderStatus
from xiaodian.orders.preview import preview
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep
from xiaodian.web.errors import sign_in_redirect
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_int

router = routing.router(include_in_schema=False)

OrderNo = Annotated[str, Path(min_length=8, max_length=24, pattern=r"^\d+$")]


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _common() -> dict[str, Any]:
    return {
        "status_labels": states.STATUS_LABELS,
        "action_labels": states.ACTION_LABELS,
        "carriers": fulfilment.CARRIERS,
        "S": OrderStatus,
    }


# --------------------------------------------------------------------------- cart


def _cart_page(
    request: Request, db: DbDep, actor: Actor, error: str | None = None, status: int = 200
) -> Response:
    view = cart.get_cart(db, actor)
    return render(
        request,
        "orders/cart.html",
        {"cart": view, "problems": cart.PROBLEMS, "error": error, **_common()},
        status_code=status,
    )


@router.get("/cart")
def cart_page(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _cart_page(request, db, actor)


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
    actor: CurrentActor,
    sku_id: Annotated[Id, Form()],
    quantity: Annotated[int, Form(ge=1, le=999)] = 1,
    buy_now: Annotated[str, Form(max_length=5)] = "",
    channel: Annotated[str, Form(max_length=10)] = "",
    channel_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """The product page's form: add to cart, or (``buy_now=1``) go straight to checkout.

    ``channel``/``channel_id`` (e.g. a short video's buy button) ride along to checkout,
    where the server checks them (``orders.lifecycle.prove_channel``)."""
    if not actor.is_authenticated:
        referer = request.headers.get("referer", "")
        path = "/" + referer.split("://", 1)[-1].split("/", 1)[-1] if "://" in referer else "/"
        return _see_other("/login?next=" + quote(path if path.startswith("/") else "/", safe=""))
    if buy_now in ("1", "true", "on"):
        via = _page_channel(channel, channel_id)
        extra = f"&channel={via.type}&channel_id={via.ref_id}" if via.ref_id else ""
        return _see_other(f"/checkout?sku={sku_id}&qty={quantity}{extra}")
    try:
        cart.add_to_cart(db, actor, sku_id=sku_id, quantity=quantity)
    except DomainError as exc:
        db.rollback()
        return _cart_page(request, db, actor, exc.render(request.state.gettext), exc.status_code)
    return _see_other("/cart")


@router.post("/cart/items/{item_id}")
def cart_update(
    request: Request,
    item_id: Id,
    db: DbDep,
    actor: CurrentActor,
    quantity: Annotated[int, Form(ge=1, le=999)],
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    try:
        cart.update_cart_item(db, actor, item_id, quantity=quantity)
    except DomainError as exc:
        db.rollback()
        return _cart_page(request, db, actor, exc.render(request.state.gettext), exc.status_code)
    return _see_other("/cart")


@router.post("/cart/items/{item_id}/delete")
def cart_remove(request: Request, item_id: Id, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    cart.remove_cart_item(db, actor, item_id)
    return _see_other("/cart")


@router.post("/cart/checkout")
async def cart_checkout(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    """Check out the ticked lines: remember the selection, then show checkout."""
    if not actor.is_authenticated:
        return sign_in_redirect(request)
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
        return _cart_page(
            request, db, actor, request.state.gettext("Choose at least one item."), 422
        )
    cart.select_items(db, actor, ids[:200])
    return _see_other("/checkout")


# --------------------------------------------------------------------------- checkout


def _checkout_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    lines: list[tuple[int, int]],
    *,
    from_cart: bool,
    error: str | None = None,
    status: int = 200,
    address_id: int | None = None,
    note: str = "",
) -> Response:
    view = preview(db, actor, lines=lines) if lines else None
    my_addresses = addresses.list_addresses(db, actor)
    chosen = address_id or (my_addresses[0].id if my_addresses else None)
    return render(
        request,
        "orders/checkout.html",
        {
            "preview": view,
            "addresses": my_addresses,
            "chosen": chosen,
            "from_cart": from_cart,
            "form_key": secrets.token_urlsafe(24),
            "error": error,
            "note": note,
            **_common(),
        },
        status_code=status,
    )


@router.get("/checkout")
def checkout_page(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    sku: Annotated[Id | None, Query()] = None,
    qty: Annotated[int, Query(ge=1, le=999)] = 1,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    if sku is not None:
        return _checkout_page(request, db, actor, [(sku, qty)], from_cart=False)
    lines = cart.selected_lines(db, actor)
    if not lines:
        return _see_other("/cart")
    return _checkout_page(request, db, actor, lines, from_cart=True)


@router.post("/checkout")
async def checkout_submit(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    form = await request.form()
    gettext = request.state.gettext

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
        error = InvalidInput(_("Choose at least one item."))
        return render(
            request,
            "errors/error.html",
            {"status": 422, "code": error.code, "message": error.render(gettext)},
            status_code=422,
        )
    lines = list(zip(skus, qtys, strict=True))
    note = field("note", 400)
    try:
        address_id: int | None = form_int(field("address_id", 12))
    except ValueError:
        address_id = None
    try:
        if address_id is None:
            raise InvalidInput(_("Choose a shipping address."), code="no_address")
        result = checkout(
            db,
            actor,
            lines=lines,
            address_id=address_id,
            note=note,
            idempotency_key=field("form_key", 100) or None,
            from_cart=from_cart,
            channel=_page_channel(field("channel", 10), field("channel_id", 12)),
        )
    except DomainError as exc:
        db.rollback()
        try:
            return _checkout_page(
                request,
                db,
                actor,
                lines,
                from_cart=from_cart,
                error=exc.render(gettext),
                status=exc.status_code,
                address_id=address_id,
                note=note,
            )
        except DomainError as again:
            db.rollback()
            return render(
                request,
                "errors/error.html",
                {"status": again.status_code, "code": again.code, "message": again.render(gettext)},
                status_code=again.status_code,
            )
    return _see_other(pay_url([o.order_no for o in result.orders]))


# --------------------------------------------------------------------------- addresses


def _address_form(
    request: Request,
    address: Any = None,
    *,
    error: str | None = None,
    status: int = 200,
    values: dict[str, Any] | None = None,
    next_url: str = "",
) -> Response:
    return render(
        request,
        "orders/address_form.html",
        {
            "address": address,
            "values": values or (address.__dict__ if address is not None else {}),
            "error": error,
            "next": next_url if next_url.startswith("/") and not next_url.startswith("//") else "",
        },
        status_code=status,
    )


@router.get("/addresses")
def address_list(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return render(
        request, "orders/addresses.html", {"addresses": addresses.list_addresses(db, actor)}
    )


@router.get("/addresses/new")
def address_new(request: Request, actor: CurrentActor, next: str = "") -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _address_form(request, next_url=next)


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
    actor: CurrentActor,
    name: AddrField = "",
    phone: AddrField = "",
    province: AddrField = "",
    city: AddrField = "",
    district: AddrField = "",
    detail: AddrField = "",
    is_default: Annotated[str, Form(max_length=5)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    data = _read_address(name, phone, province, city, district, detail, is_default)
    try:
        addresses.create_address(db, actor, data)
    except DomainError as exc:
        db.rollback()
        return _address_form(
            request,
            error=exc.render(request.state.gettext),
            status=exc.status_code,
            values=data.__dict__,
            next_url=next,
        )
    safe = next if next.startswith("/") and not next.startswith("//") else "/addresses"
    return _see_other(safe)


@router.get("/addresses/{address_id}/edit")
def address_edit(request: Request, address_id: Id, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _address_form(request, addresses.get_address(db, actor, address_id))


@router.post("/addresses/{address_id}")
def address_update(
    request: Request,
    address_id: Id,
    db: DbDep,
    actor: CurrentActor,
    name: AddrField = "",
    phone: AddrField = "",
    province: AddrField = "",
    city: AddrField = "",
    district: AddrField = "",
    detail: AddrField = "",
    is_default: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    data = _read_address(name, phone, province, city, district, detail, is_default)
    try:
        addresses.update_address(db, actor, address_id, data)
    except NotFound:
        raise
    except DomainError as exc:
        db.rollback()
        address = addresses.get_address(db, actor, address_id)
        return _address_form(
            request,
            address,
            error=exc.render(request.state.gettext),
            status=exc.status_code,
            values=data.__dict__,
        )
    return _see_other("/addresses")


@router.post("/addresses/{address_id}/delete")
def address_delete(request: Request, address_id: Id, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    addresses.delete_address(db, actor, address_id)
    return _see_other("/addresses")


@router.post("/addresses/{address_id}/default")
def address_default(request: Request, address_id: Id, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    addresses.set_default_address(db, actor, address_id)
    return _see_other("/addresses")


# --------------------------------------------------------------------------- buyer orders


@router.get("/orders")
def order_list(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    tab: Annotated[str, Query(max_length=20)] = "all",
    page: PageNo = 1,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    if tab not in service.TABS:
        tab = "all"
    result = service.list_my_orders(db, actor, tab=tab, page=page)
    return render(
        request,
        "orders/list.html",
        {"result": result, "tab": tab, "tabs": service.TABS, **_common()},
    )


def _order_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    order_no: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    order = service.get_my_order(db, actor, order_no)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "events": service.order_events(db, order.id),
            "pay_url": pay_url([order.order_no]),
            "error": error,
            **_common(),
        },
        status_code=status,
    )


@router.get("/orders/{order_no}")
def order_detail(request: Request, order_no: OrderNo, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _order_page(request, db, actor, order_no)


@router.post("/orders/{order_no}/cancel")
def order_cancel(request: Request, order_no: OrderNo, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    try:
        service.cancel_order(db, actor, order_no)
    except NotFound:
        raise
    except DomainError as exc:
        db.rollback()
        return _order_page(
            request, db, actor, order_no, exc.render(request.state.gettext), exc.status_code
        )
    return _see_other(f"/orders/{order_no}")


@router.post("/orders/{order_no}/confirm")
def order_confirm(request: Request, order_no: OrderNo, db: DbDep, actor: CurrentActor) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    try:
        service.confirm_receipt(db, actor, order_no)
    except NotFound:
        raise
    except DomainError as exc:
        db.rollback()
        return _order_page(
            request, db, actor, order_no, exc.render(request.state.gettext), exc.status_code
        )
    return _see_other(f"/orders/{order_no}")


# --------------------------------------------------------------------------- merchant


def _merchant_list(
    request: Request,
    db: DbDep,
    actor: Actor,
    shop_id: int,
    *,
    status: str = "",
    page: int = 1,
    batch: fulfilment.BatchResult | None = None,
    error: str | None = None,
    code: int = 200,
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    result = fulfilment.list_shop_orders(db, actor, shop_id, status=status, page=page)
    return render(
        request,
        "orders/merchant_list.html",
        {
            "shop": shop,
            "section": "orders",
            "result": result,
            "status": status,
            "counts": fulfilment.status_counts(db, actor, shop_id),
            "batch": batch,
            "error": error,
            **_common(),
        },
        status_code=code,
    )


@router.get("/merchant/shops/{shop_id}/orders")
def merchant_orders(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: CurrentActor,
    status: Annotated[str, Query(max_length=30)] = "",
    page: PageNo = 1,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    if status and status not in {s.value for s in OrderStatus}:
        status = ""
    return _merchant_list(request, db, actor, shop_id, status=status, page=page)


@router.get("/merchant/shops/{shop_id}/orders/export.csv")
def merchant_export(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: CurrentActor,
    status: Annotated[str, Query(max_length=30)] = "",
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    data = fulfilment.export_csv(
        db, actor, shop_id, status=status, date_from=date_from, date_to=date_to
    )
    return csv_response(data, shop_id)


@router.post("/merchant/shops/{shop_id}/orders/ship-batch")
async def merchant_ship_batch(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    try:
        data = await file.read(fulfilment.MAX_CSV_BYTES + 1)
        batch = fulfilment.ship_batch(
            db,
            actor,
            shop_id,
            data,
            content_type=file.content_type or "",
            filename=file.filename or "",
        )
    except NotFound:
        raise
    except DomainError as exc:
        db.rollback()
        return _merchant_list(
            request,
            db,
            actor,
            shop_id,
            error=exc.render(request.state.gettext),
            code=exc.status_code,
        )
    return _merchant_list(request, db, actor, shop_id, batch=batch)


def _merchant_order_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    shop_id: int,
    order_no: str,
    *,
    error: str | None = None,
    code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    order = fulfilment.shop_order(db, actor, shop_id, order_no)
    return render(
        request,
        "orders/merchant_detail.html",
        {
            "shop": shop,
            "section": "orders",
            "order": order,
            "events": service.order_events(db, order.id),
            "error": error,
            "values": values or {},
            **_common(),
        },
        status_code=code,
    )


@router.get("/merchant/shops/{shop_id}/orders/{order_no}")
def merchant_order(
    request: Request, shop_id: Id, order_no: OrderNo, db: DbDep, actor: CurrentActor
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    return _merchant_order_page(request, db, actor, shop_id, order_no)


@router.post("/merchant/shops/{shop_id}/orders/{order_no}/ship")
def merchant_ship(
    request: Request,
    shop_id: Id,
    order_no: OrderNo,
    db: DbDep,
    actor: CurrentActor,
    carrier: Annotated[str, Form(max_length=20)] = "",
    tracking_no: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    if not actor.is_authenticated:
        return sign_in_redirect(request)
    try:
        fulfilment.ship_order(
            db, actor, shop_id, order_no, carrier=carrier, tracking_no=tracking_no
        )
    except NotFound:
        raise
    except DomainError as exc:
        db.rollback()
        return _merchant_order_page(
            request,
            db,
            actor,
            shop_id,
            order_no,
            error=exc.render(request.state.gettext),
            code=exc.status_code,
            values={"carrier": carrier, "tracking_no": tracking_no},
        )
    return _see_other(f"/merchant/shops/{shop_id}/orders/{order_no}")

"""HTML pages of catalog management: the merchant's product console and operator review.

Form handlers read the form and call one service function through ``web.forms``: a 303 on
success; on a DomainError, after a rollback, the page again with the message and the
error's status code. Every page works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from xiaodian import media, settings
from xiaodian.actor import Actor
from xiaodian.catalog import images, prices, products, review, screening, service, states, stock
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.categories import service as categories_service
from xiaodian.errors import DomainError, InvalidInput, _
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_int

router = routing.router(include_in_schema=False)

BASE = "/merchant/shops/{shop_id}/products"
ONE = BASE + "/{product_id}"
STATUS_FILTERS = [s.value for s in ProductStatus]
SPEC_ROWS = 3


# --- form parsing -----------------------------------------------------------------------


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


def _int(form: FormData, name: str, *, default: int | None, label: str) -> int | None:
    raw = _text(form, name).strip()
    if not raw:
        return default
    try:
        return form_int(raw)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number."), code="number_invalid", field=label
        ) from None


def _specs(form: FormData) -> list[products.SpecAxis]:
    axes = []
    for i in range(SPEC_ROWS):
        name = _text(form, f"spec_name_{i}")
        raw = _text(form, f"spec_values_{i}")
        values = [v for v in raw.replace("，", ",").replace("、", ",").split(",")]
        axes.append(products.SpecAxis(name=name, values=values))
    return axes


def _sku_edits(form: FormData, gettext: Any) -> list[products.SkuEdit]:
    edits = []
    count = _int(form, "sku_count", default=0, label="sku_count") or 0
    for i in range(min(count, products.MAX_SKUS * 2)):
        key = _text(form, f"sku_key_{i}", default="\0")
        if key == "\0":
            continue
        label = key or gettext("Default")
        price = yuan_field(
            _text(form, f"price_{i}"), required=True, label=f"{label} {gettext('Price')}"
        )
        assert price is not None
        edits.append(
            products.SkuEdit(
                spec_key=key,
                price_fen=price,
                list_price_fen=yuan_field(
                    _text(form, f"list_price_{i}"),
                    required=False,
                    label=f"{label} {gettext('List price')}",
                ),
                code=_text(form, f"code_{i}"),
                weight_g=_int(form, f"weight_{i}", default=0, label=gettext("Weight (g)")) or 0,
                stock=_int(form, f"stock_{i}", default=None, label=gettext("Stock")),
                is_active=_text(form, f"active_{i}") == "on",
            )
        )
    return edits


# --- shared context ---------------------------------------------------------------------


def _edit_context(db: Session, actor: Actor, shop_id: int, product_id: int) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    product = service.shop_product(db, actor, shop_id, product_id)
    return {
        "shop": shop,
        "section": "products",
        "product": product,
        "tree": categories_service.category_tree(db),
        "actions": states.allowed_actions(product.status),
        "spec_rows": _spec_rows(product),
        "valid_keys": products.current_spec_keys(product),
        "stock_log": stock.stock_log(db, actor, shop_id, product_id, limit=50),
        "events": service.product_events(db, product_id),
        "max_images": images.MAX_IMAGES,
    }


def _spec_rows(product: Product) -> list[tuple[str, str]]:
    rows = [(s.name, ", ".join(s.values)) for s in product.specs]
    return rows + [("", "")] * (SPEC_ROWS - len(rows))


def _list_context(
    db: Session, actor: Actor, shop_id: int, status: str, q: str, page: int
) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    chosen = ProductStatus(status) if status in STATUS_FILTERS else None
    result = service.list_shop_products(db, actor, shop_id, status=chosen, q=q, page=page)
    return {
        "shop": shop,
        "section": "products",
        "result": result,
        "status": chosen.value if chosen else "",
        "q": q,
        "counts": service.status_counts(db, actor, shop_id),
        "statuses": STATUS_FILTERS,
    }


def _edit_url(shop_id: int, product_id: int, anchor: str = "") -> str:
    return f"/merchant/shops/{shop_id}/products/{product_id}/edit" + (
        f"#{anchor}" if anchor else ""
    )


EDIT = "catalog/product_edit.html"


async def _edit_submit(
    request: Request,
    db: Session,
    actor: Actor,
    shop_id: int,
    product_id: int,
    change: Callable[[], Awaitable[None]],
    done: str,
    values: dict[str, Any] | None = None,
) -> Response:
    """One change of the edit page, then back to it (``done``: the query and anchor); on a
    domain error the page again with what is stored (rolled back) and the message, also
    for an unknown SKU or image of the product."""
    return await forms.submit_async(
        request,
        db,
        change,
        done=_edit_url(shop_id, product_id) + done,
        template=EDIT,
        context=lambda: _edit_context(db, actor, shop_id, product_id),
        values=values,
        page_errors=(),
    )


# --- merchant: list and bulk ------------------------------------------------------------


@router.get(BASE)
def product_list(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    status: str = "",
    q: str = "",
    page: PageNo = 1,
) -> Response:
    ctx = _list_context(db, actor, shop_id, status, q[:60], page)
    return render(request, "catalog/products.html", ctx)


@router.post(BASE + "/bulk")
async def product_bulk(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()
    ids: list[int] = []
    for raw in form.getlist("product_id"):
        try:
            ids.append(form_int(raw, lo=1))
        except ValueError:
            continue  # not a product's id (none is out of range either)
    action = _text(form, "action")
    status_code = 200
    bulk: states.BulkResult | None = None
    error = None
    try:
        if action not in ("put_on_shelf", "take_off_shelf"):
            raise InvalidInput(_("Unknown action."), code="unknown_action")
        bulk = await run_in_threadpool(
            states.bulk_set_shelf, db, actor, shop_id, ids, on_shelf=action == "put_on_shelf"
        )
    except DomainError as exc:
        error = exc.render(request.state.gettext)
        status_code = exc.status_code
    ctx = await run_in_threadpool(
        _list_context, db, actor, shop_id, _text(form, "status"), _text(form, "q"), 1
    )
    ctx["error"] = error
    if bulk is not None:
        titles = {p.id: p.title for p in ctx["result"].items}
        found = service.get_products(db, [pid for pid, _e in bulk.failed])
        ctx["bulk"] = {
            "changed": len(bulk.changed),
            "failed": [
                (
                    pid,
                    titles.get(pid)
                    or (found[pid].title if pid in found and found[pid].shop_id == shop_id else ""),
                    exc.render(request.state.gettext),
                )
                for pid, exc in bulk.failed
            ],
        }
    return render(request, "catalog/products.html", ctx, status_code=status_code)


# --- merchant: new product --------------------------------------------------------------


@router.get(BASE + "/new")
def product_new(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    return render(request, NEW, _new_context(db, actor, shop_id))


NEW = "catalog/product_new.html"


def _new_context(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "products",
        "tree": categories_service.category_tree(db),
        "form": {"return_days": "7", "stock": "0"},
        "spec_rows": [("", "")] * SPEC_ROWS,
    }


@router.post(BASE + "/new")
async def product_create(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()
    gettext = request.state.gettext

    async def create() -> Product:
        price = yuan_field(_text(form, "price"), required=True, label=gettext("Price"))
        assert price is not None
        return await run_in_threadpool(
            lambda: products.create_product(
                db,
                actor,
                shop_id,
                title=_text(form, "title"),
                category_id=_int(form, "category_id", default=0, label=gettext("Category")) or 0,
                description=_text(form, "description"),
                price_fen=price,
                list_price_fen=yuan_field(
                    _text(form, "list_price"), required=False, label=gettext("List price")
                ),
                stock=_int(form, "stock", default=0, label=gettext("Stock")) or 0,
                weight_g=_int(form, "weight_g", default=0, label=gettext("Weight (g)")) or 0,
                specs=_specs(form),
                purchase_limit=_int(
                    form, "purchase_limit", default=None, label=gettext("Purchase limit")
                ),
                return_days=_int(form, "return_days", default=7, label=gettext("Return days")) or 0,
            )
        )

    sent = {
        "form": {k: v for k, v in form.items() if isinstance(v, str)},
        "spec_rows": [
            (_text(form, f"spec_name_{i}"), _text(form, f"spec_values_{i}"))
            for i in range(SPEC_ROWS)
        ],
    }
    return await forms.submit_async(
        request,
        db,
        create,
        done=lambda product: _edit_url(shop_id, product.id) + "?created=1",
        template=NEW,
        context=lambda: _new_context(db, actor, shop_id),
        values=sent,
        page_errors=(),
    )


# --- merchant: edit ---------------------------------------------------------------------


@router.get(ONE + "/edit")
def product_edit(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    ctx = _edit_context(db, actor, shop_id, product_id)
    flash = request.query_params.get("done", "")
    ctx["flash"] = flash
    ctx["created"] = request.query_params.get("created") == "1"
    return render(request, EDIT, ctx)


@router.post(ONE + "/edit")
async def product_update(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()
    gettext = request.state.gettext

    async def change() -> None:
        changes = {
            "title": _text(form, "title"),
            "description": _text(form, "description"),
            "category_id": _int(form, "category_id", default=0, label=gettext("Category")) or 0,
            "purchase_limit": _int(
                form, "purchase_limit", default=None, label=gettext("Purchase limit")
            ),
            "return_days": _int(form, "return_days", default=7, label=gettext("Return days")),
        }
        await run_in_threadpool(products.update_product, db, actor, shop_id, product_id, changes)

    return await _edit_submit(request, db, actor, shop_id, product_id, change, "?done=saved")


@router.post(ONE + "/specs")
async def product_specs(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()

    async def change() -> None:
        default_price = yuan_field(
            _text(form, "default_price"), required=False, label=request.state.gettext("Price")
        )
        await run_in_threadpool(
            lambda: products.set_specs(
                db, actor, shop_id, product_id, _specs(form), default_price_fen=default_price
            )
        )

    return await _edit_submit(request, db, actor, shop_id, product_id, change, "?done=specs#skus")


@router.post(ONE + "/skus")
async def product_skus(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()

    async def change() -> None:
        edits = _sku_edits(form, request.state.gettext)
        await run_in_threadpool(products.update_skus, db, actor, shop_id, product_id, edits)

    return await _edit_submit(request, db, actor, shop_id, product_id, change, "?done=skus#skus")


@router.post(ONE + "/images")
async def product_images(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()
    limit = settings.current().max_image_bytes

    async def change() -> None:
        uploads = [
            cast(UploadFile, f)
            for f in form.getlist("files")
            if isinstance(f, StarletteUploadFile) and f.filename
        ]
        datas = [await media.read_upload(f, limit=limit) for f in uploads]
        await run_in_threadpool(images.add_images, db, actor, shop_id, product_id, datas)

    try:
        return await _edit_submit(
            request, db, actor, shop_id, product_id, change, "?done=images#images"
        )
    finally:
        await form.close()


@router.post(ONE + "/images/{image_id}/delete")
async def product_image_delete(
    request: Request, shop_id: Id, product_id: Id, image_id: Id, db: DbDep, actor: PageUser
) -> Response:
    async def change() -> None:
        await run_in_threadpool(images.delete_image, db, actor, shop_id, product_id, image_id)

    return await _edit_submit(
        request, db, actor, shop_id, product_id, change, "?done=images#images"
    )


@router.post(ONE + "/images/{image_id}/move")
async def product_image_move(
    request: Request, shop_id: Id, product_id: Id, image_id: Id, db: DbDep, actor: PageUser
) -> Response:
    """Move an image one place (direction=up|down) or to the front (direction=first)."""
    form = await request.form()
    direction = _text(form, "direction")

    def move() -> None:
        product = service.shop_product(db, actor, shop_id, product_id)
        ids = [i.id for i in product.images]
        if image_id not in ids:
            raise InvalidInput(_("Image not found."), code="image_not_found")
        pos = ids.index(image_id)
        ids.pop(pos)
        target = {"up": pos - 1, "down": pos + 1, "first": 0}.get(direction, pos)
        ids.insert(max(0, min(target, len(ids))), image_id)
        images.reorder_images(db, actor, shop_id, product_id, ids)

    async def change() -> None:
        await run_in_threadpool(move)

    return await _edit_submit(
        request, db, actor, shop_id, product_id, change, "?done=images#images"
    )


@router.post(ONE + "/status")
async def product_status(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()
    action = _text(form, "action")

    async def change() -> None:
        await run_in_threadpool(states.change_status, db, actor, shop_id, product_id, action)

    return await _edit_submit(request, db, actor, shop_id, product_id, change, f"?done={action}")


@router.post(ONE + "/stock")
async def product_stock(
    request: Request, shop_id: Id, product_id: Id, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()
    gettext = request.state.gettext

    async def change() -> None:
        sku_id = _int(form, "sku_id", default=0, label="SKU") or 0
        delta = _int(form, "delta", default=0, label=gettext("Change")) or 0
        await run_in_threadpool(
            lambda: stock.adjust_stock(
                db,
                actor,
                sku_id,
                delta,
                _text(form, "reason"),
                shop_id=shop_id,
                product_id=product_id,
            )
        )

    sent = {"stock_form": {k: v for k, v in form.items() if isinstance(v, str)}}
    return await _edit_submit(
        request, db, actor, shop_id, product_id, change, "?done=stock#stock", sent
    )


# --- operators: review ------------------------------------------------------------------


@router.get("/ops/products/review")
def review_queue(
    request: Request, db: DbDep, actor: PageUser, status: str = "under_review"
) -> Response:
    chosen = ProductStatus(status) if status in STATUS_FILTERS else ProductStatus.UNDER_REVIEW
    queue = review.review_queue(db, actor, status=chosen)
    return render(
        request,
        "catalog/review_queue.html",
        {
            "section": "review",
            "products": queue,
            "status": chosen.value,
            "statuses": STATUS_FILTERS,
            "done": request.query_params.get("done", ""),
        },
    )


REVIEW = "catalog/review_detail.html"


def _review_context(db: Session, actor: Actor, product_id: int) -> dict[str, Any]:
    product = review.review_product(db, actor, product_id)
    category = categories_service.get(db, product.category_id)
    return {
        "section": "review",
        "product": product,
        "category": category,
        "parent": categories_service.get(db, category.parent_id) if category.parent_id else None,
        "title_parts": screening.segments(product.title, product.screening_hits),
        "description_parts": screening.segments(product.description, product.screening_hits),
        "events": service.product_events(db, product_id),
    }


@router.get("/ops/products/{product_id}")
def review_detail(request: Request, product_id: Id, db: DbDep, actor: PageUser) -> Response:
    return render(request, REVIEW, _review_context(db, actor, product_id))


@router.post("/ops/products/{product_id}/approve")
async def review_approve(request: Request, product_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()

    async def approve() -> None:
        await run_in_threadpool(
            lambda: review.approve(db, actor, product_id, note=_text(form, "note"))
        )

    return await _review_submit(request, db, actor, product_id, approve, "approved")


@router.post("/ops/products/{product_id}/reject")
async def review_reject(request: Request, product_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()

    async def reject() -> None:
        await run_in_threadpool(review.reject, db, actor, product_id, _text(form, "reason"))

    return await _review_submit(request, db, actor, product_id, reject, "rejected")


async def _review_submit(
    request: Request,
    db: Session,
    actor: Actor,
    product_id: int,
    decide: Callable[[], Awaitable[None]],
    done: str,
) -> Response:
    return await forms.submit_async(
        request,
        db,
        decide,
        done=f"/ops/products/review?done={done}",
        template=REVIEW,
        context=lambda: _review_context(db, actor, product_id),
        page_errors=(),
    )


# --- operators: prices shown as discounts above the 30-day lowest -----------------------

PRICES = "catalog/price_flags.html"
FLAG_SOURCES = {"discount": _("Limited-time discount"), "flash": _("Live flash sale")}


def _flags_context(db: Session, actor: Actor) -> dict[str, Any]:
    return {"section": "prices", "flags": prices.open_flags(db, actor), "sources": FLAG_SOURCES}


@router.get("/ops/prices")
def price_flags(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Operators: discounts priced above the SKU's lowest price of the last 30 days."""
    return render(request, PRICES, _flags_context(db, actor))


@router.post("/ops/prices/{flag_id}/resolve")
async def price_flag_resolve(request: Request, flag_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()

    async def resolve() -> None:
        await run_in_threadpool(
            lambda: prices.resolve_flag(db, actor, flag_id, note=_text(form, "note"))
        )

    return await forms.submit_async(
        request,
        db,
        resolve,
        done="/ops/prices",
        template=PRICES,
        context=lambda: _flags_context(db, actor),
        page_errors=(401,),
    )

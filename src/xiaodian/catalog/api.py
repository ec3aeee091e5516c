"""JSON API of catalog management: the merchant's products and the operators' review.

Merchant endpoints live under ``/shops/{shop_id}/products``; a stranger to the shop gets
404 on every one. Operator endpoints live under ``/ops/products``; others get 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import File, Query, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from xiaodian import media, settings
from xiaodian.catalog import images, prices, products, review, service, states, stock
from xiaodian.catalog.models import ProductStatus
from xiaodian.catalog.schemas import (
    ApproveIn,
    BulkFailureOut,
    BulkResultOut,
    BulkStatusIn,
    ImageOrderIn,
    ProductCreateIn,
    ProductEventOut,
    ProductListOut,
    ProductOut,
    ProductPatchIn,
    RejectIn,
    SkusIn,
    SpecIn,
    SpecsIn,
    StockAdjustmentIn,
    StockLogEntryOut,
    StockMovementOut,
)
from xiaodian.errors import InvalidInput, _
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id, PageNo

router = routing.router(tags=["catalog"], responses=error_responses(401, 403, 404, 409, 413, 422))

SHOP = "/shops/{shop_id}/products"
ONE = SHOP + "/{product_id}"


def _axes(specs: list[SpecIn]) -> list[products.SpecAxis]:
    return [products.SpecAxis(name=s.name, values=list(s.values)) for s in specs]


@router.get(SHOP)
def list_products(
    shop_id: Id,
    db: DbDep,
    actor: SignedIn,
    status_: Annotated[ProductStatus | None, Query(alias="status")] = None,
    q: Annotated[str, Query(max_length=60)] = "",
    page: PageNo = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProductListOut:
    """The shop's products, newest first; filter by status, search the title."""
    result = service.list_shop_products(
        db, actor, shop_id, status=status_, q=q, page=page, per_page=per_page
    )
    return ProductListOut(
        items=[ProductOut.of(p) for p in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@router.post(SHOP, status_code=status.HTTP_201_CREATED)
def create_product(shop_id: Id, body: ProductCreateIn, db: DbDep, actor: SignedIn) -> ProductOut:
    """A draft product; its specs' cartesian product gives the SKUs (all at this price)."""
    product = products.create_product(
        db,
        actor,
        shop_id,
        title=body.title,
        category_id=body.category_id,
        description=body.description,
        price_fen=body.price_fen,
        list_price_fen=body.list_price_fen,
        stock=body.stock,
        weight_g=body.weight_g,
        specs=_axes(body.specs),
        purchase_limit=body.purchase_limit,
        return_days=body.return_days,
    )
    return ProductOut.of(product)


@router.get(ONE)
def get_product(shop_id: Id, product_id: Id, db: DbDep, actor: SignedIn) -> ProductOut:
    return ProductOut.of(service.shop_product(db, actor, shop_id, product_id))


@router.get(ONE + "/events")
def product_events(
    shop_id: Id, product_id: Id, db: DbDep, actor: SignedIn
) -> list[ProductEventOut]:
    """The product's status history (who, when, from, to, note), oldest first."""
    events = states.shop_product_events(db, actor, shop_id, product_id)
    return [ProductEventOut.model_validate(e) for e in events]


@router.patch(ONE)
def patch_product(
    shop_id: Id, product_id: Id, body: ProductPatchIn, db: DbDep, actor: SignedIn
) -> ProductOut:
    """Change title, description, category, purchase limit or return days. Editing the
    title, description or category of a listed product sends it back to review."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("title", "category_id", "return_days"):
        if key in changes and changes[key] is None:
            raise InvalidInput(_("%(name)s cannot be empty."), code="field_required", name=key)
    return ProductOut.of(products.update_product(db, actor, shop_id, product_id, changes))


@router.put(ONE + "/specs")
def put_specs(shop_id: Id, product_id: Id, body: SpecsIn, db: DbDep, actor: SignedIn) -> ProductOut:
    """Replace the spec axes (at most 3, 20 values each); SKUs are regenerated, existing
    combinations kept, vanished ones deactivated."""
    product = products.set_specs(
        db,
        actor,
        shop_id,
        product_id,
        _axes(body.specs),
        default_price_fen=body.default_price_fen,
    )
    return ProductOut.of(product)


@router.put(ONE + "/skus")
def put_skus(shop_id: Id, product_id: Id, body: SkusIn, db: DbDep, actor: SignedIn) -> ProductOut:
    """Price, list price, code, weight, stock and active flag per SKU (by spec_key)."""
    edits = [products.SkuEdit(**s.model_dump()) for s in body.skus]
    return ProductOut.of(products.update_skus(db, actor, shop_id, product_id, edits))


@router.post(ONE + "/images", status_code=status.HTTP_201_CREATED)
async def upload_images(
    shop_id: Id,
    product_id: Id,
    db: DbDep,
    actor: SignedIn,
    files: Annotated[list[UploadFile], File(description="1-9 JPEG/PNG/WebP/GIF images")],
) -> ProductOut:
    """Add images after the existing ones (at most 9 in all); all or nothing."""
    limit = settings.current().max_image_bytes
    datas = [await media.read_upload(f, limit=limit) for f in files]
    product = await run_in_threadpool(images.add_images, db, actor, shop_id, product_id, datas)
    return ProductOut.of(product)


@router.delete(ONE + "/images/{image_id}")
def delete_image(
    shop_id: Id, product_id: Id, image_id: Id, db: DbDep, actor: SignedIn
) -> ProductOut:
    return ProductOut.of(images.delete_image(db, actor, shop_id, product_id, image_id))


@router.put(ONE + "/images/order")
def reorder_images(
    shop_id: Id, product_id: Id, body: ImageOrderIn, db: DbDep, actor: SignedIn
) -> ProductOut:
    """Every image id of the product once, in the new order; the first is the cover."""
    return ProductOut.of(images.reorder_images(db, actor, shop_id, product_id, body.image_ids))


def _status_route(path: str, action: str, doc: str) -> None:
    def endpoint(shop_id: Id, product_id: Id, db: DbDep, actor: SignedIn) -> ProductOut:
        return ProductOut.of(states.change_status(db, actor, shop_id, product_id, action))

    endpoint.__doc__ = doc
    router.add_api_route(
        ONE + path, endpoint, methods=["POST"], name=f"product_{action}", summary=doc
    )


_status_route("/submit", "submit", "Submit for review (needs an image and an active SKU)")
_status_route("/withdraw", "withdraw", "Withdraw from review back to draft")
_status_route("/on-shelf", "put_on_shelf", "Put an off-shelf product back on sale")
_status_route("/off-shelf", "take_off_shelf", "Take a product off the shelf")


@router.post(SHOP + "/bulk-status")
def bulk_status(shop_id: Id, body: BulkStatusIn, db: DbDep, actor: SignedIn) -> BulkResultOut:
    """Put several products on or off the shelf; each one that could not change is listed
    with the reason."""
    if body.action not in ("put_on_shelf", "take_off_shelf"):
        raise InvalidInput(_("Unknown action."), code="unknown_action")
    result = states.bulk_set_shelf(
        db, actor, shop_id, body.product_ids, on_shelf=body.action == "put_on_shelf"
    )
    return BulkResultOut(
        changed=result.changed,
        failed=[
            BulkFailureOut(product_id=pid, code=exc.code, message=exc.render())
            for pid, exc in result.failed
        ],
    )


@router.get(ONE + "/stock-adjustments")
def stock_log(shop_id: Id, product_id: Id, db: DbDep, actor: SignedIn) -> list[StockLogEntryOut]:
    """The product's stock log, newest first (manual adjustments and order movements)."""
    rows = stock.stock_log(db, actor, shop_id, product_id)
    return [
        StockLogEntryOut.model_validate(m, from_attributes=True).model_copy(
            update={"spec_key": sku.spec_key}
        )
        for m, sku in rows
    ]


@router.post(ONE + "/stock-adjustments", status_code=status.HTTP_201_CREATED)
def adjust_stock(
    shop_id: Id, product_id: Id, body: StockAdjustmentIn, db: DbDep, actor: SignedIn
) -> StockMovementOut:
    """+delta: goods received; -delta: written off (never below zero on hand)."""
    movement = stock.adjust_stock(
        db, actor, body.sku_id, body.delta, body.reason, shop_id=shop_id, product_id=product_id
    )
    return StockMovementOut.model_validate(movement)


# --- operators ---------------------------------------------------------------------------


@router.get("/ops/products")
def ops_products(
    db: DbDep,
    actor: SignedIn,
    status_: Annotated[ProductStatus, Query(alias="status")] = ProductStatus.UNDER_REVIEW,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ProductOut]:
    """Products by status for operators; under review: oldest submission first."""
    return [ProductOut.of(p) for p in review.review_queue(db, actor, status=status_, limit=limit)]


@router.get("/ops/products/{product_id}")
def ops_product(product_id: Id, db: DbDep, actor: SignedIn) -> ProductOut:
    return ProductOut.of(review.review_product(db, actor, product_id))


@router.post("/ops/products/{product_id}/approve")
def ops_approve(
    product_id: Id, db: DbDep, actor: SignedIn, body: ApproveIn | None = None
) -> ProductOut:
    """Approve a product under review: it goes on sale."""
    note = body.note if body else None
    return ProductOut.of(review.approve(db, actor, product_id, note=note))


@router.post("/ops/products/{product_id}/reject")
def ops_reject(product_id: Id, body: RejectIn, db: DbDep, actor: SignedIn) -> ProductOut:
    """Reject a product under review; the reason is shown to the merchant."""
    return ProductOut.of(review.reject(db, actor, product_id, body.reason))


# --- operators: price flags ------------------------------------------------------------


class PriceFlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku_id: int
    shop_id: int
    source: str
    ref_id: int
    label: str
    price_fen: int
    lowest_fen: int
    created_at: datetime
    resolved_at: datetime | None
    note: str


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=200)


@router.get("/ops/price-flags", tags=["ops"])
def price_flags(db: DbDep, actor: SignedIn) -> list[PriceFlagOut]:
    """Discounts priced above the SKU's lowest price of the last 30 days, oldest first."""
    return [PriceFlagOut.model_validate(f) for f in prices.open_flags(db, actor)]


@router.post("/ops/price-flags/{flag_id}/resolve", tags=["ops"])
def resolve_price_flag(flag_id: Id, body: ResolveIn, db: DbDep, actor: SignedIn) -> PriceFlagOut:
    """Close a flag with what was found or done."""
    return PriceFlagOut.model_validate(prices.resolve_flag(db, actor, flag_id, note=body.note))

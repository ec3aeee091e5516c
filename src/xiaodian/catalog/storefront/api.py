"""The public storefront API: products, search, categories and shop cards. No sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from xiaodian.catalog.storefront import service
from xiaodian.catalog.storefront.schemas import (
    CategoryNodeOut,
    ProductList,
    ShopCardOut,
    StoreProductOut,
)
from xiaodian.web import routing
from xiaodian.web.deps import DbDep
from xiaodian.web.errors import error_responses
from xiaodian.web.types import Id

router = routing.router(
    tags=["storefront"],
    responses=error_responses(
        404, 413, 422, descriptions={404: "Unknown, not on sale, or its shop is closed"}
    ),
)


@router.get("/products")
def list_products(
    db: DbDep,
    q: Annotated[
        str | None,
        Query(max_length=service.MAX_QUERY_CHARS, description="search words (ANDed); Chinese ok"),
    ] = None,
    category: Annotated[
        str | None,
        Query(max_length=60, description="slug or id; a top category includes its children"),
    ] = None,
    shop: Annotated[Id | None, Query(description="shop id")] = None,
    sort: Annotated[service.Sort, Query(description="default = relevance, then sales")] = (
        "default"
    ),
    page: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.DEFAULT_PAGE_SIZE,
) -> ProductList:
    """Products on sale, searched, filtered and sorted, one page at a time."""
    result = service.list_products(
        db, q=q, category=category, shop_id=shop, sort=sort, page=page, page_size=page_size
    )
    return ProductList.of(result)


@router.get("/products/{product_id}")
def get_product(db: DbDep, product_id: Id) -> StoreProductOut:
    """A product on sale with its images, specs and SKUs (price and stock each)."""
    return StoreProductOut.of(service.get_product(db, product_id))


@router.get("/categories")
def categories(request: Request, db: DbDep) -> list[CategoryNodeOut]:
    """The two-level category tree; ``name`` is in the request's language."""
    locale = getattr(request.state, "locale", "zh_CN")
    return [CategoryNodeOut.of(node, locale) for node in service.category_tree(db)]


@router.get("/shops/{shop_id}")
def get_shop(db: DbDep, shop_id: Id) -> ShopCardOut:
    """The public card of an open shop."""
    return ShopCardOut.of(service.get_shop(db, shop_id))

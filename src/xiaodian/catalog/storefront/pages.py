"""The buyer's pages: home, category, shop, search and product."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.catalog.storefront import service
from xiaodian.follows import service as follows_service
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)

PAGE_SIZE = 20
PageNo = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]


def _sort(value: str) -> str:
    """Pages forgive an unknown sort (an old link) and show the default order."""
    return value if value in service.SORTS else "default"


def _listing(request: Request, sort: str, page: int, **extra: Any) -> dict[str, Any]:
    return {"sort": sort, "page": page, "base_path": request.url.path, **extra}


@router.get("/")
def home(
    request: Request, db: DbDep, actor: CurrentActor, sort: str = "default", page: PageNo = 1
) -> Response:
    sort = _sort(sort)
    categories = service.category_tree(db)
    products = service.list_products(db, sort=sort, page=page, page_size=PAGE_SIZE)
    ctx = _listing(request, sort, page, categories=categories, products=products)
    return render(request, "storefront/home.html", ctx)


@router.get("/c/{slug}")
def category(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    slug: str,
    sort: str = "default",
    page: PageNo = 1,
) -> Response:
    sort = _sort(sort)
    node, parent = service.get_category(db, slug)
    products = service.list_products(db, category=node, sort=sort, page=page, page_size=PAGE_SIZE)
    ctx = _listing(request, sort, page, category=node, parent=parent, products=products)
    return render(request, "storefront/category.html", ctx)


@router.get("/shops/{shop_id}")
def shop(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    shop_id: Id,
    sort: str = "default",
    page: PageNo = 1,
) -> Response:
    sort = _sort(sort)
    card = service.get_shop(db, shop_id)
    products = service.list_products(db, shop_id=card.id, sort=sort, page=page, page_size=PAGE_SIZE)
    ctx = _listing(
        request,
        sort,
        page,
        shop=card,
        products=products,
        is_following=bool(follows_service.following(db, actor.user_id, "shop", [card.id])),
        followers=follows_service.follower_count(db, kind="shop", target_id=card.id),
    )
    return render(request, "storefront/shop.html", ctx)


@router.get("/search")
def search(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    q: Annotated[str, Query(max_length=service.MAX_QUERY_CHARS)] = "",
    category: Annotated[str, Query(max_length=60)] = "",
    shop: Annotated[Id | None, Query()] = None,
    sort: str = "default",
    page: PageNo = 1,
) -> Response:
    sort = _sort(sort)
    categories = service.category_tree(db)
    products = service.list_products(
        db,
        q=q,
        category=category or None,
        shop_id=shop,
        sort=sort,
        page=page,
        page_size=PAGE_SIZE,
    )
    params = {"q": q, "category": category, "shop": shop or ""}
    ctx = _listing(
        request, sort, page, q=q, products=products, categories=categories, params=params
    )
    return render(request, "storefront/search.html", ctx)


# Channels a link to a product page may name (a live room's 小黄车, a short video); the
# buy form carries them to checkout, which checks them against the room or video.
LINK_CHANNELS = ("live", "video")


def _link_channel(kind: str, ref: str) -> dict[str, str] | None:
    """``?channel=live&channel_id=ROOM`` as hidden form fields, or None (the shelf).
    A malformed claim is dropped, not an error: the page still shows the product."""
    if kind not in LINK_CHANNELS:
        return None
    try:
        return {"channel": kind, "channel_id": str(form_int(ref, lo=1))}
    except ValueError:
        return None


@router.get("/products/{product_id}")
def product_alias(request: Request, product_id: Id) -> Response:
    """Older links (a live room's cards) used /products/ID: the product page, same query."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/p/{product_id}{query}", status_code=307)


@router.get("/p/{product_id}")
def product(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    product_id: Id,
    channel: Annotated[str, Query()] = "",
    channel_id: Annotated[str, Query()] = "",
) -> Response:
    detail = service.get_product(db, product_id, buyer_id=actor.user_id)
    skus_json = [
        {
            "id": s.id,
            "spec_values": s.spec_values,
            "price_fen": s.price_fen,
            "list_price_fen": s.list_price_fen,
            "stock": s.stock,
            "available": s.available,
        }
        for s in detail.skus
    ]
    via = _link_channel(channel[:10], channel_id[:12])
    following = follows_service.following(db, actor.user_id, "shop", [detail.shop.id])
    return render(
        request,
        "storefront/product.html",
        {
            "product": detail,
            "skus_json": skus_json,
            "via": via,
            "is_following": bool(following),
        },
    )

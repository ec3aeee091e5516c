"""The merchant console's home page (/merchant/shops/{id}): the day's figures of a shop."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import Response

from xiaodian import clock
from xiaodian.aftersales import service as aftersales_service
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.merchants import pages as merchants_pages
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import service as orders_service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser

router = routing.router(include_in_schema=False)

ShopId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/merchant/shops/{shop_id}")
def overview(request: Request, db: DbDep, actor: PageUser, shop_id: ShopId) -> Response:
    """Each figure from its own domain, a constant number of queries (one or two each)."""
    shop = merchants_service.console_shop(db, actor, shop_id)
    extra = {
        "aftersales_pending": aftersales_service.pending_count(db, shop_id=shop.id),
        "summary": orders_service.shop_summary(db, shop_id=shop.id, today=clock.today()),
        "product_counts": catalog_service.status_counts(db, actor, shop.id),
    }
    return merchants_pages.console_page(request, shop, "overview", extra)

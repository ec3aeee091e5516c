"""The merchant console's home page (/merchant/shops/{id}): the day's figures of a shop;
and the buyer's "following" page (/me/following), which gathers from every domain what the
shops and creators they follow are doing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import Response

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.aftersales import service as aftersales_service
from xiaodian.campaigns import service as campaigns_service
from xiaodian.catalog import service as catalog_service
from xiaodian.content import feed
from xiaodian.content.live import service as live_service
from xiaodian.db import MAX_ID
from xiaodian.follows import service as follows_service
from xiaodian.merchants import pages as merchants_pages
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import service as orders_service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render

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
        "followers": follows_service.shop_followers(db, actor, shop.id),
    }
    return merchants_pages.console_page(request, shop, "overview", extra)


@router.get("/me/following")
def following(request: Request, db: DbDep, actor: PageUser) -> Response:
    """What the shops and creators the buyer follows are doing: rooms live now or coming,
    new videos, coupons to claim; and the follows themselves (unfollow in one tap)."""
    found = follows_service.followed(db, actor)
    shop_ids, creator_ids = found["shop"], found["creator"]
    shops = merchants_service.shops_by_ids(db, shop_ids)
    creators = accounts_service.users_by_ids(db, creator_ids)
    ctx = {
        "shops": [shops[i] for i in shop_ids if i in shops],
        "creators": [creators[i] for i in creator_ids if i in creators],
        "rooms": live_service.followed_rooms(db, shop_ids=shop_ids, host_ids=creator_ids),
        "videos": feed.followed_videos(db, actor, shop_ids=shop_ids, creator_ids=creator_ids),
        "coupons": campaigns_service.followed_coupons(db, shop_ids=shop_ids),
        "shop_names": {i: s.name for i, s in shops.items()},
    }
    return render(request, "follows/following.html", ctx)

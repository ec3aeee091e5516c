"""HTML pages of merchant health: the merchant's score page, the operators' list of
shops under a threshold."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from xiaodian.health import score, service
from xiaodian.merchants import pages as merchants_pages
from xiaodian.merchants import service as merchants_service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id

router = routing.router(include_in_schema=False)


def _labels() -> dict[str, Any]:
    return {
        "parts": score.PARTS,
        "measure_labels": score.MEASURES,
        "input_labels": score.INPUTS,
        "live_min": score.LIVE_MIN,
        "marketplace_min": score.MARKETPLACE_MIN,
    }


@router.get("/merchant/shops/{shop_id}/health")
def shop_health(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """The score, each part and measure, every order or case that lowered it, what to do."""
    shop = merchants_service.console_shop(db, actor, shop_id)
    ctx = {"health": service.shop_score(db, actor, shop.id), **_labels()}
    return render(
        request, "health/shop.html", merchants_pages.console_ctx(actor, shop, "health", ctx)
    )


@router.get("/ops/health")
def ops_health(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Operators: shops under 60, lowest first, with the restrictions that apply."""
    shops = service.below(db, actor)
    names = merchants_service.shops_by_ids(db, [s.shop_id for s in shops])
    return render(
        request,
        "health/ops.html",
        {"section": "health", "shops": shops, "names": names, **_labels()},
    )

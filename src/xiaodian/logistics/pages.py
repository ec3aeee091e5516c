"""Logistics pages: the merchant's parcels needing attention (and, in sandbox mode, the
buttons that play a parcel's journey). The buyer's timeline is a panel of the order page
(``orders.lifecycle.order_panel``), drawn by ``logistics/_timeline.html``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.logistics import sandbox, service
from xiaodian.merchants import service as merchants_service
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id

router = routing.router(include_in_schema=False)

PARCELS = "logistics/parcels.html"


def _ctx(db: Any, actor: Actor, shop_id: int) -> dict[str, Any]:
    sandbox_on = settings_module.current().logistics_sandbox
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "parcels",
        "attention": service.parcels_needing_attention(db, actor, shop_id),
        "on_the_way": service.parcels_on_the_way(db, actor, shop_id) if sandbox_on else [],
        "sandbox": sandbox_on,
        "state_name": service.state_name,
    }


@router.get("/merchant/shops/{shop_id}/parcels")
def parcels_page(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """Parcels needing attention: in 疑难, or silent for 72 hours."""
    return render(request, PARCELS, _ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/parcels/{parcel_id}/sandbox/step")
def sandbox_step(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, parcel_id: Id
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: sandbox.advance_parcel(db, actor, shop_id, parcel_id),
        done=f"/merchant/shops/{shop_id}/parcels",
        template=PARCELS,
        context=lambda: _ctx(db, actor, shop_id),
    )


@router.post("/merchant/shops/{shop_id}/parcels/{parcel_id}/sandbox/trouble")
def sandbox_trouble(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, parcel_id: Id
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: sandbox.report_trouble(db, actor, shop_id, parcel_id),
        done=f"/merchant/shops/{shop_id}/parcels",
        template=PARCELS,
        context=lambda: _ctx(db, actor, shop_id),
    )

"""HTML pages of group buying (拼团): the merchant's offers, an offer's page (open a group,
or join one open), a group's page (its share link: places left, the countdown, join)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.campaigns import groups
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import DomainError, InvalidInput, _
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import CurrentActor, DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)

Field = Annotated[str, Form(max_length=60)]


def _int(value: str, label: str) -> int:
    try:
        return form_int(value, lo=0, hi=10**9)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number."), code="bad_number", field=label
        ) from None


def _shop_context(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    products = catalog_service.list_shop_products(
        db, actor, shop_id, status=catalog_service.ProductStatus.ON_SALE, per_page=100
    ).items
    return {
        "shop": shop,
        "section": "groups",
        "rows": groups.shop_offers(db, actor, shop_id),
        "products": products,
        "form": {"size": "3", "hours": "24", "per_buyer_limit": "1", "price": "", "sku_id": ""},
    }


@router.get("/merchant/shops/{shop_id}/groups")
def merchant_groups(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    return render(request, "campaigns/merchant_groups.html", _shop_context(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/groups")
def merchant_group_create(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    sku_id: Field = "",
    price: Field = "",
    size: Field = "",
    hours: Field = "24",
    per_buyer_limit: Field = "1",
) -> Response:
    form = {
        "sku_id": sku_id,
        "price": price,
        "size": size,
        "hours": hours,
        "per_buyer_limit": per_buyer_limit,
    }

    def call() -> Any:
        data = groups.OfferInput(
            sku_id=_int(sku_id, _("the SKU")),
            price_fen=yuan_field(price, label=_("the group price")) or 0,
            size=_int(size, _("the group size")),
            hours=_int(hours, _("the hours")),
            per_buyer_limit=_int(per_buyer_limit, _("the limit")),
        )
        return groups.create_offer(db, actor, shop_id, data)

    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/groups",
        template="campaigns/merchant_groups.html",
        context=lambda: _shop_context(db, actor, shop_id),
        values={"form": form},
    )


@router.post("/merchant/shops/{shop_id}/groups/{offer_id}/stop")
def merchant_group_stop(
    request: Request, shop_id: Id, offer_id: Id, db: DbDep, actor: PageUser
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: groups.stop_offer(db, actor, offer_id),
        done=f"/merchant/shops/{shop_id}/groups",
        template="campaigns/merchant_groups.html",
        context=lambda: _shop_context(db, actor, shop_id),
    )


def _offer_context(db: Session, offer_id: int) -> dict[str, Any]:
    found = groups.offer_view(db, offer_id)
    return {
        "offer": found.offer,
        "product": found.product,
        "regular_fen": found.regular_fen,
        "open_groups": found.groups,
    }


@router.get("/groups/offer/{offer_id}")
def offer_page(request: Request, db: DbDep, actor: CurrentActor, offer_id: Id) -> Response:
    """An offer: the group price, the groups open to join, and opening one."""
    return render(request, "campaigns/group_offer.html", _offer_context(db, offer_id))


@router.get("/groups/{group_id}")
def group_page(request: Request, db: DbDep, actor: CurrentActor, group_id: Id) -> Response:
    """A group (the share link): places left, the time left, joining it."""
    view = groups.group_view(db, group_id)
    found = groups.offer_view(db, view.offer.id)
    member = next((m for m in view.members if m.buyer_id == actor.user_id), None)
    return render(
        request,
        "campaigns/group.html",
        {
            "view": view,
            "product": found.product,
            "regular_fen": found.regular_fen,
            "member": member,
        },
    )


def _to_pay(call: Any, back: str) -> Response:
    try:
        done = call()
    except DomainError as exc:
        if exc.code == "address_required":
            return RedirectResponse(f"/addresses?next={back}", status_code=303)
        raise
    return RedirectResponse(done.pay_url, status_code=303)


@router.post("/groups/offer/{offer_id}/open")
def open_form(request: Request, db: DbDep, actor: PageUser, offer_id: Id) -> Response:
    return _to_pay(lambda: groups.open_group(db, actor, offer_id), f"/groups/offer/{offer_id}")


@router.post("/groups/{group_id}/join")
def join_form(request: Request, db: DbDep, actor: PageUser, group_id: Id) -> Response:
    return _to_pay(lambda: groups.join_group(db, actor, group_id), f"/groups/{group_id}")

"""HTML pages of the campaigns: the merchant console's coupons (write, list, stop), the
operators' platform coupons, and the buyer's coupons (claim, see what is left)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns import claims, discounts, service, templates
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

router = routing.router(include_in_schema=False)

Field = Annotated[str, Form(max_length=60)]
Ids = Annotated[str, Form(max_length=1200)]

KIND_LABELS = {
    "threshold": _("Amount off from a minimum spend (满减)"),
    "percent": _("Percent off with a cap (折扣)"),
    "no_threshold": _("Amount off, no minimum (无门槛)"),
}
LEVEL_LABELS = {
    "product": _("Listed products"),
    "shop": _("Whole shop"),
    "platform": _("Platform"),
}
SCOPE_LABELS = {
    "all": _("Everything"),
    "categories": _("Listed categories"),
    "products": _("Listed products"),
}
STATUS_LABELS = {"active": _("Active"), "stopped": _("Stopped")}
FIELDS = (
    "name",
    "kind",
    "level",
    "off",
    "rate_percent",
    "cap",
    "min_spend",
    "scope",
    "scope_ids",
    "quantity",
    "per_buyer_limit",
    "budget",
    "starts_at",
    "ends_at",
    "valid_days",
    "audience",
    "room_id",
)
AUDIENCE_LABELS = {
    "everyone": _("Everyone"),
    "new_buyers": _("New buyers only"),
    "followers": _("The shop's followers only"),
    "live_room": _("Viewers of one live room, while it is on air"),
}


def _time(value: str, label: str) -> datetime:
    """A ``datetime-local`` input, read as Beijing time."""
    try:
        local = datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(_("Choose %(field)s."), code="bad_window", field=label) from None
    return local.replace(tzinfo=clock.BUSINESS_TZ) if local.tzinfo is None else local


def _number(value: str, label: str, *, default: int | None = None) -> int | None:
    if not (value or "").strip():
        return default
    try:
        return form_int(value, lo=0)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number."), code="bad_number", field=label
        ) from None


def _ids(value: str) -> list[int]:
    out: list[int] = []
    for part in (value or "").replace("，", ",").replace(" ", ",").split(","):
        if part.strip():
            number = _number(part, _("a listed id"))
            out.append(number or 0)
    return out


def _input(form: dict[str, str], *, level: str) -> templates.TemplateInput:
    return templates.TemplateInput(
        name=form["name"],
        kind=form["kind"],
        level=level,
        off_fen=yuan_field(form["off"], label=_("the amount off")) or 0,
        rate_percent=_number(form["rate_percent"], _("the percent paid"), default=100) or 0,
        cap_fen=yuan_field(form["cap"], label=_("the cap")) or 0,
        min_spend_fen=yuan_field(form["min_spend"], label=_("the minimum spend")) or 0,
        scope=form["scope"],
        scope_ids=_ids(form["scope_ids"]),
        quantity=_number(form["quantity"], _("the quantity"), default=0) or 0,
        per_buyer_limit=_number(form["per_buyer_limit"], _("the limit"), default=1) or 0,
        budget_fen=yuan_field(form["budget"], label=_("the budget")),
        starts_at=_time(form["starts_at"], _("a start time")),
        ends_at=_time(form["ends_at"], _("an end time")),
        valid_days=_number(form["valid_days"], _("the days valid")),
        audience=form.get("audience") or "everyone",
        room_id=_number(form.get("room_id", ""), _("the live room")),
    )


def _blank() -> dict[str, str]:
    now = clock.now().astimezone(clock.BUSINESS_TZ).replace(second=0, microsecond=0)
    return {
        **dict.fromkeys(FIELDS, ""),
        "kind": "threshold",
        "level": "shop",
        "scope": "all",
        "audience": "everyone",
        "rate_percent": "80",
        "per_buyer_limit": "1",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
    }


def _labels() -> dict[str, Any]:
    return {
        "kinds": KIND_LABELS,
        "levels": LEVEL_LABELS,
        "scopes": SCOPE_LABELS,
        "statuses": STATUS_LABELS,
        "audiences": AUDIENCE_LABELS,
    }


def _shop_context(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "coupons",
        "rows": service.shop_templates(db, actor, shop_id),
        "form": _blank(),
        "action": f"/merchant/shops/{shop_id}/coupons",
        **_labels(),
    }


def _ops_context(db: Session, actor: Actor) -> dict[str, Any]:
    form = _blank()
    form["level"] = "platform"
    return {
        "section": "coupons",
        "rows": service.platform_templates(db, actor),
        "form": form,
        "action": "/ops/coupons",
        **_labels(),
    }


@router.get("/merchant/shops/{shop_id}/coupons")
def merchant_coupons(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    """The shop's coupons and the form for a new one."""
    return render(request, "campaigns/merchant_coupons.html", _shop_context(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/coupons")
def merchant_coupon_create(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    name: Field = "",
    kind: Field = "",
    level: Field = "shop",
    off: Field = "",
    rate_percent: Field = "",
    cap: Field = "",
    min_spend: Field = "",
    scope: Field = "all",
    scope_ids: Ids = "",
    quantity: Field = "",
    per_buyer_limit: Field = "",
    budget: Field = "",
    starts_at: Field = "",
    ends_at: Field = "",
    valid_days: Field = "",
    audience: Field = "everyone",
    room_id: Field = "",
) -> Response:
    """A new coupon of the shop (product or shop level)."""
    sent = dict(locals())
    form = {key: str(sent[key]) for key in FIELDS}
    return forms.submit(
        request,
        db,
        lambda: templates.create_shop_template(
            db, actor, shop_id, _input(form, level=form["level"])
        ),
        done=f"/merchant/shops/{shop_id}/coupons",
        template="campaigns/merchant_coupons.html",
        context=lambda: _shop_context(db, actor, shop_id),
        values={"form": form},
    )


@router.post("/merchant/shops/{shop_id}/coupons/{template_id}/stop")
def merchant_coupon_stop(
    request: Request, shop_id: Id, template_id: Id, db: DbDep, actor: PageUser
) -> Response:
    """No more claims of this coupon."""
    return forms.submit(
        request,
        db,
        lambda: templates.stop_template(db, actor, template_id),
        done=f"/merchant/shops/{shop_id}/coupons",
        template="campaigns/merchant_coupons.html",
        context=lambda: _shop_context(db, actor, shop_id),
    )


@router.get("/ops/coupons")
def ops_coupons(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Operators: the platform's coupons and the form for a new one."""
    return render(request, "campaigns/ops_coupons.html", _ops_context(db, actor))


@router.post("/ops/coupons")
def ops_coupon_create(
    request: Request,
    db: DbDep,
    actor: PageUser,
    name: Field = "",
    kind: Field = "",
    off: Field = "",
    rate_percent: Field = "",
    cap: Field = "",
    min_spend: Field = "",
    scope: Field = "all",
    scope_ids: Ids = "",
    quantity: Field = "",
    per_buyer_limit: Field = "",
    budget: Field = "",
    starts_at: Field = "",
    ends_at: Field = "",
    valid_days: Field = "",
    audience: Field = "everyone",
    room_id: Field = "",
) -> Response:
    """A new platform coupon (funded by the platform)."""
    sent = dict(locals())
    form = {key: str(sent.get(key, "")) for key in FIELDS}
    form["level"] = "platform"
    return forms.submit(
        request,
        db,
        lambda: templates.create_platform_template(db, actor, _input(form, level="platform")),
        done="/ops/coupons",
        template="campaigns/ops_coupons.html",
        context=lambda: _ops_context(db, actor),
        values={"form": form},
        page_errors=(401,),
    )


@router.post("/ops/coupons/{template_id}/stop")
def ops_coupon_stop(request: Request, template_id: Id, db: DbDep, actor: PageUser) -> Response:
    return forms.submit(
        request,
        db,
        lambda: templates.stop_template(db, actor, template_id),
        done="/ops/coupons",
        template="campaigns/ops_coupons.html",
        context=lambda: _ops_context(db, actor),
        page_errors=(401,),
    )


def _mine_context(db: Session, actor: Actor) -> dict[str, Any]:
    return {
        "coupons": service.my_coupons(db, actor),
        "platform": service.claimable(db, shop_id=None),
        "now": clock.now(),
        **_labels(),
    }


@router.get("/me/coupons")
def my_coupons(request: Request, db: DbDep, actor: PageUser) -> Response:
    """The buyer's coupons, and the platform's coupons to claim."""
    return render(request, "campaigns/my_coupons.html", _mine_context(db, actor))


@router.post("/coupons/{template_id}/claim")
def claim(request: Request, template_id: Id, db: DbDep, actor: PageUser) -> Response:
    """Claim one coupon (from a shop page, a live room or the buyer's coupons page)."""
    return forms.submit(
        request,
        db,
        lambda: claims.claim(db, actor, template_id),
        done="/me/coupons",
        template="campaigns/my_coupons.html",
        context=lambda: _mine_context(db, actor),
    )


# --------------------------------------------------------------------------- discounts

DISCOUNT_STATES = {
    "scheduled": _("Scheduled"),
    "on": _("On now"),
    "ended": _("Ended"),
    "cancelled": _("Cancelled"),
}


def _discount_context(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    shop = merchants_service.console_shop(db, actor, shop_id)
    products = catalog_service.list_shop_products(
        db, actor, shop_id, status=catalog_service.ProductStatus.ON_SALE, per_page=100
    ).items
    now = clock.now().astimezone(clock.BUSINESS_TZ).replace(second=0, microsecond=0)
    return {
        "shop": shop,
        "section": "discounts",
        "rows": discounts.shop_discounts(db, actor, shop_id),
        "products": products,
        "states": DISCOUNT_STATES,
        "form": {
            "name": "",
            "rate_percent": "80",
            "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=1))
            .replace(hour=0, minute=0)
            .strftime("%Y-%m-%dT%H:%M"),
            "sku_ids": [],
        },
    }


@router.get("/merchant/shops/{shop_id}/discounts")
def merchant_discounts(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    """The shop's limited-time discounts and the form for a new one."""
    return render(
        request, "campaigns/merchant_discounts.html", _discount_context(db, actor, shop_id)
    )


@router.post("/merchant/shops/{shop_id}/discounts")
def merchant_discount_create(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    name: Field = "",
    rate_percent: Field = "",
    starts_at: Field = "",
    ends_at: Field = "",
    sku_ids: Annotated[list[str], Form(max_length=discounts.MAX_ITEMS)] = [],  # noqa: B006
) -> Response:
    """A new discount: the chosen SKUs at one percentage of their price."""
    form = {
        "name": name,
        "rate_percent": rate_percent,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "sku_ids": sku_ids,
    }

    def call() -> Any:
        rate = _number(rate_percent, _("the percent paid"), default=0) or 0
        data = discounts.DiscountInput(
            name=name,
            starts_at=_time(starts_at, _("a start time")),
            ends_at=_time(ends_at, _("an end time")),
            items=[
                discounts.ItemInput(sku_id=i, rate_percent=rate) for i in _ids(",".join(sku_ids))
            ],
        )
        return discounts.create_discount(db, actor, shop_id, data)

    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/discounts",
        template="campaigns/merchant_discounts.html",
        context=lambda: _discount_context(db, actor, shop_id),
        values={"form": form},
    )


@router.post("/merchant/shops/{shop_id}/discounts/{discount_id}/cancel")
def merchant_discount_cancel(
    request: Request, shop_id: Id, discount_id: Id, db: DbDep, actor: PageUser
) -> Response:
    """End the discount now."""
    return forms.submit(
        request,
        db,
        lambda: discounts.cancel_discount(db, actor, discount_id),
        done=f"/merchant/shops/{shop_id}/discounts",
        template="campaigns/merchant_discounts.html",
        context=lambda: _discount_context(db, actor, shop_id),
    )

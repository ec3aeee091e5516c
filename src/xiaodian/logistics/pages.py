"""Logistics pages: the merchant's parcels needing attention (and, in sandbox mode, the
buttons that play a parcel's journey) and shipping templates (运费模板: list, create with
one province rule, make default, delete; more province rules through the API). The
buyer's timeline is a panel of the order page (``orders.lifecycle.order_panel``), drawn by
``logistics/_timeline.html``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, _
from xiaodian.logistics import fees, sandbox, service, shipping
from xiaodian.merchants import service as merchants_service
from xiaodian.money import yuan_field
from xiaodian.web import forms, routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, form_int

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


# --------------------------------------------------------------------------- shipping

SHIPPING = "logistics/shipping_templates.html"
_BLANK = {
    "name": "",
    "method": "piece",
    "first_units": "1",
    "first_fee": "",
    "extra_units": "1",
    "extra_fee": "",
    "free_over": "",
    "region_first_fee": "",
    "region_extra_fee": "",
}


def _shipping_ctx(db: Any, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "shipping",
        "templates": shipping.list_templates(db, actor, shop_id),
        "provinces": fees.PROVINCES,
        "form": dict(_BLANK),
        "chosen_region": [],
        "chosen_excluded": [],
    }


def _units(form: FormData, name: str, label: str) -> int:
    try:
        return form_int(form.get(name), lo=1, hi=fees.MAX_UNITS)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number from %(low)s to %(high)s."),
            code="bad_shipping_number",
            field=label,
            low=1,
            high=fees.MAX_UNITS,
        ) from None


def _fee(form: FormData, name: str, label: str) -> int:
    value = form.get(name)
    return yuan_field(value if isinstance(value, str) else "", label=label) or 0


def _terms(form: FormData) -> fees.Terms:
    """The form's template: the default rule, at most one province rule, the excluded
    provinces, free over; checked by ``fees.check_terms`` like the API's."""
    first_units = _units(form, "first_units", _("The first units"))
    extra_units = _units(form, "extra_units", _("The additional units"))
    rule = {
        "first_units": first_units,
        "first_fen": _fee(form, "first_fee", _("The first fee")),
        "extra_units": extra_units,
        "extra_fen": _fee(form, "extra_fee", _("The additional fee")),
    }
    regions = []
    chosen = [v for v in form.getlist("region_province") if isinstance(v, str)]
    if chosen:
        regions.append(
            {
                "provinces": chosen,
                "first_units": first_units,
                "first_fen": _fee(form, "region_first_fee", _("The province rule's first fee")),
                "extra_units": extra_units,
                "extra_fen": _fee(
                    form, "region_extra_fee", _("The province rule's additional fee")
                ),
            }
        )
    free_over = form.get("free_over")
    return fees.check_terms(
        name=form.get("name") or "",
        method=form.get("method"),
        rule=rule,
        regions=regions,
        excluded=[v for v in form.getlist("excluded") if isinstance(v, str)],
        free_over_fen=yuan_field(
            free_over if isinstance(free_over, str) else "", label=_("Free shipping over")
        ),
        is_default=form.get("is_default") == "1",
    )


@router.get("/merchant/shops/{shop_id}/shipping")
def shipping_page(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """The shop's shipping templates and the form of a new one."""
    return render(request, SHIPPING, _shipping_ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/shipping")
async def shipping_create(request: Request, db: DbDep, actor: PageUser, shop_id: Id) -> Response:
    """A new template from the form (read as sent: the provinces are lists of boxes)."""
    form = await request.form()
    values = {key: str(form.get(key) or "")[:40] for key in _BLANK}
    return forms.submit(
        request,
        db,
        lambda: shipping.create_template(db, actor, shop_id, _terms(form)),
        done=f"/merchant/shops/{shop_id}/shipping",
        template=SHIPPING,
        context=lambda: _shipping_ctx(db, actor, shop_id),
        values={
            "form": values,
            "chosen_region": form.getlist("region_province"),
            "chosen_excluded": form.getlist("excluded"),
        },
    )


@router.post("/merchant/shops/{shop_id}/shipping/{template_id}/default")
def shipping_default(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, template_id: Id
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: shipping.make_default(db, actor, shop_id, template_id),
        done=f"/merchant/shops/{shop_id}/shipping",
        template=SHIPPING,
        context=lambda: _shipping_ctx(db, actor, shop_id),
    )


@router.post("/merchant/shops/{shop_id}/shipping/{template_id}/delete")
def shipping_delete(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, template_id: Id
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: shipping.delete_template(db, actor, shop_id, template_id),
        done=f"/merchant/shops/{shop_id}/shipping",
        template=SHIPPING,
        context=lambda: _shipping_ctx(db, actor, shop_id),
    )

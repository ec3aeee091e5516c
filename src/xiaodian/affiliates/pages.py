"""HTML pages of the affiliates: the tracked link's redirect (``/s/{code}``, public), the
merchant console's plans page (plans, invites, the attribution rule) and a promoter's
links page."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.affiliates import (
    commissions,
    external,
    links,
    marketplace,
    plans,
    posters,
    reports,
    rules,
    samples,
    showcase,
)
from xiaodian.errors import InvalidInput, _
from xiaodian.follows import service as follows_service
from xiaodian.ledger import withdrawals
from xiaodian.merchants import service as merchants_service
from xiaodian.money import format_fen, yuan_field
from xiaodian.orders import addresses
from xiaodian.web import forms, routing
from xiaodian.web.deps import (
    TOUCH_COOKIE,
    CurrentActor,
    DbDep,
    PageUser,
    WriteDbDep,
    request_touch,
    safe_next,
)
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_int

router = routing.router(include_in_schema=False)

Text = Annotated[str, Form(max_length=40)]
TOUCH_MAX_AGE = 90 * 86400  # longer than any lock window a shop may set
PLANS = "affiliates/merchant_plans.html"
LINKS = "affiliates/my_links.html"


@router.get("/s/{code}")
def follow_link(request: Request, code: str, db: WriteDbDep, actor: CurrentActor) -> Response:
    """A tracked link: the click recorded, then the product (or shop) with the attribution
    in the URL and, for a visitor without one, the touch cookie."""
    followed = links.follow(
        db,
        actor,
        code=code[:40],
        touch=request_touch(request),
        user_agent=request.headers.get("user-agent", "")[:300],
    )
    response = RedirectResponse(followed.target, status_code=302)
    if followed.touch:
        response.set_cookie(
            TOUCH_COOKIE,
            followed.touch,
            max_age=TOUCH_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookie_secure,
        )
    return response


# --------------------------------------------------------------------------- merchant


def _when(value: str, *, label: str, required: bool = False) -> datetime | None:
    """A ``datetime-local`` field, read in the business time zone."""
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput(_("Please give %(field)s."), code="bad_time", field=label)
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("Times are written like 2026-12-01 08:00."), code="bad_time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.BUSINESS_TZ)
    return clock.as_utc(moment)


def _number(value: str, *, code: str, message: str) -> int:
    try:
        return form_int(value.strip())
    except ValueError:
        raise InvalidInput(message, code=code) from None


def _plans_submit(request: Request, db: Session, actor: Actor, shop_id: int, call: Any) -> Response:
    """A form of the plans page: the one service call, then back to the page (or the page
    again with the error)."""
    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/affiliates",
        template=PLANS,
        context=lambda: _plans_ctx(db, actor, shop_id),
    )


def _plans_ctx(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "affiliates",
        "plans": plans.shop_plans(db, actor, shop_id),
        "rule": rules.shop_rule(db, actor, shop_id),
        "is_owner": actor.shop_roles.get(shop_id) == "owner",
        "kinds": KIND_LABELS,
        "report": reports.shop_report(db, actor, shop_id),
    }


KIND_LABELS = {
    "open": _("Open (for every promoter)"),
    "targeted": _("Targeted (invited promoters)"),
    "exclusive": _("Exclusive (one promoter)"),
}


@router.get("/merchant/shops/{shop_id}/affiliates")
def merchant_plans(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    """The shop's plans and its attribution rule."""
    return render(request, PLANS, _plans_ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/affiliates/plans")
def merchant_create_plan(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    product_id: Text = "",
    kind: Text = "",
    rate_pct: Text = "",
    starts_at: Text = "",
    ends_at: Text = "",
    promoter_id: Text = "",
) -> Response:
    def call() -> Any:
        product = _number(product_id, code="bad_product", message=_("Choose a product."))
        rate = _number(rate_pct, code="bad_rate", message=_("The rate must be a whole percent."))
        promoter = None
        if kind == "exclusive":
            promoter = _number(
                promoter_id, code="bad_plan_promoter", message=_("Give the promoter's id.")
            )
        start = _when(starts_at, label=_("the start")) or clock.now()
        terms = plans.PlanTerms(kind, rate, start, _when(ends_at, label=_("the end")), promoter)
        return plans.create_plan(db, actor, shop_id, product_id=product, terms=terms)

    return forms.submit(
        request,
        db,
        call,
        done=f"/merchant/shops/{shop_id}/affiliates",
        template=PLANS,
        context=lambda: _plans_ctx(db, actor, shop_id),
        values={"product_id": product_id, "kind": kind, "rate_pct": rate_pct},
    )


@router.post("/merchant/shops/{shop_id}/affiliates/plans/{plan_id}")
def merchant_update_plan(
    request: Request,
    shop_id: Id,
    plan_id: Id,
    db: DbDep,
    actor: PageUser,
    rate_pct: Text = "",
    active: Text = "",
) -> Response:
    def call() -> Any:
        plan = plans.get_plan(db, actor, shop_id, plan_id)
        rate = _number(rate_pct, code="bad_rate", message=_("The rate must be a whole percent."))
        return plans.update_plan(
            db,
            actor,
            shop_id,
            plan_id,
            rate_pct=rate,
            ends_at=plan.ends_at,
            is_active=active == "1",
        )

    return _plans_submit(request, db, actor, shop_id, call)


@router.post("/merchant/shops/{shop_id}/affiliates/plans/{plan_id}/invites")
def merchant_invite(
    request: Request,
    shop_id: Id,
    plan_id: Id,
    db: DbDep,
    actor: PageUser,
    promoter_id: Text = "",
    rate_pct: Text = "",
) -> Response:
    def call() -> Any:
        promoter = _number(promoter_id, code="bad_promoter", message=_("Give the promoter's id."))
        rate = _number(rate_pct, code="bad_rate", message=_("The rate must be a whole percent."))
        return plans.invite_promoter(
            db, actor, shop_id, plan_id, promoter_id=promoter, rate_pct=rate
        )

    return _plans_submit(request, db, actor, shop_id, call)


@router.post("/merchant/shops/{shop_id}/affiliates/rule")
def merchant_rule(
    request: Request,
    shop_id: Id,
    db: DbDep,
    actor: PageUser,
    product_days: Text = "",
    product_order_days: Text = "",
    content_days: Text = "",
    content_order_days: Text = "",
    allow_self_purchase: Text = "",
) -> Response:
    def call() -> Any:
        message = _("A window is a whole number of days from 1 to %(max)s.")
        days = [
            _number(v, code="bad_window", message=message)
            for v in (product_days, product_order_days, content_days, content_order_days)
        ]
        return rules.update_rule(
            db,
            actor,
            shop_id,
            product_days=days[0],
            product_order_days=days[1],
            content_days=days[2],
            content_order_days=days[3],
            allow_self_purchase=allow_self_purchase == "1",
        )

    return _plans_submit(request, db, actor, shop_id, call)


# --------------------------------------------------------------------------- promoters


def _links_ctx(db: Session, actor: Actor) -> dict[str, Any]:
    return {"links": links.my_links(db, actor), "figures": reports.promoter_links(db, actor)}


@router.get("/me/links")
def my_links(request: Request, db: DbDep, actor: PageUser) -> Response:
    """The promoter's tracked links, and a form to make one for a product."""
    return render(request, LINKS, _links_ctx(db, actor))


@router.post("/me/links")
def make_link(
    request: Request, db: DbDep, actor: PageUser, product_id: Text = "", shop_id: Text = ""
) -> Response:
    def call() -> Any:
        if shop_id.strip():
            shop = _number(shop_id, code="bad_link_target", message=_("Choose a product."))
            return links.get_or_create_link(db, actor, shop_id=shop, kind="shop")
        product = _number(product_id, code="bad_link_target", message=_("Choose a product."))
        return links.get_or_create_link(db, actor, product_id=product)

    return forms.submit(
        request,
        db,
        call,
        done="/me/links",
        template=LINKS,
        context=lambda: _links_ctx(db, actor),
        values={"product_id": product_id},
    )


STATUS_LABELS = {
    "pending": _("Pending settlement"),
    "released": _("Available"),
    "void": _("Refunded"),
}


@router.get("/me/earnings")
def my_earnings(request: Request, db: DbDep, actor: PageUser) -> Response:
    """The promoter's commission: pending (with the date it becomes available), available,
    withdrawn; per link and per order."""
    return render(request, "affiliates/my_earnings.html", _earnings_ctx(db, actor))


def _earnings_ctx(db: Session, actor: Actor) -> dict[str, Any]:
    return {
        "earnings": commissions.my_earnings(db, actor),
        "statuses": STATUS_LABELS,
        "withdrawals": withdrawals.my_withdrawals(db, actor),
        "withdrawal_statuses": withdrawals.STATUS_LABELS,
        "min_withdrawal_fen": settings_module.current().ledger_withdrawal_min_fen,
    }


@router.post("/me/earnings/withdrawals")
def my_withdraw(
    request: Request,
    db: DbDep,
    actor: PageUser,
    amount: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The promoter asks for a withdrawal of ``amount`` yuan of their available commission,
    under the shops' rules."""

    def call() -> Any:
        fen = yuan_field(amount, label=_("the amount"), required=True) or 0
        return withdrawals.request_promoter_withdrawal(db, actor, amount_fen=fen)

    return forms.submit(
        request,
        db,
        call,
        done="/me/earnings?withdrawn=1",
        template="affiliates/my_earnings.html",
        context=lambda: _earnings_ctx(db, actor),
        values={"amount": amount},
    )


@router.get("/me/earnings.csv")
def my_earnings_csv(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Every commission as CSV (amounts in yuan, as a spreadsheet reads them)."""
    earnings = commissions.my_earnings(db, actor)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["order_no", "link_id", "status", "commission", "full", "clawed_back", "available_at"]
    )
    for c in earnings.commissions:
        writer.writerow(
            [
                c.order_no,
                c.link_id or "",
                str(c.status),
                format_fen(c.amount_fen, symbol="", thousands=""),
                format_fen(c.full_fen, symbol="", thousands=""),
                format_fen(c.clawed_fen, symbol="", thousands=""),
                (c.released_at or c.expected_available_at).isoformat(),
            ]
        )
    return Response(
        ("\ufeff" + out.getvalue()).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="commission.csv"'},
    )


# --------------------------------------------------------------------------- showcase


def _product(value: str) -> int:
    try:
        return form_int(value, lo=1)
    except ValueError:
        return 0


@router.get("/showcase/{creator_id}")
def showcase_page(request: Request, db: DbDep, actor: CurrentActor, creator_id: Id) -> Response:
    """A creator's showcase (橱窗): public, phone-first; each product through the creator's
    tracked link."""
    found = showcase.showcase(db, creator_id)
    ctx = {
        "showcase": found,
        "external": external.cards_of(db, creator_id),
        "mine": actor.user_id == creator_id,
        "is_following": bool(follows_service.following(db, actor.user_id, "creator", [creator_id])),
    }
    return render(request, "affiliates/showcase.html", ctx)


@router.post("/me/showcase")
def showcase_add(
    request: Request,
    db: DbDep,
    actor: PageUser,
    product_id: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    showcase.add(db, actor, product_id=_product(product_id))
    return RedirectResponse(safe_next(next, f"/showcase/{actor.user_id}"), status_code=303)


@router.post("/me/showcase/remove")
def showcase_remove(
    request: Request,
    db: DbDep,
    actor: PageUser,
    product_id: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    showcase.remove(db, actor, product_id=_product(product_id))
    return RedirectResponse(safe_next(next, f"/showcase/{actor.user_id}"), status_code=303)


# --------------------------------------------------------------------------- marketplace

SORT_LABELS = {
    "earning": _("Earning per unit"),
    "rate": _("Commission rate"),
    "sales": _("Sales"),
    "price": _("Price"),
}
PLAN_LABELS = {"open": _("Open plan"), "targeted": _("Invited"), "exclusive": _("Exclusive")}


def _optional(value: str, label: str, *, yuan: bool = False) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if yuan:
        return yuan_field(text, label=label)
    try:
        return form_int(text, lo=0, hi=10**12)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number."), code="bad_number", field=label
        ) from None


@router.get("/market")
def market(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    sort: str = "earning",
    category: str = "",
    min_rate: str = "",
    max_price: str = "",
    min_score: str = "",
    page: PageNo = 1,
) -> Response:
    """The marketplace (选品广场): products to promote, with the rate and the estimated
    earning per unit; creators pick them into their showcase from here."""
    chosen = sort if sort in marketplace.SORTS else "earning"
    error = None
    try:
        found = marketplace.offers(
            db,
            actor,
            category_id=_optional(category, _("the category")),
            min_rate=_optional(min_rate, _("the lowest rate")),
            max_price_fen=_optional(max_price, _("the highest price"), yuan=True),
            min_score=_optional(min_score, _("the lowest shop score")),
            sort=chosen,
            page=min(page, 500),
        )
    except InvalidInput as exc:
        error = exc.render(request.state.gettext)
        found = marketplace.OfferPage(items=[], total=0, page=1)
    picked = showcase.picked(db, actor, [o.product_id for o in found.items])
    return render(
        request,
        "affiliates/market.html",
        {
            "offers": found,
            "sort": chosen,
            "sorts": SORT_LABELS,
            "plan_labels": PLAN_LABELS,
            "filters": {
                "category": category,
                "min_rate": min_rate,
                "max_price": max_price,
                "min_score": min_score,
            },
            "picked": picked,
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/x/{card_id}")
def external_card(db: DbDep, card_id: Id) -> Response:
    """An external product card: the click counted, then to the address stored with it."""
    return RedirectResponse(external.follow_card(db, card_id), status_code=302)


@router.post("/me/showcase/external")
def external_add(
    request: Request,
    db: DbDep,
    actor: PageUser,
    title: Annotated[str, Form(max_length=120)] = "",
    url: Annotated[str, Form(max_length=600)] = "",
    price: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    def call() -> Any:
        price_fen = yuan_field(price, label=_("the price")) if price.strip() else None
        return external.add_card(db, actor, title=title, url=url, price_fen=price_fen)

    return forms.submit(
        request,
        db,
        call,
        done=f"/showcase/{actor.user_id}",
        template="affiliates/showcase.html",
        context=lambda: {
            "showcase": showcase.showcase(db, actor.require_user()),
            "external": external.cards_of(db, actor.require_user()),
            "mine": True,
            "is_following": False,
        },
        values={"external_form": {"title": title, "url": url, "price": price}},
    )


@router.post("/me/showcase/external/{card_id}/remove")
def external_remove(request: Request, db: DbDep, actor: PageUser, card_id: Id) -> Response:
    external.remove_card(db, actor, card_id)
    return RedirectResponse(f"/showcase/{actor.user_id}", status_code=303)


@router.get("/me/posters/{product_id}.png")
def poster(db: DbDep, actor: PageUser, product_id: Id) -> Response:
    """The signed-in promoter's poster of a product: its picture, title and price, their
    name and the QR code of their tracked link (a PNG, drawn once per price)."""
    return Response(
        posters.poster(db, actor, product_id),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --------------------------------------------------------------------------- samples (寄样)

MERCHANT_SAMPLES = "affiliates/merchant_samples.html"
MY_SAMPLES = "affiliates/my_samples.html"
STAGE_LABELS = {
    "requested": _("Awaiting the shop"),
    "declined": _("Declined"),
    "approved": _("Approved"),
    "shipped": _("Shipped"),
    "received": _("Signed for"),
    "first_sale": _("First sale"),
}


def _merchant_samples_ctx(db: Session, actor: Actor, shop_id: int) -> dict[str, Any]:
    found = samples.shop_samples(db, actor, shop_id)
    return {
        "shop": merchants_service.console_shop(db, actor, shop_id),
        "section": "samples",
        "samples": found.samples,
        "counts": found.counts,
        "stages": ("requested", "approved", "declined", "shipped", "received", "first_sale"),
        "stage_labels": STAGE_LABELS,
    }


@router.get("/merchant/shops/{shop_id}/samples")
def merchant_samples(request: Request, shop_id: Id, db: DbDep, actor: PageUser) -> Response:
    """The shop's sample requests with their funnel, to approve or decline."""
    return render(request, MERCHANT_SAMPLES, _merchant_samples_ctx(db, actor, shop_id))


@router.post("/merchant/shops/{shop_id}/samples/{sample_id}/approve")
def merchant_approve_sample(
    request: Request, shop_id: Id, sample_id: Id, db: DbDep, actor: PageUser
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: samples.approve(db, actor, shop_id, sample_id),
        done=f"/merchant/shops/{shop_id}/samples",
        template=MERCHANT_SAMPLES,
        context=lambda: _merchant_samples_ctx(db, actor, shop_id),
    )


@router.post("/merchant/shops/{shop_id}/samples/{sample_id}/decline")
def merchant_decline_sample(
    request: Request,
    shop_id: Id,
    sample_id: Id,
    db: DbDep,
    actor: PageUser,
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    return forms.submit(
        request,
        db,
        lambda: samples.decline(db, actor, shop_id, sample_id, reason=reason),
        done=f"/merchant/shops/{shop_id}/samples",
        template=MERCHANT_SAMPLES,
        context=lambda: _merchant_samples_ctx(db, actor, shop_id),
    )


def _my_samples_ctx(db: Session, actor: Actor, product_id: int | None = None) -> dict[str, Any]:
    return {
        "samples": samples.my_samples(db, actor),
        "addresses": addresses.list_addresses(db, actor),
        "stage_labels": STAGE_LABELS,
        "product_id": product_id or "",
        "product_title": samples.product_title(db, product_id) if product_id else None,
    }


@router.get("/me/samples")
def my_samples(request: Request, db: DbDep, actor: PageUser, product: str = "") -> Response:
    """The creator's sample requests with the stage each reached, and a form to ask (for
    ``product``, when the marketplace's "request a sample" link names one)."""
    return render(request, MY_SAMPLES, _my_samples_ctx(db, actor, _linked_product(product)))


def _linked_product(value: str) -> int | None:
    """The product id a link or the form gave, None for anything else (the form, empty)."""
    try:
        return form_int(value.strip(), lo=1) if value else None
    except ValueError:
        return None


@router.post("/me/samples")
def request_sample(
    request: Request,
    db: DbDep,
    actor: PageUser,
    product_id: Text = "",
    address_id: Text = "",
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def call() -> Any:
        product = _number(product_id, code="bad_product", message=_("Choose a product."))
        address = _number(address_id, code="bad_address", message=_("Choose an address."))
        return samples.request_sample(db, actor, product_id=product, address_id=address, note=note)

    return forms.submit(
        request,
        db,
        call,
        done="/me/samples",
        template=MY_SAMPLES,
        context=lambda: _my_samples_ctx(db, actor, _linked_product(product_id)),
        values={"product_id": product_id, "note": note},
    )

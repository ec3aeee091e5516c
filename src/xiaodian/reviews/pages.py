"""HTML pages of reviews: the buyer's review form (and its follow-ups), a product's
reviews, the helpful button, and the merchant's list with its one reply per review.

Every page works without JavaScript; forms go through ``web.forms``.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from xiaodian import clock, media, settings
from xiaodian.actor import Actor
from xiaodian.errors import InvalidInput, _
from xiaodian.merchants import pages as merchants_pages
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import service as orders_service
from xiaodian.reviews import browse, service, writing
from xiaodian.web import forms, routing
from xiaodian.web.deps import CurrentActor, DbDep, PageUser
from xiaodian.web.templating import render
from xiaodian.web.types import Id, PageNo, form_int

router = routing.router(include_in_schema=False)

OrderNo = Annotated[str, Path(min_length=8, max_length=24, pattern=r"^\d+$")]
Text = Annotated[str, Query(max_length=20)]
FORM = "reviews/form.html"
SHOP = "reviews/shop.html"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _stars(form: FormData, name: str) -> int:
    """A star field of the form: 0 (refused by the service) when missing or not a number."""
    try:
        return form_int(_text(form, name) or "0", lo=-9, hi=9)
    except ValueError:
        return 0


async def _photos(form: FormData, name: str) -> list[bytes]:
    uploads = [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]
    service.check_photo_count(len(uploads))  # before reading a tenth photo
    limit = settings.current().max_image_bytes
    return [await media.read_upload(cast(Any, f), limit=limit) for f in uploads]


def _form_ctx(db: Session, actor: Actor, order_no: str) -> dict[str, Any]:
    order = orders_service.get_my_order(db, actor, order_no)
    review = browse.my_review(db, actor, order_no)
    now = clock.now()
    completed = order.completed_at
    return {
        "order": order,
        "review": review,
        "completed": order.status == orders_service.OrderStatus.COMPLETED,
        "review_open": completed is not None and now <= service.review_deadline(completed),
        "follow_up_open": completed is not None and now <= service.follow_up_deadline(completed),
        "review_until": service.review_deadline(completed) if completed else None,
        "max_photos": service.MAX_PHOTOS,
        "masked": service.masked,
        "form": {},
    }


@router.get("/orders/{order_no}/review")
def review_form(request: Request, order_no: OrderNo, db: DbDep, actor: PageUser) -> Response:
    return render(request, FORM, _form_ctx(db, actor, order_no))


@router.post("/orders/{order_no}/review")
async def review_submit(
    request: Request, order_no: OrderNo, db: DbDep, actor: PageUser
) -> Response:
    form = await request.form()
    try:

        async def submit() -> service.Review:
            lines = []
            for raw in form.getlist("line"):
                try:
                    line_id = form_int(raw, lo=1)
                except ValueError:
                    raise InvalidInput(
                        _("That item is not in this order."), code="bad_line"
                    ) from None
                lines.append(
                    writing.LineReview(
                        line_id=line_id,
                        stars=_stars(form, f"stars_{line_id}"),
                        text=_text(form, f"text_{line_id}"),
                        photos=await _photos(form, f"photos_{line_id}"),
                    )
                )
            return await run_in_threadpool(
                writing.create_review,
                db,
                actor,
                order_no,
                lines=lines,
                service_stars=_stars(form, "service_stars"),
                logistics_stars=_stars(form, "logistics_stars"),
                anonymous=_text(form, "anonymous") == "1",
            )

        return await forms.submit_async(
            request,
            db,
            submit,
            done=f"/orders/{order_no}/review?done=1",
            template=FORM,
            context=lambda: _form_ctx(db, actor, order_no),
            values={"form": {k: v for k, v in form.items() if isinstance(v, str)}},
        )
    finally:
        await form.close()


@router.post("/reviews/{item_id}/follow-up")
async def follow_up(request: Request, item_id: Id, db: DbDep, actor: PageUser) -> Response:
    form = await request.form()
    order_no: dict[str, str] = {}
    try:

        async def submit() -> Any:
            photos = await _photos(form, "photos")
            item = await run_in_threadpool(
                writing.add_follow_up, db, actor, item_id, text=_text(form, "text"), photos=photos
            )
            order_no["no"] = item.review.order_no
            return item

        def context() -> dict[str, Any]:
            item = service.get_item(db, item_id)
            return _form_ctx(db, actor, item.review.order_no)

        return await forms.submit_async(
            request,
            db,
            submit,
            done=lambda item: f"/orders/{order_no['no']}/review?done=1",
            template=FORM,
            context=context,
            values={"follow_text": {item_id: _text(form, "text")}},
        )
    finally:
        await form.close()


def _product_ctx(
    db: Session, actor: Actor, product_id: int, sort: str, photos: bool, page: int
) -> dict[str, Any]:
    product, figures, result = browse.product_reviews(
        db, product_id=product_id, sort=sort, photos=photos, page=page
    )
    return {
        "product": product,
        "figures": figures,
        "result": result,
        "sort": sort,
        "photos": photos,
        "sorts": browse.SORTS,
        "voted": browse.voted(db, actor, [i.id for i in result.items]),
        "me": actor.user_id,
        "masked": service.masked,
    }


@router.get("/p/{product_id}/reviews")
def product_reviews(
    request: Request,
    db: DbDep,
    actor: CurrentActor,
    product_id: Id,
    sort: Text = "newest",
    photos: Text = "",
    page: PageNo = 1,
) -> Response:
    """A product's reviews: average and count, newest or most helpful first, with photos."""
    ctx = _product_ctx(db, actor, product_id, sort, photos == "1", page)
    return render(request, "reviews/product.html", ctx)


@router.post("/reviews/{item_id}/helpful")
def helpful(request: Request, item_id: Id, db: DbDep, actor: PageUser) -> Response:
    def done(item: Any) -> str:
        return f"/p/{item.product_id}/reviews#review-{item.id}"

    def context() -> dict[str, Any]:
        item = service.get_item(db, item_id)
        return _product_ctx(db, actor, item.product_id, "newest", False, 1)

    return forms.submit(
        request,
        db,
        lambda: browse.mark_helpful(db, actor, item_id),
        done=done,
        template="reviews/product.html",
        context=context,
    )


def _shop_ctx(
    db: Session, actor: Actor, shop_id: int, unanswered: bool, page: int
) -> dict[str, Any]:
    return {
        "result": browse.shop_reviews(db, actor, shop_id, unanswered=unanswered, page=page),
        "unanswered": unanswered,
        "figures": service.shop_figures(db, shop_id=shop_id),
        "masked": service.masked,
        "reply_text": {},
    }


@router.get("/merchant/shops/{shop_id}/reviews")
def shop_reviews(
    request: Request, db: DbDep, actor: PageUser, shop_id: Id, filter: Text = "", page: PageNo = 1
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)
    ctx = _shop_ctx(db, actor, shop.id, filter == "unanswered", page)
    return render(request, SHOP, merchants_pages.console_ctx(actor, shop, "reviews", ctx))


@router.post("/merchant/shops/{shop_id}/reviews/{item_id}/reply")
def shop_reply(
    request: Request,
    db: DbDep,
    actor: PageUser,
    shop_id: Id,
    item_id: Id,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    shop = merchants_service.console_shop(db, actor, shop_id)

    def context() -> dict[str, Any]:
        return merchants_pages.console_ctx(
            actor, shop, "reviews", _shop_ctx(db, actor, shop.id, False, 1)
        )

    return forms.submit(
        request,
        db,
        lambda: writing.reply(db, actor, shop.id, item_id, text=text),
        done=f"/merchant/shops/{shop.id}/reviews#review-{item_id}",
        template=SHOP,
        context=context,
        values={"reply_text": {item_id: text}},
    )

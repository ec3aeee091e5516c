"""Samples (寄样): a creator asks a shop for one unit of a product in one of its plans, to
an address of theirs; the shop's staff approve or decline (with a reason). Approved, the
sample is an ordinary zero-price order of channel "sample" for the creator
(``orders.checkout.create_sample_order``: the stock reserved, paid at once with 0 fen, so it
waits in the shop's orders to ship and ships through the ordinary fulfilment). No money
moves: the ledger posts nothing for a 0-fen order and attribution credits nobody for a
line of 0 fen, so no commission follows.

A request waiting for the shop's answer is a case of the merchant's ``samples`` queue (48 h),
opened with the request and closed by the decision, in the same transaction.

The funnel of each request: requested -> approved or declined -> shipped -> received (the
order delivered or completed) -> first sale (the first paid order credited to the creator
for that product after the sample shipped, read from the touches attribution wrote). It is
read, not stored: one statement joins the requests to the orders' offered columns, with the
first sale as a correlated subquery, so a page costs a fixed number of statements.

Each public function is one transaction and checks permissions per object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates.models import Plan, SampleRequest, SampleStatus, Touch
from xiaodian.affiliates.service import in_force, product_on_sale
from xiaodian.cases import service as cases_service
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied, _
from xiaodian.merchants import service as merchants_service
from xiaodian.orders import addresses, checkout
from xiaodian.orders import service as orders_service

QUEUE = "samples"
MAX_NOTE = 200
MAX_REASON = 200
PAGE = 200  # the newest requests a page shows

STAGES = ("requested", "declined", "approved", "shipped", "received", "first_sale")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _creator(actor: Actor) -> int:
    user_id = actor.require_user()
    if not actor.is_creator:
        raise PermissionDenied(_("Only creators may request samples."), code="not_a_creator")
    return user_id


def _text(value: object, *, limit: int, code: str, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(_("Please write some text."), code=code)
    text = " ".join(value.split())
    if required and not text:
        raise InvalidInput(_("Please give a reason."), code=code)
    if len(text) > limit:
        raise InvalidInput(_("At most %(n)s characters, please."), code=code, n=limit)
    return text


def _check_plan(db: Session, product_id: int, creator_id: int) -> None:
    """A plan of the product in force now that the creator may promote under (an exclusive
    plan only for the promoter it names), else Conflict."""
    now = clock.now()
    found = [
        plan
        for plan in db.scalars(select(Plan).where(Plan.product_id == product_id))
        if in_force(plan, now) and (plan.kind != "exclusive" or plan.promoter_id == creator_id)
    ]
    if not found:
        raise Conflict(
            _("Samples are only sent of products in one of the shop's plans."), code="no_plan"
        )


def _sku(product: catalog_service.Product, sku_id: object) -> int:
    active = [sku.id for sku in product.skus if sku.is_active]
    if sku_id is None and active:
        return active[0]
    if _is_id(sku_id) and sku_id in active:
        assert isinstance(sku_id, int)
        return sku_id
    raise NotFound(_("This item does not exist."), code="sku_not_found")


def request_sample(
    db: Session,
    actor: Actor,
    *,
    product_id: int,
    address_id: int,
    note: str = "",
    sku_id: int | None = None,
) -> SampleRequest:
    """A creator asks for a sample of a product in a plan, to one of their addresses; the
    shop's ``samples`` case opens. Raises PermissionDenied (not a creator), NotFound (no
    such product on sale, SKU or address of theirs), Conflict (outside every plan, a
    request of the creator for the product waits already), InvalidInput (the note).
    Every check before anything is written."""
    creator_id = _creator(actor)
    text = _text(note, limit=MAX_NOTE, code="bad_note")
    product = product_on_sale(db, product_id)
    chosen_sku = _sku(product, sku_id)
    _check_plan(db, product.id, creator_id)
    if not _is_id(address_id):
        raise NotFound(_("Address not found."), code="address_not_found")
    address = addresses.get_address(db, actor, address_id)  # NotFound for another's
    if _open_request(db, creator_id, product.id) is not None:
        raise Conflict(
            _("Your request for a sample of this product waits for the shop's answer."),
            code="sample_open",
        )
    now = clock.now()
    row = SampleRequest(
        shop_id=product.shop_id,
        product_id=product.id,
        sku_id=chosen_sku,
        creator_id=creator_id,
        note=text,
        address=address.snapshot(),
        status=SampleStatus.REQUESTED,
        reason="",
        created_at=now,
    )
    try:
        db.add(row)
        db.flush()
        cases_service.open_case(
            db,
            QUEUE,
            f"sample:{row.id}",
            title=f"{product.title} · {actor.display_name or creator_id}",
            link=f"/merchant/shops/{product.shop_id}/samples",
            shop_id=product.shop_id,
            actor_id=creator_id,
        )
        db.commit()
    except IntegrityError:  # a concurrent request of the same creator and product won
        db.rollback()
        raise Conflict(
            _("Your request for a sample of this product waits for the shop's answer."),
            code="sample_open",
        ) from None
    return row


def product_title(db: Session, product_id: int) -> str | None:
    """The title of the product a creator is about to ask a sample of (the marketplace's
    "request a sample" link names it): only a product on sale, as the request itself asks
    (None for any other, so a link tells nothing of drafts or removed products)."""
    try:
        return product_on_sale(db, product_id).title
    except NotFound:
        return None


def _open_request(db: Session, creator_id: int, product_id: int) -> SampleRequest | None:
    return db.scalar(
        select(SampleRequest).where(
            SampleRequest.creator_id == creator_id,
            SampleRequest.product_id == product_id,
            SampleRequest.status == SampleStatus.REQUESTED,
        )
    )


def _shop_request(db: Session, actor: Actor, shop_id: int, sample_id: int) -> SampleRequest:
    actor.require_shop(shop_id)
    row = db.get(SampleRequest, sample_id) if _is_id(sample_id) else None
    if row is None or row.shop_id != shop_id:
        raise NotFound(_("Sample request not found."), code="sample_not_found")
    return row


def _decide(
    db: Session, actor: Actor, row: SampleRequest, status: SampleStatus, reason: str
) -> None:
    """Move the request from "requested" by one conditional UPDATE (of two staff deciding
    at once, one wins; the other is told it is decided), and close its case."""
    moved = db.execute(
        update(SampleRequest)
        .where(SampleRequest.id == row.id, SampleRequest.status == SampleStatus.REQUESTED)
        .values(status=status, reason=reason, decided_at=clock.now(), decided_by=actor.user_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if moved != 1:
        raise Conflict(_("This sample request has been answered already."), code="sample_decided")
    cases_service.close_case(
        db, QUEUE, f"sample:{row.id}", outcome=str(status), actor_id=actor.user_id
    )


def approve(db: Session, actor: Actor, shop_id: int, sample_id: int) -> SampleRequest:
    """The shop's staff approve: the request is approved and a zero-price order of one unit
    for the creator is made and paid at once (it ships as any order). NotFound (another
    shop's or no request), Conflict (decided already; the unit out of stock or off sale:
    nothing is written)."""
    row = _shop_request(db, actor, shop_id, sample_id)
    try:
        _decide(db, actor, row, SampleStatus.APPROVED, "")
        order = checkout.create_sample_order(
            db,
            buyer_id=row.creator_id,
            sku_id=row.sku_id,
            address=dict(row.address),
            ref=f"sample:{row.id}",
        )
        db.execute(
            update(SampleRequest)
            .where(SampleRequest.id == row.id)
            .values(order_id=order.id)
            .execution_options(synchronize_session=False)
        )
        db.commit()
    except Exception:
        db.rollback()
        raise
    db.refresh(row)
    db.commit()
    return row


def decline(
    db: Session, actor: Actor, shop_id: int, sample_id: int, *, reason: str
) -> SampleRequest:
    """The shop's staff decline, with a reason (1..200 characters). NotFound (another
    shop's or no request), Conflict (decided already), InvalidInput (the reason)."""
    text = _text(reason, limit=MAX_REASON, code="bad_reason", required=True)
    row = _shop_request(db, actor, shop_id, sample_id)
    try:
        _decide(db, actor, row, SampleStatus.DECLINED, text)
        db.commit()
    except Exception:
        db.rollback()
        raise
    db.refresh(row)
    db.commit()
    return row


# --------------------------------------------------------------------------- the funnel


@dataclass(frozen=True)
class SampleView:
    id: int
    shop_id: int
    shop_name: str
    product_id: int
    product_title: str
    creator_id: int
    creator_name: str
    note: str
    address: dict[str, Any]
    status: str
    reason: str
    order_id: int | None
    created_at: datetime
    decided_at: datetime | None
    shipped_at: datetime | None
    received_at: datetime | None
    first_sale_at: datetime | None

    @property
    def stage(self) -> str:
        """The furthest stage the request reached."""
        if self.first_sale_at is not None:
            return "first_sale"
        if self.received_at is not None:
            return "received"
        if self.shipped_at is not None:
            return "shipped"
        return self.status


def _funnel_query() -> Any:
    """The requests with their sample order's times and the first sale (one statement)."""
    sample = orders_service.orders_to_join("sample_orders")
    sale = orders_service.orders_to_join("sale_orders")
    first_sale = (
        select(func.min(sale.c.paid_at))
        .select_from(Touch)
        .join(sale, sale.c.id == Touch.order_id)
        .where(
            Touch.promoter_id == SampleRequest.creator_id,
            Touch.product_id == SampleRequest.product_id,
            Touch.reason == "credited",
            sale.c.channel != "sample",
            sale.c.paid_at.is_not(None),
            sale.c.paid_at >= sample.c.shipped_at,
        )
        .correlate(SampleRequest, sample)
        .scalar_subquery()
    )
    received = case(
        (sample.c.status == orders_service.OrderStatus.COMPLETED, sample.c.completed_at),
        else_=sample.c.delivered_at,
    )
    return select(
        SampleRequest,
        sample.c.shipped_at,
        received.label("received_at"),
        first_sale.label("first_sale_at"),
    ).outerjoin(sample, sample.c.id == SampleRequest.order_id)


def _views(db: Session, rows: list[Any]) -> list[SampleView]:
    requests = [row[0] for row in rows]
    users = accounts_service.users_by_ids(db, {r.creator_id for r in requests})
    products = catalog_service.get_products(db, {r.product_id for r in requests})
    shops = merchants_service.shops_by_ids(db, {r.shop_id for r in requests})
    out = []
    for req, shipped_at, received_at, first_sale_at in rows:
        user = users.get(req.creator_id)
        product = products.get(req.product_id)
        shop = shops.get(req.shop_id)
        out.append(
            SampleView(
                id=req.id,
                shop_id=req.shop_id,
                shop_name=shop.name if shop else "",
                product_id=req.product_id,
                product_title=product.title if product else "",
                creator_id=req.creator_id,
                creator_name=user.display_name if user else "",
                note=req.note,
                address=dict(req.address),
                status=str(req.status),
                reason=req.reason,
                order_id=req.order_id,
                created_at=req.created_at,
                decided_at=req.decided_at,
                shipped_at=shipped_at,
                received_at=received_at if shipped_at is not None else None,
                first_sale_at=first_sale_at,
            )
        )
    return out


def sample_view(db: Session, sample_id: int) -> SampleView:
    """One request with its funnel, no permission check (the caller just wrote it)."""
    rows = list(db.execute(_funnel_query().where(SampleRequest.id == sample_id)))
    if not rows:
        raise NotFound(_("Sample request not found."), code="sample_not_found")
    (view,) = _views(db, rows)
    db.commit()
    return view


def my_samples(db: Session, actor: Actor) -> list[SampleView]:
    """The signed-in creator's requests, newest first, with their funnel."""
    creator_id = _creator(actor)
    rows = list(
        db.execute(
            _funnel_query()
            .where(SampleRequest.creator_id == creator_id)
            .order_by(SampleRequest.id.desc())
            .limit(PAGE)
        )
    )
    views = _views(db, rows)
    db.commit()
    return views


@dataclass(frozen=True)
class ShopSamples:
    samples: list[SampleView]
    counts: dict[str, int]  # per stage reached: requested (all), approved, declined, ...


def _counts(db: Session, shop_id: int) -> dict[str, int]:
    inner = _funnel_query().where(SampleRequest.shop_id == shop_id).subquery()

    def reached(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.execute(
        select(
            func.count(),
            reached(inner.c.status == SampleStatus.APPROVED),
            reached(inner.c.status == SampleStatus.DECLINED),
            reached(inner.c.shipped_at.is_not(None)),
            reached(inner.c.shipped_at.is_not(None) & inner.c.received_at.is_not(None)),
            reached(inner.c.first_sale_at.is_not(None)),
        ).select_from(inner)
    ).one()
    names = ("requested", "approved", "declined", "shipped", "received", "first_sale")
    return {name: int(value) for name, value in zip(names, row, strict=True)}


def shop_samples(db: Session, actor: Actor, shop_id: int) -> ShopSamples:
    """The shop's requests (newest first, at most ``PAGE``) with their funnel and the counts
    per stage over all of them, for its staff; a fixed number of statements."""
    actor.require_shop(shop_id)
    rows = list(
        db.execute(
            _funnel_query()
            .where(SampleRequest.shop_id == shop_id)
            .order_by(SampleRequest.id.desc())
            .limit(PAGE)
        )
    )
    result = ShopSamples(samples=_views(db, rows), counts=_counts(db, shop_id))
    db.commit()
    return result

"""The affiliates' JSON API: a shop's plans, invites and attribution rule (its staff; the
rule its owner), a promoter's tracked links, and an order's touches (the shop's staff)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, status
from pydantic import BaseModel

from xiaodian.affiliates import attribution, links, marketplace, plans, rules, samples, showcase
from xiaodian.affiliates.schemas import (
    InviteIn,
    InviteOut,
    LinkIn,
    LinkOut,
    PlanCreate,
    PlanOut,
    PlanUpdate,
    RuleIn,
    RuleOut,
    SampleDecline,
    SampleIn,
    SampleOut,
    ShopSamplesOut,
    TouchOut,
)
from xiaodian.affiliates.service import Link
from xiaodian.web import routing
from xiaodian.web.deps import CurrentActor, DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import BodyId, Id

router = routing.router(tags=["affiliates"], responses=error_responses(401, 403, 404, 409, 422))


def _plan_out(row: plans.PlanRow) -> PlanOut:
    out = PlanOut.model_validate(row.plan)
    out.invites = [InviteOut.model_validate(i) for i in row.invites]
    return out


def _link_out(link: Link) -> LinkOut:
    return LinkOut(
        id=link.id,
        code=link.code,
        kind=str(link.kind),
        shop_id=link.shop_id,
        product_id=link.product_id,
        url=f"/s/{link.code}",
    )


@router.get("/merchant/shops/{shop_id}/affiliate-plans")
def list_plans(shop_id: Id, db: DbDep, actor: SignedIn) -> list[PlanOut]:
    """The shop's plans, newest first, with the invites of its 定向 plans."""
    return [_plan_out(row) for row in plans.shop_plans(db, actor, shop_id)]


@router.post("/merchant/shops/{shop_id}/affiliate-plans", status_code=status.HTTP_201_CREATED)
def create_plan(shop_id: Id, body: PlanCreate, db: DbDep, actor: SignedIn) -> PlanOut:
    """Put a product into a 普通 (open), 定向 (targeted) or 专属 (exclusive) plan."""
    terms = plans.PlanTerms(
        body.kind, body.rate_pct, body.starts_at, body.ends_at, body.promoter_id
    )
    plan = plans.create_plan(db, actor, shop_id, product_id=body.product_id, terms=terms)
    return PlanOut.model_validate(plan)


@router.put("/merchant/shops/{shop_id}/affiliate-plans/{plan_id}")
def update_plan(shop_id: Id, plan_id: Id, body: PlanUpdate, db: DbDep, actor: SignedIn) -> PlanOut:
    """A new rate, end or activity, for orders created from now on."""
    plan = plans.update_plan(
        db,
        actor,
        shop_id,
        plan_id,
        rate_pct=body.rate_pct,
        ends_at=body.ends_at,
        is_active=body.is_active,
    )
    return PlanOut.model_validate(plan)


@router.post(
    "/merchant/shops/{shop_id}/affiliate-plans/{plan_id}/invites",
    status_code=status.HTTP_201_CREATED,
)
def invite(shop_id: Id, plan_id: Id, body: InviteIn, db: DbDep, actor: SignedIn) -> InviteOut:
    """Invite a promoter into a 定向 plan with their own rate."""
    row = plans.invite_promoter(
        db, actor, shop_id, plan_id, promoter_id=body.promoter_id, rate_pct=body.rate_pct
    )
    return InviteOut.model_validate(row)


@router.get("/merchant/shops/{shop_id}/affiliate-rule")
def get_rule(shop_id: Id, db: DbDep, actor: SignedIn) -> RuleOut:
    """The shop's lock windows (WeChat's defaults until changed) and its version."""
    return RuleOut.model_validate(rules.shop_rule(db, actor, shop_id))


@router.put("/merchant/shops/{shop_id}/affiliate-rule")
def put_rule(shop_id: Id, body: RuleIn, db: DbDep, actor: SignedIn) -> RuleOut:
    """The owner changes the windows; the version goes up by one."""
    rule = rules.update_rule(db, actor, shop_id, **body.model_dump())
    return RuleOut.model_validate(rule)


@router.get("/merchant/shops/{shop_id}/orders/{order_id}/touches")
def order_touches(shop_id: Id, order_id: Id, db: DbDep, actor: SignedIn) -> list[TouchOut]:
    """Why each line of the shop's order was or was not credited to a promoter."""
    rows = attribution.shop_order_touches(db, actor, shop_id, order_id)
    return [TouchOut.model_validate(row) for row in rows]


@router.get("/affiliates/links")
def my_links(db: DbDep, actor: SignedIn) -> list[LinkOut]:
    """The signed-in promoter's tracked links, newest first."""
    return [_link_out(link) for link in links.my_links(db, actor)]


@router.post("/affiliates/links", status_code=status.HTTP_201_CREATED)
def make_link(body: LinkIn, db: DbDep, actor: SignedIn) -> LinkOut:
    """The promoter's link for a product (or content) or a whole shop (the same again)."""
    link = links.get_or_create_link(
        db, actor, product_id=body.product_id, shop_id=body.shop_id, kind=body.kind
    )
    return _link_out(link)


# --------------------------------------------------------------------------- showcase


class ShowcaseIn(BaseModel):
    product_id: BodyId


class ShowcaseCardOut(BaseModel):
    product_id: int
    title: str
    price_fen: int
    cover_path: str | None
    shop_name: str
    link: str  # the creator's tracked link


class ShowcaseOut(BaseModel):
    creator_id: int
    creator_name: str
    items: list[ShowcaseCardOut]


def _showcase(found: showcase.Showcase) -> ShowcaseOut:
    return ShowcaseOut(
        creator_id=found.creator_id,
        creator_name=found.creator_name,
        items=[
            ShowcaseCardOut(
                product_id=c.product_id,
                title=c.title,
                price_fen=c.price_fen,
                cover_path=c.cover_path,
                shop_name=c.shop_name,
                link=f"/s/{c.code}",
            )
            for c in found.items
        ],
    )


@router.get("/creators/{creator_id}/showcase")
def creator_showcase(creator_id: Id, db: DbDep) -> ShowcaseOut:
    """A creator's showcase (橱窗): the products they picked, each with their tracked link."""
    return _showcase(showcase.showcase(db, creator_id))


@router.post("/me/showcase", status_code=status.HTTP_201_CREATED)
def add_to_showcase(body: ShowcaseIn, db: DbDep, actor: SignedIn) -> ShowcaseOut:
    """Pick a product on sale into the signed-in creator's showcase."""
    showcase.add(db, actor, product_id=body.product_id)
    return _showcase(showcase.showcase(db, actor.require_user()))


@router.delete("/me/showcase/{product_id}")
def remove_from_showcase(product_id: Id, db: DbDep, actor: SignedIn) -> ShowcaseOut:
    """Take a product out of the signed-in creator's showcase."""
    showcase.remove(db, actor, product_id=product_id)
    return _showcase(showcase.showcase(db, actor.require_user()))


# --------------------------------------------------------------------------- marketplace


class MarketOfferOut(BaseModel):
    product_id: int
    title: str
    shop_id: int
    shop_name: str
    category_id: int
    price_fen: int
    sales_count: int
    rate_pct: int
    plan_kind: str
    earning_fen: int
    shop_score: int | None = None  # the shop's health score, None before its first


class MarketPageOut(BaseModel):
    items: list[MarketOfferOut]
    total: int
    page: int


@router.get("/market")
def market(
    db: DbDep,
    actor: CurrentActor,
    sort: Literal["earning", "rate", "sales", "price"] = "earning",
    category_id: Id | None = None,
    min_rate: Annotated[int | None, Query(ge=0, le=90)] = None,
    max_price_fen: Annotated[int | None, Query(ge=0, le=10**12)] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    page: Annotated[int, Query(ge=1, le=500)] = 1,
) -> MarketPageOut:
    """The marketplace (选品广场): products in plans, the rate the caller would get and the
    estimated earning per unit."""
    found = marketplace.offers(
        db,
        actor,
        category_id=category_id,
        min_rate=min_rate,
        max_price_fen=max_price_fen,
        min_score=min_score,
        sort=sort,
        page=page,
    )
    return MarketPageOut(
        items=[
            MarketOfferOut(
                product_id=o.product_id,
                title=o.title,
                shop_id=o.shop_id,
                shop_name=o.shop_name,
                category_id=o.category_id,
                price_fen=o.price_fen,
                sales_count=o.sales_count,
                rate_pct=o.rate_pct,
                plan_kind=o.plan_kind,
                earning_fen=o.earning_fen,
                shop_score=o.shop_score,
            )
            for o in found.items
        ],
        total=found.total,
        page=found.page,
    )


# --------------------------------------------------------------------------- samples (寄样)


def _sample_out(view: samples.SampleView) -> SampleOut:
    return SampleOut.model_validate(view)


@router.post("/affiliates/samples", status_code=status.HTTP_201_CREATED)
def request_sample(body: SampleIn, db: DbDep, actor: SignedIn) -> SampleOut:
    """A creator asks for a sample of a product in one of the shop's plans."""
    row = samples.request_sample(
        db,
        actor,
        product_id=body.product_id,
        address_id=body.address_id,
        sku_id=body.sku_id,
        note=body.note,
    )
    return _sample_out(samples.sample_view(db, row.id))


@router.get("/me/samples")
def my_samples(db: DbDep, actor: SignedIn) -> list[SampleOut]:
    """The creator's sample requests, newest first, each with the stage it reached."""
    return [_sample_out(view) for view in samples.my_samples(db, actor)]


@router.get("/merchant/shops/{shop_id}/samples")
def shop_samples(shop_id: Id, db: DbDep, actor: SignedIn) -> ShopSamplesOut:
    """The shop's sample requests (newest first) and the counts per stage reached."""
    found = samples.shop_samples(db, actor, shop_id)
    return ShopSamplesOut(
        counts=found.counts, samples=[_sample_out(view) for view in found.samples]
    )


@router.post("/merchant/shops/{shop_id}/samples/{sample_id}/approve")
def approve_sample(shop_id: Id, sample_id: Id, db: DbDep, actor: SignedIn) -> SampleOut:
    """Approve: a zero-price order of one unit for the creator, to ship as any order."""
    row = samples.approve(db, actor, shop_id, sample_id)
    return _sample_out(samples.sample_view(db, row.id))


@router.post("/merchant/shops/{shop_id}/samples/{sample_id}/decline")
def decline_sample(
    shop_id: Id, sample_id: Id, body: SampleDecline, db: DbDep, actor: SignedIn
) -> SampleOut:
    """Decline, with a reason the creator sees."""
    row = samples.decline(db, actor, shop_id, sample_id, reason=body.reason)
    return _sample_out(samples.sample_view(db, row.id))

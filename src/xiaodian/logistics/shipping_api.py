"""JSON API of shipping templates (运费模板): a shop's staff list, create, replace and
delete them, and name the template a product ships by. Thin: ``logistics/shipping.py``
checks and writes."""

from __future__ import annotations

from typing import Literal

from fastapi import Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from xiaodian.logistics import fees, shipping
from xiaodian.logistics.models import ShippingTemplate
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import BodyId, Count, Fen, Id

router = routing.router(
    tags=["logistics"],
    responses=error_responses(
        401,
        404,
        422,
        descriptions={
            404: "Not the shop's staff, or not the shop's template or product.",
            422: "Terms out of bounds (negative or over ¥10,000 fees, unknown provinces, "
            "more than 34 province rules...): nothing written.",
        },
    ),
)

Province = str  # checked against the 34 by the service (a 422 names an unknown one)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_units: Count = Field(ge=1, le=fees.MAX_UNITS)
    first_fen: Fen = Field(le=fees.MAX_FEE_FEN)
    extra_units: Count = Field(ge=1, le=fees.MAX_UNITS)
    extra_fen: Fen = Field(le=fees.MAX_FEE_FEN)


class RegionIn(RuleIn):
    provinces: list[Province] = Field(min_length=1, max_length=len(fees.PROVINCES))


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=fees.MAX_NAME)
    method: Literal["piece", "weight"]
    rule: RuleIn
    regions: list[RegionIn] = Field(default_factory=list, max_length=fees.MAX_REGIONS)
    excluded: list[Province] = Field(default_factory=list, max_length=len(fees.PROVINCES))
    free_over_fen: Fen | None = Field(default=None, ge=1, le=fees.MAX_FREE_OVER_FEN)
    is_default: StrictBool = False

    def terms(self) -> fees.Terms:
        return fees.check_terms(
            name=self.name,
            method=self.method,
            rule=self.rule.model_dump(),
            regions=[r.model_dump() for r in self.regions],
            excluded=self.excluded,
            free_over_fen=self.free_over_fen,
            is_default=self.is_default,
        )


class RuleOut(BaseModel):
    first_units: int
    first_fen: int
    extra_units: int
    extra_fen: int


class RegionOut(RuleOut):
    provinces: list[str]


class TemplateOut(BaseModel):
    id: int
    shop_id: int
    name: str
    method: str
    rule: RuleOut
    regions: list[RegionOut]
    excluded: list[str]
    free_over_fen: int | None
    is_default: bool


class ProductTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: BodyId | None = Field(description="None: the shop's default template")


class ProductTemplateOut(BaseModel):
    product_id: int
    template_id: int | None


def _out(template: ShippingTemplate) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        shop_id=template.shop_id,
        name=template.name,
        method=template.method,
        rule=RuleOut(
            first_units=template.first_units,
            first_fen=template.first_fen,
            extra_units=template.extra_units,
            extra_fen=template.extra_fen,
        ),
        regions=[RegionOut(**r) for r in template.regions or []],
        excluded=list(template.excluded or []),
        free_over_fen=template.free_over_fen,
        is_default=template.is_default,
    )


PATH = "/merchant/shops/{shop_id}/shipping-templates"


@router.get(PATH)
def list_templates(shop_id: Id, db: DbDep, actor: SignedIn) -> list[TemplateOut]:
    """The shop's shipping templates, the default first."""
    return [_out(t) for t in shipping.list_templates(db, actor, shop_id)]


@router.post(PATH, status_code=status.HTTP_201_CREATED)
def create_template(shop_id: Id, body: TemplateIn, db: DbDep, actor: SignedIn) -> TemplateOut:
    """A new template (by piece or by weight in grams; fees in fen)."""
    return _out(shipping.create_template(db, actor, shop_id, body.terms()))


@router.get(PATH + "/{template_id}")
def get_template(shop_id: Id, template_id: Id, db: DbDep, actor: SignedIn) -> TemplateOut:
    return _out(shipping.get_template(db, actor, shop_id, template_id))


@router.put(PATH + "/{template_id}")
def update_template(
    shop_id: Id, template_id: Id, body: TemplateIn, db: DbDep, actor: SignedIn
) -> TemplateOut:
    """Replace the template's terms (orders already placed keep their fee)."""
    return _out(shipping.update_template(db, actor, shop_id, template_id, body.terms()))


@router.delete(
    PATH + "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def delete_template(shop_id: Id, template_id: Id, db: DbDep, actor: SignedIn) -> Response:
    """Delete the template; its products ship by the shop's default again."""
    shipping.delete_template(db, actor, shop_id, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/merchant/shops/{shop_id}/products/{product_id}/shipping-template")
def set_product_template(
    shop_id: Id, product_id: Id, body: ProductTemplateIn, db: DbDep, actor: SignedIn
) -> ProductTemplateOut:
    """Name the template the product ships by (null: the shop's default)."""
    product = shipping.set_product_template(db, actor, shop_id, product_id, body.template_id)
    return ProductTemplateOut(product_id=product.id, template_id=product.shipping_template_id)

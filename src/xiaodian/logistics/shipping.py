"""Shipping templates (运费模板): a shop's staff write them; checkout asks them the fee.

- The use cases (``create_template``, ``update_template``, ``delete_template``,
  ``set_product_template``, ``list_templates``) are each one transaction, for the shop's
  staff only (others get 404). The terms are checked by ``fees.check_terms`` before
  anything is written; another shop's template id is "not found".
- One template per shop may be its default: making one the default unsets the others in
  the same transaction (a partial unique index keeps it so). A product may name a template
  (``products.shipping_template_id``, written through catalog); the others ship by the
  default, and a shop without a default ships them free. Deleting a template sends its
  products back to the default.
- At checkout orders asks ``QUOTER`` (registered with ``orders.shipping`` when
  ``domains.load`` imports this module; orders never imports logistics): ONE query reads
  every template of the cart's shops, then ``fees.parcel_fee`` reckons each shop-order.
  A province a template excludes is refused with a 422 naming it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.logistics import fees
from xiaodian.logistics.models import ShippingTemplate
from xiaodian.orders import shipping

MAX_TEMPLATES = 50  # per shop


def terms_of(template: ShippingTemplate | Row[Any]) -> fees.Terms:
    """A stored template's terms (written only through ``check_terms``, so trusted)."""
    return fees.Terms(
        name=template.name,
        method=template.method,
        rule=fees.Rule(
            template.first_units, template.first_fen, template.extra_units, template.extra_fen
        ),
        regions=tuple(
            fees.Region(
                tuple(r["provinces"]),
                fees.Rule(r["first_units"], r["first_fen"], r["extra_units"], r["extra_fen"]),
            )
            for r in template.regions or []
        ),
        excluded=tuple(template.excluded or []),
        free_over_fen=template.free_over_fen,
        is_default=template.is_default,
    )


def _not_found() -> NotFound:
    return NotFound(_("Shipping template not found."), code="shipping_template_not_found")


def _get(db: Session, shop_id: int, template_id: object) -> ShippingTemplate:
    if (
        not isinstance(template_id, int)
        or isinstance(template_id, bool)
        or not 0 < template_id <= MAX_ID
    ):
        raise _not_found()
    template = db.get(ShippingTemplate, template_id)
    if template is None or template.shop_id != shop_id:
        raise _not_found()
    return template


def list_templates(db: Session, actor: Actor, shop_id: int) -> list[ShippingTemplate]:
    """The shop's templates, the default first, for its staff."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(ShippingTemplate)
            .where(ShippingTemplate.shop_id == shop_id)
            .order_by(ShippingTemplate.is_default.desc(), ShippingTemplate.id)
        )
    )


def get_template(db: Session, actor: Actor, shop_id: int, template_id: int) -> ShippingTemplate:
    actor.require_shop(shop_id)
    return _get(db, shop_id, template_id)


def _write(db: Session, template: ShippingTemplate, terms: fees.Terms) -> None:
    if terms.is_default:  # the one default of the shop
        others = [ShippingTemplate.shop_id == template.shop_id, ShippingTemplate.is_default]
        if template.id is not None:
            others.append(ShippingTemplate.id != template.id)
        db.execute(
            update(ShippingTemplate)
            .where(*others)
            .values(is_default=False)
            .execution_options(synchronize_session="fetch")
        )
    template.name = terms.name
    template.method = terms.method
    template.first_units = terms.rule.first_units
    template.first_fen = terms.rule.first_fen
    template.extra_units = terms.rule.extra_units
    template.extra_fen = terms.rule.extra_fen
    template.regions = terms.regions_as_json()
    template.excluded = list(terms.excluded)
    template.free_over_fen = terms.free_over_fen
    template.is_default = terms.is_default


def create_template(db: Session, actor: Actor, shop_id: int, terms: fees.Terms) -> ShippingTemplate:
    """A new template of the shop (at most ``MAX_TEMPLATES``); commits."""
    actor.require_shop(shop_id)
    count = db.scalar(
        select(func.count())
        .select_from(ShippingTemplate)
        .where(ShippingTemplate.shop_id == shop_id)
    )
    if (count or 0) >= MAX_TEMPLATES:
        raise InvalidInput(
            _("At most %(n)s shipping templates per shop."),
            code="too_many_templates",
            n=MAX_TEMPLATES,
        )
    template = ShippingTemplate(shop_id=shop_id)
    _write(db, template, terms)
    db.add(template)
    db.commit()
    return template


def update_template(
    db: Session, actor: Actor, shop_id: int, template_id: int, terms: fees.Terms
) -> ShippingTemplate:
    """Replace a template's terms; commits. Orders already placed keep their fee."""
    actor.require_shop(shop_id)
    template = _get(db, shop_id, template_id)
    _write(db, template, terms)
    db.commit()
    return template


def make_default(db: Session, actor: Actor, shop_id: int, template_id: int) -> ShippingTemplate:
    """Make a template the shop's default; commits."""
    actor.require_shop(shop_id)
    template = _get(db, shop_id, template_id)
    _write(db, template, replace(terms_of(template), is_default=True))
    db.commit()
    return template


def delete_template(db: Session, actor: Actor, shop_id: int, template_id: int) -> None:
    """Delete a template; the products naming it ship by the default again. Commits."""
    actor.require_shop(shop_id)
    template = _get(db, shop_id, template_id)
    catalog_service.clear_shipping_template(db, shop_id=shop_id, template_id=template.id)
    db.delete(template)
    db.commit()


def set_product_template(
    db: Session, actor: Actor, shop_id: int, product_id: int, template_id: int | None
) -> catalog_service.Product:
    """Name the template ``product_id`` ships by (None: the shop's default); commits."""
    actor.require_shop(shop_id)
    if template_id is not None:
        _get(db, shop_id, template_id)
    if not isinstance(product_id, int) or not 0 < product_id <= MAX_ID:
        raise NotFound(_("Product not found."), code="product_not_found")
    product = catalog_service.set_shipping_template(
        db, shop_id=shop_id, product_id=product_id, template_id=template_id
    )
    db.commit()
    return product


# --------------------------------------------------------------------------- checkout


# The templates' columns, on the table (read, never loaded as objects: no ORM execution at
# every checkout).
_TEMPLATES_OF = select(*ShippingTemplate.__table__.c).where(
    ShippingTemplate.__table__.c.shop_id.in_(bindparam("ids", expanding=True))
)


class _Quoter:
    """Orders' shipping quoter: the templates of every shop of the cart in one query."""

    def quote(self, db: Session, parcels: list[shipping.Parcel]) -> list[shipping.Fee]:
        shop_ids = sorted({parcel.shop_id for parcel in parcels})
        by_shop: dict[int, dict[int, fees.Terms]] = defaultdict(dict)
        defaults: dict[int, int] = {}
        for template in db.execute(_TEMPLATES_OF, {"ids": shop_ids}):
            by_shop[template.shop_id][template.id] = terms_of(template)
            if template.is_default:
                defaults[template.shop_id] = template.id
        return [self._fee(by_shop[p.shop_id], defaults.get(p.shop_id), p) for p in parcels]

    @staticmethod
    def _fee(
        templates: dict[int, fees.Terms], default: int | None, parcel: shipping.Parcel
    ) -> shipping.Fee:
        lines = []
        for item in parcel.items:
            chosen = item.template_id if item.template_id in templates else default
            if chosen is not None:  # no template at all: free shipping
                lines.append((chosen, item.quantity, item.weight_g))
        reckoned = fees.parcel_fee(templates, lines, parcel.province, parcel.items_fen)
        if reckoned.undeliverable is not None:
            return shipping.Fee(
                refusal=InvalidInput(
                    _("The shop does not deliver to %(province)s."),
                    code="undeliverable",
                    province=reckoned.undeliverable,
                    shop_id=parcel.shop_id,
                )
            )
        return shipping.Fee(reckoned.fen)


QUOTER = shipping.register(_Quoter())

"""Catalog: products (SPU) and their SKUs, specs, images, review, stock. This module holds
the domain's reads, and the names of its rows other domains may use (``Product``,
``ProductStatus``: they never import ``catalog.models``).

The use cases live beside it, one concept a module, and whoever calls one imports the module
that defines it (docs/architecture.md, "Inside a domain"): ``products.py`` (create, edit,
specs, SKUs), ``images.py``, ``states.py`` (the status machine and the merchant's status
actions), ``review.py`` (the operators' review queue), ``stock.py`` (stock changed by hand),
``inventory.py`` (stock moved for orders), ``screening.py`` (prohibited words).

Every public function that writes is one transaction (it commits); reads do not. Merchant
functions take the shop id from the URL and check ``actor.require_shop`` first, then that the
product belongs to that shop: another shop's staff see "not found", never the product.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog.models import Product as Product  # re-exported: other domains use this
from xiaodian.catalog.models import ProductEvent, Sku
from xiaodian.catalog.models import ProductStatus as ProductStatus  # re-exported, as Product
from xiaodian.errors import NotFound, _


@dataclass(frozen=True)
class ProductPage:
    items: list[Product]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


# ---------------------------------------------------------------------------------------
# Reads other domains use (no permission check: they decide what to show)


def get_product(db: Session, product_id: int) -> Product:
    """A product in any status (with specs, images and SKUs); NotFound if there is none."""
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound(_("Product not found."), code="product_not_found")
    return product


def get_products(db: Session, product_ids: Iterable[int]) -> dict[int, Product]:
    """Products by id, in any status, in one query (missing ids are left out)."""
    ids = set(product_ids)
    if not ids:
        return {}
    rows = db.scalars(select(Product).where(Product.id.in_(ids)))
    return {p.id: p for p in rows}


def category_ids(db: Session, product_ids: Iterable[int]) -> dict[int, int]:
    """Each product's category id, in one query (missing ids are left out). Joins the
    caller's transaction (read only): the ledger reads them to price its fees."""
    ids = set(product_ids)
    if not ids:
        return {}
    rows = db.execute(_CATEGORY_IDS, {"ids": list(ids)})
    return {product_id: category_id for product_id, category_id in rows}


_PRODUCTS = cast(Table, Product.__table__)
# On the table: no ORM execution for two columns (the ledger asks at every payment).
_CATEGORY_IDS = select(_PRODUCTS.c.id, _PRODUCTS.c.category_id).where(
    _PRODUCTS.c.id.in_(bindparam("ids", expanding=True))
)


def get_sku(db: Session, sku_id: int) -> Sku:
    sku = db.get(Sku, sku_id)
    if sku is None:
        raise NotFound(_("SKU not found."), code="sku_not_found")
    return sku


def product_events(db: Session, product_id: int) -> list[ProductEvent]:
    """The status history of a product, oldest first (callers check who may see it)."""
    return list(
        db.scalars(
            select(ProductEvent)
            .where(ProductEvent.product_id == product_id)
            .order_by(ProductEvent.at, ProductEvent.id)
        )
    )


# ---------------------------------------------------------------------------------------
# Merchant: reading


def shop_product(db: Session, actor: Actor, shop_id: int, product_id: int) -> Product:
    """A product of ``shop_id`` for its staff; NotFound for anyone else."""
    actor.require_shop(shop_id)
    product = db.get(Product, product_id)
    if product is None or product.shop_id != shop_id:
        raise NotFound(_("Product not found."), code="product_not_found")
    return product


def list_shop_products(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    status: ProductStatus | None = None,
    q: str = "",
    page: int = 1,
    per_page: int = 20,
) -> ProductPage:
    """The shop's products, newest first, filtered by status and a title search.

    A constant number of queries whatever the page size (specs, images, SKUs are selectin).
    """
    actor.require_shop(shop_id)
    page = max(1, page)
    per_page = min(max(1, per_page), 100)
    where = [Product.shop_id == shop_id]
    if status is not None:
        where.append(Product.status == status)
    q = q.strip()
    if q:
        where.append(Product.title.icontains(q, autoescape=True))
    total = db.scalar(select(func.count()).select_from(Product).where(*where)) or 0
    items = list(
        db.scalars(
            select(Product)
            .where(*where)
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return ProductPage(items=items, total=total, page=page, per_page=per_page)


def status_counts(db: Session, actor: Actor, shop_id: int) -> dict[str, int]:
    actor.require_shop(shop_id)
    rows = db.execute(
        select(Product.status, func.count())
        .where(Product.shop_id == shop_id)
        .group_by(Product.status)
    )
    return {str(status): int(n) for status, n in rows}


def set_shipping_template(
    db: Session, *, shop_id: int, product_id: int, template_id: int | None
) -> Product:
    """Name the shipping template ``product_id`` ships by (None: the shop's default).
    Logistics checks the template is the shop's; NotFound unless the product is. Joins the
    caller's transaction (logistics' use case)."""
    product = db.get(Product, product_id)
    if product is None or product.shop_id != shop_id:
        raise NotFound(_("Product not found."), code="product_not_found")
    product.shipping_template_id = template_id
    db.flush()
    return product


def clear_shipping_template(db: Session, *, shop_id: int, template_id: int) -> None:
    """The shop's products naming ``template_id`` go back to the shop's default (one
    UPDATE). Joins the caller's transaction (logistics deletes the template)."""
    db.execute(
        update(Product)
        .where(Product.shop_id == shop_id, Product.shipping_template_id == template_id)
        .values(shipping_template_id=None)
        .execution_options(synchronize_session=False)
    )

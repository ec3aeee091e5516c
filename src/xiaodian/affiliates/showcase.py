"""A creator's showcase (橱窗): the products they picked, on a public, phone-first page
(``/showcase/<creator id>``). Each item carries the creator's tracked link for the product, so a
buyer who comes from the showcase is attributed to the creator like any tracked click (the
lock window, then the commission of the product's plan; a product outside every plan is
shown all the same and earns nothing). Each public function is one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates import links
from xiaodian.affiliates import service as affiliates_service
from xiaodian.affiliates.models import Link, ShowcaseItem
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import Conflict, NotFound, PermissionDenied, _
from xiaodian.merchants import service as merchants_service

MAX_ITEMS = 500


def _creator(actor: Actor) -> int:
    user_id = actor.require_user()
    if not actor.is_creator:
        raise PermissionDenied(_("Only creators have a showcase."), code="not_a_creator")
    return user_id


def add(db: Session, actor: Actor, *, product_id: int) -> ShowcaseItem:
    """Pick a product on sale into the creator's showcase (again: nothing changes), with
    the creator's tracked link for it. Raises PermissionDenied (not a creator), NotFound
    (no such product on sale), Conflict (the showcase is full)."""
    creator_id = _creator(actor)
    product = affiliates_service.product_on_sale(db, product_id)
    found = db.scalar(
        select(ShowcaseItem).where(
            ShowcaseItem.creator_id == creator_id, ShowcaseItem.product_id == product.id
        )
    )
    if found is not None:
        db.commit()
        return found
    count = (
        db.scalar(
            select(func.count())
            .select_from(ShowcaseItem)
            .where(ShowcaseItem.creator_id == creator_id)
        )
        or 0
    )
    if count >= MAX_ITEMS:
        raise Conflict(
            _("A showcase holds at most %(n)s products."), code="showcase_full", n=MAX_ITEMS
        )
    link = links.ensure_link(
        db, promoter_id=creator_id, shop_id=product.shop_id, product_id=product.id
    )
    item = ShowcaseItem(
        creator_id=creator_id,
        product_id=product.id,
        link_id=link.id,
        position=int(count),
        added_at=clock.now(),
    )
    db.add(item)
    db.commit()
    return item


def remove(db: Session, actor: Actor, *, product_id: int) -> bool:
    """Take a product out of the creator's showcase; True when it was there."""
    creator_id = _creator(actor)
    item = db.scalar(
        select(ShowcaseItem).where(
            ShowcaseItem.creator_id == creator_id, ShowcaseItem.product_id == product_id
        )
    )
    if item is not None:
        db.delete(item)
    db.commit()
    return item is not None


@dataclass(frozen=True)
class ShowcaseCard:
    product_id: int
    title: str
    price_fen: int
    cover_path: str | None
    shop_name: str
    code: str  # the creator's tracked link: /s/<code>


@dataclass(frozen=True)
class Showcase:
    creator_id: int
    creator_name: str
    items: list[ShowcaseCard]


def showcase(db: Session, creator_id: int) -> Showcase:
    """A creator's public showcase: the picked products still on sale, in the order picked
    (a fixed number of queries). NotFound for anyone who is not a creator."""
    user = accounts_service.users_by_ids(db, [creator_id]).get(creator_id)
    if user is None or not user.is_creator:
        raise NotFound(_("Showcase not found."), code="showcase_not_found")
    rows = list(
        db.execute(
            select(ShowcaseItem.product_id, Link.code)
            .join(Link, Link.id == ShowcaseItem.link_id)
            .where(ShowcaseItem.creator_id == creator_id)
            .order_by(ShowcaseItem.position, ShowcaseItem.id)
            .limit(MAX_ITEMS)
        )
    )
    products = catalog_service.get_products(db, [product_id for product_id, _code in rows])
    shops = merchants_service.shops_by_ids(db, {p.shop_id for p in products.values()})
    policy = sellability.current()
    items = []
    for product_id, code in rows:
        product = products.get(product_id)
        shop = shops.get(product.shop_id) if product else None
        if product is None or shop is None:
            continue
        if policy.product_refusal(
            on_sale=product.status == catalog_service.ProductStatus.ON_SALE,
            shop_active=shop.is_active,
        ):
            continue
        items.append(
            ShowcaseCard(
                product_id=product.id,
                title=product.title,
                price_fen=product.min_price_fen,
                cover_path=product.cover_path,
                shop_name=shop.name,
                code=code,
            )
        )
    db.commit()
    return Showcase(creator_id=creator_id, creator_name=user.display_name, items=items)


def picked(db: Session, actor: Actor, product_ids: list[int]) -> set[int]:
    """Which of these products are in the signed-in creator's showcase (one query)."""
    if actor.user_id is None or not actor.is_creator or not product_ids:
        return set()
    return set(
        db.scalars(
            select(ShowcaseItem.product_id).where(
                ShowcaseItem.creator_id == actor.user_id, ShowcaseItem.product_id.in_(product_ids)
            )
        )
    )

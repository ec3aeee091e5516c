"""A product's status: the one table of its machine, and the merchant's status actions.

Status machine (``TRANSITIONS``, checked by ``xiaodian.transitions``)::

    draft ──submit──► under_review ──approve──► on_sale ◄──put_on_shelf── off_shelf
    rejected ──submit──┘      │  └──reject──► rejected        └──take_off_shelf──┘
    under_review ──withdraw──► draft
    on_sale / off_shelf ──edit of a key field──► under_review

Key fields are what a reviewer approved: title, description, category, images and specs.
Editing one on a listed (on_sale or off_shelf) product sends it back to review and off the
shelf until approved, the simple form of WeChat Shop's rule. Submitting needs at least one
image and one active SKU; stock is not required, because review is about the listing's
content and many merchants get a listing approved before the goods arrive (it then shows as
sold out). Operators approve and reject in ``review.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock, transitions
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.catalog import screening, service
from xiaodian.catalog.models import Product, ProductEvent, ProductStatus
from xiaodian.errors import DomainError, InvalidInput, NotFound, _
from xiaodian.transitions import Transition

S = ProductStatus


def _t(sources: set[ProductStatus], target: ProductStatus) -> Transition[ProductStatus]:
    return Transition(frozenset(sources), target)


# action -> (states it may start from, state it leads to). The one table of the machine.
TRANSITIONS: dict[str, Transition[ProductStatus]] = {
    "submit": _t({S.DRAFT, S.REJECTED}, S.UNDER_REVIEW),
    "withdraw": _t({S.UNDER_REVIEW}, S.DRAFT),
    "approve": _t({S.UNDER_REVIEW}, S.ON_SALE),
    "reject": _t({S.UNDER_REVIEW}, S.REJECTED),
    "take_off_shelf": _t({S.ON_SALE}, S.OFF_SHELF),
    "put_on_shelf": _t({S.OFF_SHELF}, S.ON_SALE),
    "edit_listed": _t({S.ON_SALE, S.OFF_SHELF}, S.UNDER_REVIEW),
    # an operator takes a listed product down as a penalty (the reason is the merchant's to
    # read; fixing it is resubmitting), and puts it back where it was when the penalty is
    # reversed (``review.take_down`` / ``review.reinstate``)
    "take_down": _t({S.ON_SALE, S.OFF_SHELF}, S.REJECTED),
    "reinstate": _t({S.REJECTED}, S.ON_SALE),
    "reinstate_off_shelf": _t({S.REJECTED}, S.OFF_SHELF),
}

# What the merchant may do from each state (for buttons in the console).
MERCHANT_ACTIONS = ("submit", "withdraw", "take_off_shelf", "put_on_shelf")


def allowed_actions(status: ProductStatus) -> list[str]:
    return [a for a in MERCHANT_ACTIONS if status in TRANSITIONS[a].sources]


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    # (product id, error) for each product that could not change
    failed: list[tuple[int, DomainError]] = field(default_factory=list)


def transition(
    db: Session, actor: Actor, product: Product, action: str, note: str | None = None
) -> None:
    """Move the product by ``action`` of the table and write its event; IllegalTransition
    (409) from any other state. Joins the caller's transaction (catalog's use cases)."""
    target = transitions.check(
        TRANSITIONS,
        action,
        product.status,
        _("This product cannot be changed from “%(status)s” this way."),
        status=str(product.status),
    ).target
    previous = product.status
    product.status = target
    if target == S.ON_SALE and product.published_at is None:
        product.published_at = clock.now()
    db.add(
        ProductEvent(
            product_id=product.id,
            actor_id=actor.user_id,
            from_status=str(previous),
            to_status=str(target),
            note=note,
            at=clock.now(),
        )
    )
    key = f"product:{product.id}"
    if target == S.UNDER_REVIEW:
        cases_service.open_case(
            db,
            "product_reviews",
            key,
            title=product.title,
            link=f"/ops/products/{product.id}",
            shop_id=product.shop_id,
        )
    elif previous == S.UNDER_REVIEW:
        cases_service.close_case(db, "product_reviews", key, outcome=action, actor_id=actor.user_id)


def _rescreen(product: Product) -> None:
    product.screening_hits = screening.find_hits(product.title, product.description)


def key_fields_changed(db: Session, actor: Actor, product: Product, what: str) -> None:
    """A reviewed field changed: a listed product goes back to review (and off the shelf).
    Joins the caller's transaction (catalog's use cases)."""
    if product.status in TRANSITIONS["edit_listed"].sources:
        _rescreen(product)
        transition(db, actor, product, "edit_listed", note=f"edited: {what}")
    elif product.status == S.UNDER_REVIEW:
        _rescreen(product)


# ---------------------------------------------------------------------------------------
# Merchant: status actions


def _check_listable(product: Product, *, images: bool = True) -> None:
    if images and not product.images:
        raise InvalidInput(_("Add at least one image before submitting."), code="image_required")
    if not any(s.is_active for s in product.skus):
        raise InvalidInput(_("The product needs at least one active SKU."), code="no_active_sku")


def _apply_merchant_action(db: Session, actor: Actor, product: Product, action: str) -> None:
    if action not in MERCHANT_ACTIONS:
        raise InvalidInput(_("Unknown action."), code="unknown_action")
    sources = TRANSITIONS[action].sources
    if product.status in sources and action in ("submit", "put_on_shelf"):
        # images were checked when it was submitted; removing one sends it back to review
        _check_listable(product, images=action == "submit")
    if action == "submit" and product.status in sources:
        _rescreen(product)
        product.reject_reason = None
        product.submitted_at = clock.now()
    transition(db, actor, product, action)
    product.updated_at = clock.now()


def change_status(db: Session, actor: Actor, shop_id: int, product_id: int, action: str) -> Product:
    """A merchant's status action: submit, withdraw, take_off_shelf or put_on_shelf."""
    product = service.shop_product(db, actor, shop_id, product_id)
    _apply_merchant_action(db, actor, product, action)
    db.commit()
    return product


def submit(db: Session, actor: Actor, shop_id: int, product_id: int) -> Product:
    """Send a draft or rejected product to review (needs an image and an active SKU)."""
    return change_status(db, actor, shop_id, product_id, "submit")


def bulk_set_shelf(
    db: Session, actor: Actor, shop_id: int, product_ids: Sequence[int], *, on_shelf: bool
) -> BulkResult:
    """Put products on or take them off the shelf; reports each one that could not change."""
    actor.require_shop(shop_id)
    if not product_ids:
        raise InvalidInput(_("Select at least one product."), code="nothing_selected")
    if len(product_ids) > 200:
        raise InvalidInput(_("Select at most 200 products."), code="too_many_selected")
    wanted = list(dict.fromkeys(product_ids))
    found = {
        p.id: p
        for p in db.scalars(
            select(Product).where(Product.id.in_(wanted), Product.shop_id == shop_id)
        )
    }
    action = "put_on_shelf" if on_shelf else "take_off_shelf"
    result = BulkResult()
    for pid in wanted:
        product = found.get(pid)
        if product is None:
            result.failed.append((pid, NotFound(_("Product not found."), code="product_not_found")))
            continue
        try:
            _apply_merchant_action(db, actor, product, action)
        except DomainError as exc:
            result.failed.append((pid, exc))
        else:
            result.changed.append(pid)
    db.commit()
    return result


def shop_product_events(
    db: Session, actor: Actor, shop_id: int, product_id: int
) -> list[ProductEvent]:
    service.shop_product(db, actor, shop_id, product_id)
    return service.product_events(db, product_id)

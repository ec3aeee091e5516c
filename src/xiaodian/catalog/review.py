"""Operators review products: the queue of those waiting, approve (on sale) or reject (with
the reason the merchant sees), and take a listed product down as a penalty (and put it back
when the penalty is reversed). The moves are the status table's (``states.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.catalog import screening, service, states
from xiaodian.catalog.models import Product, ProductStatus
from xiaodian.errors import InvalidInput, _

S = ProductStatus


def review_queue(
    db: Session,
    actor: Actor,
    *,
    status: ProductStatus = S.UNDER_REVIEW,
    limit: int = 100,
) -> list[Product]:
    """Products in ``status`` (default: waiting for review), oldest submission first."""
    actor.require_operator()
    order: list[ColumnElement[Any]] = (
        [Product.submitted_at.asc(), Product.id.asc()]
        if status == S.UNDER_REVIEW
        else [Product.updated_at.desc(), Product.id.desc()]
    )
    return list(
        db.scalars(
            select(Product)
            .where(Product.status == status)
            .order_by(*order)
            .limit(min(max(1, limit), 500))
        )
    )


def count_review_queue(db: Session, actor: Actor) -> int:
    """Operators: how many products wait for review (one query, for the dashboard)."""
    actor.require_operator()
    return int(
        db.scalar(select(func.count()).select_from(Product).where(Product.status == S.UNDER_REVIEW))
        or 0
    )


def review_product(db: Session, actor: Actor, product_id: int) -> Product:
    actor.require_operator()
    return service.get_product(db, product_id)


def approve(db: Session, actor: Actor, product_id: int, *, note: str | None = None) -> Product:
    """An operator approves a product under review: it goes on sale."""
    cases_service.require_role(db, actor, "product_reviews")
    product = service.get_product(db, product_id)
    states.transition(db, actor, product, "approve", note=(note or "").strip()[:500] or None)
    product.reject_reason = None
    product.updated_at = clock.now()
    db.commit()
    return product


def reject(db: Session, actor: Actor, product_id: int, reason: str) -> Product:
    """An operator rejects a product under review; the reason is shown to the merchant."""
    cases_service.require_role(db, actor, "product_reviews")
    product = service.get_product(db, product_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Give the merchant a reason."), code="reason_required")
    if len(reason) > 500:
        raise InvalidInput(
            _("The reason is too long (at most %(n)s characters)."), code="reason_too_long", n=500
        )
    states.transition(db, actor, product, "reject", note=reason)
    product.reject_reason = reason
    product.updated_at = clock.now()
    db.commit()
    return product


def take_down(db: Session, product_id: int, *, reason: str, actor_id: int | None) -> ProductStatus:
    """An operator takes a listed product (on sale or off the shelf) down as a penalty: it
    is rejected with ``reason``, which the merchant sees; it comes back through review
    (resubmitted) or ``reinstate``. Returns the status it had, for ``reinstate``.
    IllegalTransition (409) from any other state. Joins the caller's transaction (the
    violations domain's penalties: it has checked the operator, or it is a rule's run,
    ``actor_id`` None)."""
    actor = Actor(user_id=actor_id, is_operator=True)
    product = service.get_product(db, product_id)
    previous = product.status
    states.transition(db, actor, product, "take_down", note=reason[:500])
    product.reject_reason = reason[:500]
    product.updated_at = clock.now()
    return previous


def reinstate(
    db: Session, product_id: int, *, status: ProductStatus, note: str, actor_id: int | None
) -> bool:
    """Undo ``take_down``: the product goes back to ``status`` (on sale or off the shelf)
    if it is still rejected; a product the merchant has changed since (resubmitted, edited)
    stays as it is. Returns whether it moved. Joins the caller's transaction (as
    ``take_down``)."""
    actor = Actor(user_id=actor_id, is_operator=True)
    product = service.get_product(db, product_id)
    if product.status != S.REJECTED:
        return False
    action = "reinstate" if status == S.ON_SALE else "reinstate_off_shelf"
    states.transition(db, actor, product, action, note=note[:500])
    product.reject_reason = None
    product.updated_at = clock.now()
    return True


def listed_with_hits(
    db: Session, *, after_id: int = 0, limit: int = 500
) -> tuple[list[tuple[int, int, str, list[str]]], int | None]:
    """Listed products (on sale) whose title or description hits the prohibited words as
    the list stands now (a word added after the product was reviewed): ``(id, shop_id,
    title, hits)`` of the ``limit`` products after ``after_id``, and the last id read (None
    at the end). Read only; the violations rule job pages through it."""
    rows = db.execute(
        select(Product.id, Product.shop_id, Product.title, Product.description)
        .where(Product.status == S.ON_SALE, Product.id > after_id)
        .order_by(Product.id)
        .limit(limit)
    ).all()
    out: list[tuple[int, int, str, list[str]]] = []
    for pid, shop_id, title, description in rows:
        hits = screening.find_hits(title, description or "")
        if hits:
            out.append((pid, shop_id, title, hits))
    return out, (rows[-1][0] if len(rows) == limit else None)

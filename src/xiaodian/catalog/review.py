"""Operators review products: the queue of those waiting, approve (on sale) or reject (with
the reason the merchant sees). The moves are the status table's (``states.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog import service, states
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
    actor.require_operator()
    product = service.get_product(db, product_id)
    states.transition(db, actor, product, "approve", note=(note or "").strip()[:500] or None)
    product.reject_reason = None
    product.updated_at = clock.now()
    db.commit()
    return product


def reject(db: Session, actor: Actor, product_id: int, reason: str) -> Product:
    """An operator rejects a product under review; the reason is shown to the merchant."""
    actor.require_operator()
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

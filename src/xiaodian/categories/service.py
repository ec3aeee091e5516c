"""Reading the category tree. Categories are seeded reference data: nothing here writes.
Every function joins the caller's transaction (read only)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian.categories.models import Category
from xiaodian.db import MAX_ID
from xiaodian.errors import NotFound, _

__all__ = ["Category", "by_ids", "category_tree", "choices", "find", "get"]


def category_tree(db: Session) -> list[Category]:
    """Top-level categories in order, each with ``.children`` (its leaves), in one query."""
    rows = list(db.scalars(select(Category).order_by(Category.position, Category.id)))
    kids: dict[int, list[Category]] = {c.id: [] for c in rows}
    for c in rows:
        if c.parent_id is not None and c.parent_id in kids:
            kids[c.parent_id].append(c)
    for c in rows:
        set_committed_value(c, "children", kids[c.id])
    return [c for c in rows if c.parent_id is None]


def choices(db: Session) -> list[tuple[Category, list[Category]]]:
    """The tree as (top category, its leaves), for a select."""
    return [(top, list(top.children)) for top in category_tree(db)]


def get(db: Session, slug_or_id: str | int) -> Category:
    """A category by id (int or digits) or slug; NotFound otherwise."""
    category: Category | None = None
    if isinstance(slug_or_id, int) or (isinstance(slug_or_id, str) and slug_or_id.isdigit()):
        if 0 < int(slug_or_id) <= MAX_ID:
            category = db.get(Category, int(slug_or_id))
    else:
        category = db.scalar(select(Category).where(Category.slug == slug_or_id))
    if category is None:
        raise NotFound(_("Category not found."), code="category_not_found")
    return category


def find(db: Session, category_id: int | None) -> Category | None:
    """The category with this id, or None (unknown, or an id no row can have)."""
    if not category_id or not 0 < category_id <= MAX_ID:
        return None
    return db.get(Category, category_id)


def by_ids(db: Session, ids: Iterable[int]) -> dict[int, Category]:
    """Categories by id in one query (unknown ids left out)."""
    wanted = {i for i in ids if i and 0 < i <= MAX_ID}
    if not wanted:
        return {}
    return {c.id: c for c in db.scalars(select(Category).where(Category.id.in_(wanted)))}

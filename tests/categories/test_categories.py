"""The category tree: seeded reference data, read in one query."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from xiaodian.categories import service
from xiaodian.categories.models import Category
from xiaodian.errors import NotFound


def test_the_seeded_tree_and_lookups(db: Any) -> None:
    tree = service.category_tree(db)
    assert [c.slug for c in tree][:2] == ["womens-apparel", "mens-apparel"]
    assert all(c.parent_id is None for c in tree)
    assert [c.slug for c in tree[0].children] == [
        "dresses",
        "womens-tops",
        "womens-coats",
        "skirts",
    ]
    dresses = service.get(db, "dresses")
    assert service.get(db, dresses.id).slug == "dresses"
    assert service.get(db, str(dresses.id)).slug == "dresses"
    for unknown in ("no-such-thing", 2**31, str(2**63)):
        with pytest.raises(NotFound):
            service.get(db, unknown)
    assert service.find(db, dresses.id) is dresses
    assert service.find(db, 2**31) is None and service.find(db, None) is None
    assert set(service.by_ids(db, [dresses.id, 2**40])) == {dresses.id}
    assert [top.slug for top, _leaves in service.choices(db)] == [c.slug for c in tree]


def test_category_tree_is_one_query(db: Any, count_queries: Any) -> None:
    with count_queries() as counter:
        tree = service.category_tree(db)
        names = [leaf.slug for top in tree for leaf in top.children]
    assert len(names) == db.scalar(
        select(func.count()).select_from(Category).where(Category.parent_id.is_not(None))
    )
    assert counter.count == 1, counter.statements

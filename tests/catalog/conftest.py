"""Catalog fixtures: a shop with owner and staff, a stranger's shop, an operator, a buyer."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from tests.factories import make_shop
from xiaodian.actor import Actor

CATALOG_TABLES = (
    "categories",
    "products",
    "product_specs",
    "product_images",
    "skus",
    "stock_movements",
    "product_events",
    "shops",
)


@dataclass
class Scene:
    owner: Any
    staff: Any
    shop: Any
    other_owner: Any
    other_staff: Any
    other_shop: Any
    operator: Any
    buyer: Any

    def actor(self, user: Any) -> Actor:
        roles: dict[int, str] = {}
        if user.id == self.owner.id:
            roles = {self.shop.id: "owner"}
        elif user.id == self.staff.id:
            roles = {self.shop.id: "staff"}
        elif user.id == self.other_owner.id:
            roles = {self.other_shop.id: "owner"}
        elif user.id == self.other_staff.id:
            roles = {self.other_shop.id: "staff"}
        return Actor(
            user_id=user.id,
            display_name=user.display_name,
            is_operator=bool(user.is_operator),
            shop_roles=roles,
        )


@pytest.fixture
def scene(db: Any, make_user: Any) -> Scene:
    owner, staff = make_user(display_name="店主"), make_user(display_name="店员")
    other_owner, other_staff = make_user(), make_user()
    shop = make_shop(db, owner, staff=staff)
    other_shop = make_shop(db, other_owner, staff=other_staff)
    return Scene(
        owner=owner,
        staff=staff,
        shop=shop,
        other_owner=other_owner,
        other_staff=other_staff,
        other_shop=other_shop,
        operator=make_user(operator=True),
        buyer=make_user(),
    )


def png_bytes(color: tuple[int, int, int] = (200, 60, 60), size: int = 64) -> bytes:
    out = BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def reads_catalog(statement: str) -> bool:
    """For ``count_queries(only=reads_catalog)``: the statements that read the catalog's own
    tables (not the sign-in's, the session's or another domain's)."""
    lowered = statement.lower()
    return any(f"from {t}" in lowered for t in CATALOG_TABLES)

"""Test data builders that write rows directly (no permission checks, no review).

Use them to set the scene; exercise the behaviour under test through the services or HTTP.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.catalog.models import Product, ProductSpec, ProductStatus, Sku
from xiaodian.categories.models import Category
from xiaodian.merchants.models import EntityType, MemberRole, Shop, ShopMember

_seq = itertools.count(1)


def leaf_category(db: Session, slug: str | None = None) -> Category:
    """A second-level category (the seeded tree), by slug or the first one."""
    query = db.query(Category).filter(Category.parent_id.is_not(None))
    if slug:
        query = query.filter(Category.slug == slug)
    category = query.order_by(Category.id).first()
    assert category is not None, "categories are seeded by migration 0002"
    return category


def make_shop(db: Session, owner: Any, *, name: str | None = None, staff: Any = None) -> Shop:
    """An approved shop owned by ``owner`` (a User), optionally with one staff member."""
    shop = Shop(
        name=name or f"测试小店{next(_seq)}",
        description="",
        main_category_id=leaf_category(db).id,
        entity_type=EntityType.INDIVIDUAL_BUSINESS,
        legal_name="测试经营者",
    )
    db.add(shop)
    db.flush()
    db.add(ShopMember(shop_id=shop.id, user_id=owner.id, role=MemberRole.OWNER))
    accounts_service.actor_changed(db, user_id=owner.id)  # as the merchants service does
    if staff is not None:
        db.add(ShopMember(shop_id=shop.id, user_id=staff.id, role=MemberRole.STAFF))
        accounts_service.actor_changed(db, user_id=staff.id)
    db.commit()
    return shop


def make_product(
    db: Session,
    shop: Shop,
    *,
    title: str | None = None,
    skus: list[tuple[str, int, int]] | None = None,
    status: ProductStatus = ProductStatus.ON_SALE,
    category_slug: str | None = None,
    purchase_limit: int | None = None,
    return_days: int = 7,
) -> Product:
    """A product with one spec "规格"; ``skus`` is [(value, price_fen, stock)].

    Stock is received and on hand (received == on_hand), as after a stock-in.
    """
    skus = skus or [("标准", 1990, 100)]
    product = Product(
        shop_id=shop.id,
        category_id=leaf_category(db, category_slug).id,
        title=title or f"测试商品{next(_seq)}",
        description="测试用商品",
        status=status,
        purchase_limit=purchase_limit,
        return_days=return_days,
        min_price_fen=min(price for _v, price, _s in skus),
        published_at=clock.now() if status == ProductStatus.ON_SALE else None,
    )
    product.specs = [ProductSpec(name="规格", values=[v for v, _p, _s in skus], position=0)]
    product.skus = [
        Sku(
            spec_values={"规格": value},
            spec_key=value,
            code=f"SKU-{next(_seq)}",
            price_fen=price,
            list_price_fen=price + 1000,
            weight_g=300,
            stock_on_hand=stock,
            stock_received=stock,
        )
        for value, price, stock in skus
    ]
    db.add(product)
    db.commit()
    return product


def make_address(db: Session, user_id: int, **overrides: Any) -> int:
    """An address of the user (the default unless ``is_default=False``); its id. Commits."""
    from xiaodian.actor import Actor
    from xiaodian.orders import addresses
    from xiaodian.orders.addresses import AddressInput

    data: dict[str, Any] = {
        "name": "张三",
        "phone": "13800138000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "文三路 100 号",
        "is_default": True,
    }
    data.update(overrides)
    return addresses.create_address(db, Actor(user_id=user_id), AddressInput(**data)).id


def actor_for(user: Any, shops: dict[int, str] | None = None, *, creator: bool = False) -> Actor:
    """Who ``user`` is to the services: their shops' roles (shop id -> role), a creator."""
    return Actor(
        user_id=user.id,
        display_name=user.display_name,
        shop_roles=shops or {},
        is_creator=creator,
    )

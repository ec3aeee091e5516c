from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian import clock
from xiaodian.db import Base, str_enum


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    ON_SALE = "on_sale"
    OFF_SHELF = "off_shelf"
    REJECTED = "rejected"


class Product(Base):
    """An SPU: what the buyer thinks of as one product. Its SKUs are what is sold."""

    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_status_created", "status", "created_at"),
        Index("ix_products_shop_status", "shop_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProductStatus] = mapped_column(
        str_enum(ProductStatus), default=ProductStatus.DRAFT
    )
    reject_reason: Mapped[str | None] = mapped_column(Text)
    # Prohibited words found when last submitted, shown to the reviewer.
    screening_hits: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Buyer-side rules used by trading: per-buyer purchase limit (None = no limit)
    # and the no-reason return window after receipt, in days (0 = none).
    purchase_limit: Mapped[int | None]
    return_days: Mapped[int] = mapped_column(default=7)
    # The shop's shipping template this product ships by (logistics' table; None: the
    # shop's default one). No foreign key: catalog sits below logistics, which clears it
    # when the template is deleted and ignores an id that is not the shop's.
    shipping_template_id: Mapped[int | None]
    # Denormalised for listing and sorting; kept up to date by the catalog service.
    min_price_fen: Mapped[int] = mapped_column(default=0)
    sales_count: Mapped[int] = mapped_column(default=0)
    cover_path: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    published_at: Mapped[datetime | None]
    # When it last entered review: the operators' queue is oldest first.
    submitted_at: Mapped[datetime | None]

    specs: Mapped[list[ProductSpec]] = relationship(
        order_by="ProductSpec.position", cascade="all, delete-orphan", lazy="selectin"
    )
    images: Mapped[list[ProductImage]] = relationship(
        order_by="ProductImage.position", cascade="all, delete-orphan", lazy="selectin"
    )
    skus: Mapped[list[Sku]] = relationship(
        order_by="Sku.id", cascade="all, delete-orphan", lazy="selectin"
    )


class ProductSpec(Base):
    """One specification axis, e.g. 颜色 with values [红, 蓝]."""

    __tablename__ = "product_specs"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(20))
    values: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(default=0)


class ProductImage(Base):
    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(300))  # relative to the media dir
    thumb_path: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(default=0)


class Sku(Base):
    """A sellable combination of spec values, with its own price and stock.

    Stock is four counters kept in one row so one conditional UPDATE moves units:
    on_hand (sellable) + reserved (in unpaid orders) + sold == received, and none below 0.
    """

    __tablename__ = "skus"
    __table_args__ = (
        UniqueConstraint("product_id", "spec_key"),
        CheckConstraint("stock_on_hand >= 0", name="stock_on_hand_nonnegative"),
        CheckConstraint("stock_reserved >= 0", name="stock_reserved_nonnegative"),
        CheckConstraint("stock_sold >= 0", name="stock_sold_nonnegative"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    # The chosen value per spec, in spec order, e.g. {"颜色": "红", "尺码": "M"}.
    spec_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec_key: Mapped[str] = mapped_column(String(200), default="")  # "红/M"
    code: Mapped[str] = mapped_column(String(64), default="")
    price_fen: Mapped[int]
    list_price_fen: Mapped[int | None]
    weight_g: Mapped[int] = mapped_column(default=0)
    stock_on_hand: Mapped[int] = mapped_column(default=0)
    stock_reserved: Mapped[int] = mapped_column(default=0)
    stock_sold: Mapped[int] = mapped_column(default=0)
    stock_received: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class StockMovement(Base):
    """Every change to a SKU's stock, with its reason: the stock log."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # manual | reserve | release | sell | restock
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ref: Mapped[str | None] = mapped_column(String(64))  # e.g. an order number
    at: Mapped[datetime] = mapped_column(default=clock.now)


class ProductEvent(Base):
    """Review and status history of a product: who, when, what."""

    __tablename__ = "product_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class SkuPrice(Base):
    """Every price a SKU has had, from when (price governance, ``prices.py``): written by
    the ``Sku`` mapper's events whenever a SKU is made or its price changes, so no writer
    can forget it."""

    __tablename__ = "sku_prices"
    __table_args__ = (Index("ix_sku_prices_sku_at", "sku_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    price_fen: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=clock.now)


class PriceFlag(Base):
    """A price shown as a discount that is above the SKU's lowest price of the last 30 days
    (a limited-time discount, a live flash sale): for operators to look at."""

    __tablename__ = "price_flags"
    __table_args__ = (Index("ix_price_flags_open", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # discount | flash
    ref_id: Mapped[int]  # the discount's or the flash sale's id
    label: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int]  # the price shown as a discount
    lowest_fen: Mapped[int]  # the SKU's lowest price of the last 30 days
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(200), default="")


_SKU_PRICES = cast(Table, SkuPrice.__table__)


@event.listens_for(Sku, "after_insert")
def _price_born(_mapper: Any, connection: Any, target: Sku) -> None:
    connection.execute(
        _SKU_PRICES.insert().values(sku_id=target.id, price_fen=target.price_fen, at=clock.now())
    )


@event.listens_for(Sku, "after_update")
def _price_changed(_mapper: Any, connection: Any, target: Sku) -> None:
    history = inspect(target).attrs.price_fen.history
    if history.has_changes() and history.deleted and history.deleted[0] != target.price_fen:
        connection.execute(
            _SKU_PRICES.insert().values(
                sku_id=target.id, price_fen=target.price_fen, at=clock.now()
            )
        )

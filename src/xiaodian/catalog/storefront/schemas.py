"""The public storefront API's response shapes (money in integer fen)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from xiaodian.catalog.storefront.service import (
    CategoryNode,
    ProductCard,
    ProductDetail,
    ProductPage,
    ShopCard,
)


def media_url(path: str | None) -> str:
    """Where a stored media file is served (the same rule as the templates' ``media``)."""
    return f"/media/{path}" if path else "/static/placeholder.svg"


class ProductItem(BaseModel):
    id: int
    title: str
    price_fen: int = Field(description="lowest price among the active SKUs")
    list_price_fen: int | None = Field(description="list price of the cheapest SKU")
    shop_id: int
    shop_name: str
    category_id: int
    cover_url: str
    sales_count: int

    @classmethod
    def of(cls, card: ProductCard) -> ProductItem:
        return cls(
            id=card.id,
            title=card.title,
            price_fen=card.price_fen,
            list_price_fen=card.list_price_fen,
            shop_id=card.shop_id,
            shop_name=card.shop_name,
            category_id=card.category_id,
            cover_url=media_url(card.cover_path),
            sales_count=card.sales_count,
        )


class ProductList(BaseModel):
    items: list[ProductItem]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, page: ProductPage) -> ProductList:
        return cls(
            items=[ProductItem.of(c) for c in page.items],
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


class StoreImageOut(BaseModel):
    url: str
    thumb_url: str


class StoreSpecOut(BaseModel):
    name: str = Field(examples=["颜色"])
    values: list[str] = Field(examples=[["红", "蓝"]])


class StoreSkuOut(BaseModel):
    id: int
    spec_values: dict[str, str] = Field(examples=[{"颜色": "红", "尺码": "M"}])
    price_fen: int
    list_price_fen: int | None
    stock: int = Field(description="units on hand, ready to sell")
    available: bool


class ShopCardOut(BaseModel):
    id: int
    name: str
    description: str
    logo_url: str
    product_count: int = Field(description="products on sale")

    @classmethod
    def of(cls, shop: ShopCard) -> ShopCardOut:
        return cls(
            id=shop.id,
            name=shop.name,
            description=shop.description,
            logo_url=media_url(shop.logo_path),
            product_count=shop.product_count,
        )


class StoreProductOut(BaseModel):
    id: int
    title: str
    description: str
    price_fen: int = Field(description="lowest price among the active SKUs")
    max_price_fen: int
    list_price_fen: int | None
    shop_id: int
    shop_name: str
    category_id: int
    cover_url: str
    sales_count: int
    purchase_limit: int | None
    return_days: int
    shop: ShopCardOut
    images: list[StoreImageOut]
    specs: list[StoreSpecOut]
    skus: list[StoreSkuOut]

    @classmethod
    def of(cls, p: ProductDetail) -> StoreProductOut:
        return cls(
            id=p.id,
            title=p.title,
            description=p.description,
            price_fen=p.min_price_fen,
            max_price_fen=p.max_price_fen,
            list_price_fen=p.list_price_fen,
            shop_id=p.shop.id,
            shop_name=p.shop.name,
            category_id=p.category.id,
            cover_url=media_url(p.cover_path),
            sales_count=p.sales_count,
            purchase_limit=p.purchase_limit,
            return_days=p.return_days,
            shop=ShopCardOut.of(p.shop),
            images=[
                StoreImageOut(url=media_url(i.path), thumb_url=media_url(i.thumb_path))
                for i in p.images
            ],
            specs=[StoreSpecOut(name=s.name, values=s.values) for s in p.specs],
            skus=[
                StoreSkuOut(
                    id=s.id,
                    spec_values=s.spec_values,
                    price_fen=s.price_fen,
                    list_price_fen=s.list_price_fen,
                    stock=s.stock,
                    available=s.available,
                )
                for s in p.skus
            ],
        )


class CategoryNodeOut(BaseModel):
    id: int
    slug: str
    name: str = Field(description="in the request's language")
    name_zh: str
    name_en: str
    children: list[CategoryNodeOut] = []

    @classmethod
    def of(cls, node: CategoryNode, locale: str) -> CategoryNodeOut:
        return cls(
            id=node.id,
            slug=node.slug,
            name=node.name(locale),
            name_zh=node.name_zh,
            name_en=node.name_en,
            children=[cls.of(c, locale) for c in node.children],
        )

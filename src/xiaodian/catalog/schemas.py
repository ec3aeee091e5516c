"""Pydantic models at the edge of the catalog API (merchant and operator endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xiaodian.catalog.models import ProductStatus
from xiaodian.web.types import BodyId, Count, Delta, Fen


class SpecIn(BaseModel):
    name: str = Field(max_length=40)
    values: list[str] = Field(max_length=40)


class ProductCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    category_id: BodyId
    description: str = Field(default="", max_length=10000)
    price_fen: Fen = Field(description="price of every SKU at first, in fen")
    list_price_fen: Fen | None = None
    stock: Count = 0
    weight_g: Count = 0
    specs: list[SpecIn] = Field(default_factory=list, max_length=10)
    purchase_limit: Count | None = None
    return_days: Count = 7


class ProductPatchIn(BaseModel):
    """Only the fields sent are changed; ``purchase_limit: null`` removes the limit."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    category_id: BodyId | None = None
    purchase_limit: Count | None = None
    return_days: Count | None = None


class SpecsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specs: list[SpecIn] = Field(max_length=10)
    default_price_fen: Fen | None = Field(
        default=None, description="price of new combinations with no similar SKU to copy"
    )


class SkuIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec_key: str = Field(max_length=200)
    price_fen: Fen
    list_price_fen: Fen | None = None
    code: str = Field(default="", max_length=100)
    weight_g: Count = 0
    stock: Count | None = Field(default=None, description="set the sellable stock to this")
    is_active: bool = True


class SkusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skus: list[SkuIn] = Field(max_length=500)


class ImageOrderIn(BaseModel):
    image_ids: list[BodyId] = Field(max_length=20)


class BulkStatusIn(BaseModel):
    product_ids: list[BodyId] = Field(min_length=1, max_length=200)
    action: str = Field(description="put_on_shelf | take_off_shelf")


class StockAdjustmentIn(BaseModel):
    sku_id: BodyId
    delta: Delta = Field(description="+ received, - written off")
    reason: str = Field(max_length=400)


class RejectIn(BaseModel):
    reason: str = Field(max_length=1000)


class ApproveIn(BaseModel):
    note: str | None = Field(default=None, max_length=1000)


class SpecOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    values: list[str]


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    thumb_path: str
    position: int
    url: str = ""
    thumb_url: str = ""


class SkuOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    spec_key: str
    spec_values: dict[str, Any]
    code: str
    price_fen: int
    list_price_fen: int | None
    weight_g: int
    stock_on_hand: int
    stock_reserved: int
    stock_sold: int
    stock_received: int
    is_active: bool


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shop_id: int
    category_id: int
    title: str
    description: str
    status: ProductStatus
    reject_reason: str | None
    screening_hits: list[str]
    purchase_limit: int | None
    return_days: int
    min_price_fen: int
    sales_count: int
    cover_path: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    submitted_at: datetime | None
    specs: list[SpecOut]
    images: list[ImageOut]
    skus: list[SkuOut]

    @classmethod
    def of(cls, product: Any) -> ProductOut:
        out = cls.model_validate(product)
        for image in out.images:
            image.url = f"/media/{image.path}"
            image.thumb_url = f"/media/{image.thumb_path}"
        return out


class ProductListOut(BaseModel):
    items: list[ProductOut]
    total: int
    page: int
    per_page: int


class BulkFailureOut(BaseModel):
    product_id: int
    code: str
    message: str


class BulkResultOut(BaseModel):
    changed: list[int]
    failed: list[BulkFailureOut]


class StockMovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku_id: int
    kind: str
    delta: int
    reason: str
    actor_id: int | None
    ref: str | None
    at: datetime


class StockLogEntryOut(StockMovementOut):
    spec_key: str = ""


class ProductEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_id: int | None
    from_status: str | None
    to_status: str
    note: str | None
    at: datetime

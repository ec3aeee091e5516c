"""The category tree's one table (seeded by migration 0002)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaodian.db import Base


class Category(Base):
    """A two-level tree: top categories and their leaves. Products hang on leaves."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(default=0)

    # Filled in one query by ``service.category_tree``; lazy loading elsewhere.
    children: Mapped[list[Category]] = relationship(
        order_by="Category.position", viewonly=True, lazy="select"
    )

    @property
    def is_leaf(self) -> bool:
        return self.parent_id is not None

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

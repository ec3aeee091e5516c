"""Helpers for the merchants tests: valid application bodies, images, media files."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.factories import leaf_category
from xiaodian.merchants import uscc


def code(first17: str = "91330106MA2H7K3P3") -> str:
    """A valid 统一社会信用代码: the 17 characters plus their check character."""
    return first17 + uscc.check_char(first17)


def png(size: tuple[int, int] = (64, 64), colour: str = "red") -> bytes:
    buf = BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def db(database: Any, settings: Any) -> Iterator[Any]:
    """A read session (deferred BEGIN on SQLite), so what a test reads never holds the
    write lock the app's requests need. Call ``db.rollback()`` before reading what a
    request wrote: it ends the snapshot and expires what the session holds."""
    with database.session(write=False) as session:
        yield session


@pytest.fixture
def category(db: Any) -> Any:
    """The id of the "dresses" leaf category."""
    category_id = leaf_category(db, "dresses").id
    db.rollback()
    return category_id


@pytest.fixture
def body(category: Any) -> Any:
    """body(**overrides) -> a valid JSON application."""

    def _body(**overrides: Any) -> dict[str, Any]:
        data = {
            "entity_type": "enterprise",
            "legal_name": "杭州花间服饰有限公司",
            "license_no": code(),
            "contact_name": "林晓花",
            "contact_phone": "13812345678",
            "main_category_id": category,
            "shop_name": "花间衣橱",
        }
        data.update(overrides)
        return data

    return _body


@pytest.fixture
def media_files(settings: Any) -> Any:
    """media_files() -> every stored file (relative paths): the media directory's and the
    private folders' (``DATA_DIR/private``)."""

    def _files() -> list[str]:
        found: list[str] = []
        for root in (Path(settings.media_dir), Path(settings.data_dir) / "private"):
            if root.exists():
                found += [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
        return sorted(found)

    return _files

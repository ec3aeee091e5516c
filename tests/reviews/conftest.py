"""The after-sales world (a shop, buyers, orders driven through the real services) serves
the reviews and health tests too."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from tests.aftersales.conftest import World, world

__all__ = ["World", "png", "world"]


def png(color: tuple[int, int, int] = (200, 60, 60)) -> bytes:
    out = BytesIO()
    Image.new("RGB", (48, 48), color).save(out, "PNG")
    return out.getvalue()

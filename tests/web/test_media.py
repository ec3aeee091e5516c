"""Uploaded images are decoded, then stored as Pillow writes them: whatever rode along in
the uploaded file (after the image's end, inside its metadata) is not kept."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from xiaodian import media
from xiaodian.errors import InvalidInput

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 64


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 48), (30, 160, 90)).save(out, "PNG")
    return out.getvalue()


def test_an_image_carrying_an_executable_is_stored_without_it(settings: Any) -> None:
    stored = media.save_image(_png() + ELF)
    for path in (stored.path, stored.thumb_path):
        data = (settings.media_dir / path).read_bytes()
        assert b"ELF" not in data and data[:2] == b"\xff\xd8"  # re-encoded as JPEG
        with Image.open(BytesIO(data)) as image:
            image.load()
    assert (stored.width, stored.height) == (64, 48)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_png()[: len(_png()) // 2], id="cut-short"),
        pytest.param(_png()[:40] + b"\x00" * 200 + _png()[240:], id="corrupt-data"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + ELF, id="png-signature-then-executable"),
    ],
)
def test_images_that_do_not_decode_are_refused(settings: Any, data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        media.save_image(data)
    assert caught.value.code == "not_an_image"
    assert not [p for p in settings.media_dir.rglob("*") if p.is_file()]

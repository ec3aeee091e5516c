"""Uploaded media: checked for type and size, re-encoded, thumbnailed (Pillow).

Files live under the media directory and are referred to by a relative path
(``images/2026/06/<hex>.jpg``), served at ``/media/<path>``.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from fastapi import UploadFile
from PIL import Image, ImageOps, UnidentifiedImageError

from xiaodian import clock, settings
from xiaodian.errors import InvalidInput, TooLarge, _

Image.MAX_IMAGE_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
THUMB_SIZE = (400, 400)


@dataclass(frozen=True)
class StoredImage:
    path: str
    thumb_path: str
    width: int
    height: int


async def read_upload(upload: UploadFile, *, limit: int) -> bytes:
    """Read an uploaded file, refusing it (413) as soon as it passes ``limit`` bytes."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            _("The file is too large (at most %(mb)s MB)."), mb=round(limit / 1048576, 1)
        )
    return data


def save_image(data: bytes, *, folder: str = "images") -> StoredImage:
    """Validate and store an image with a thumbnail. Raises InvalidInput, TooLarge."""
    conf = settings.current()
    if len(data) > conf.max_image_bytes:
        raise TooLarge(
            _("The file is too large (at most %(mb)s MB)."),
            mb=round(conf.max_image_bytes / 1048576, 1),
        )
    if not data:
        raise InvalidInput(_("The file is empty."), code="empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(BytesIO(data))
            if image.format not in ALLOWED_FORMATS:
                raise InvalidInput(
                    _("Only JPEG, PNG, WebP or GIF images are accepted."), code="not_an_image"
                )
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidInput(
            _("Only JPEG, PNG, WebP or GIF images are accepted."), code="not_an_image"
        ) from None
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "P")
    image = image.convert("RGBA" if has_alpha else "RGB")
    ext = "png" if has_alpha else "jpg"
    now = clock.now()
    rel_dir = Path(folder) / f"{now:%Y}" / f"{now:%m}"
    assert conf.media_dir is not None
    (conf.media_dir / rel_dir).mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(12)
    path = rel_dir / f"{name}.{ext}"
    thumb = rel_dir / f"{name}_t.{ext}"
    fmt = "PNG" if has_alpha else "JPEG"
    options = {} if has_alpha else {"quality": 88, "optimize": True}
    image.save(conf.media_dir / path, fmt, **options)
    small = image.copy()
    small.thumbnail(THUMB_SIZE)
    small.save(conf.media_dir / thumb, fmt, **options)
    return StoredImage(
        path=str(path), thumb_path=str(thumb), width=image.width, height=image.height
    )


def delete(path: str | None) -> None:
    if not path:
        return
    conf = settings.current()
    assert conf.media_dir is not None
    target = (conf.media_dir / path).resolve()
    if conf.media_dir in target.parents and target.is_file():
        target.unlink()

"""Uploaded media: checked for type and size, re-encoded, thumbnailed (Pillow).

Files live under the media directory and are referred to by a relative path
(``images/2026/06/<hex>.jpg``), served at ``/media/<path>``. The private folders
(``PRIVATE_FOLDERS``: business licences) live under ``DATA_DIR/private`` instead, out of
reach of ``/media`` and of a proxy that serves the media directory itself; only their
owners' routes serve them (``stored_file``), to the people allowed to see them. ``/media``
also answers 404 for a private folder's name, for files stored there by older versions.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from fastapi import UploadFile
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from xiaodian import clock, settings
from xiaodian.errors import InvalidInput, NotFound, TooLarge, _

Image.MAX_IMAGE_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
THUMB_SIZE = (400, 400)
# Folders never served at /media (people's papers): a route of their domain serves them.
PRIVATE_FOLDERS = frozenset({"licences"})


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
    root = _root_for(folder)
    if not root.exists():
        root.mkdir(mode=0o700 if is_private(folder) else 0o755, parents=True, exist_ok=True)
    (root / rel_dir).mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(12)
    path = rel_dir / f"{name}.{ext}"
    thumb = rel_dir / f"{name}_t.{ext}"
    fmt = "PNG" if has_alpha else "JPEG"
    options = {} if has_alpha else {"quality": 88, "optimize": True}
    image.save(root / path, fmt, **options)
    small = image.copy()
    small.thumbnail(THUMB_SIZE)
    small.save(root / thumb, fmt, **options)
    return StoredImage(
        path=str(path), thumb_path=str(thumb), width=image.width, height=image.height
    )


def _root_for(path: str) -> Path:
    """Where a stored path (or a folder) lives: the private root or the media directory."""
    conf = settings.current()
    if is_private(path):
        return (conf.data_dir / "private").resolve()
    assert conf.media_dir is not None
    return conf.media_dir.resolve()


def delete(path: str | None) -> None:
    if not path:
        return
    root = _root_for(path)
    target = (root / path).resolve()
    if root in target.parents and target.is_file():
        target.unlink()


def is_private(path: str) -> bool:
    """Whether a stored path lies in a private folder (not served at ``/media``); its
    first part compared without case (case-insensitive file systems)."""
    first = path.replace("\\", "/").lstrip("/").split("/", 1)[0]
    return first.casefold() in PRIVATE_FOLDERS


def stored_file(path: str) -> Path:
    """The file of a stored relative path, inside its root (a private file stored by an
    older version: inside the media directory). Raises NotFound."""
    conf = settings.current()
    assert conf.media_dir is not None
    roots = [_root_for(path)]
    if is_private(path):
        roots.append(conf.media_dir.resolve())
    for root in roots:
        target = (root / path).resolve()
        if root in target.parents and target.is_file():
            return target
    raise NotFound(_("File not found."), code="file_not_found")


class PublicMedia(StaticFiles):
    """``/media``: the media directory without its private folders."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        # ``path`` is already normalised ("images/../licences/x" is "licences/x").
        if is_private(path):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

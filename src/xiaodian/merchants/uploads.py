"""Images a merchant uploads (logos, licences): stored all or nothing, never orphaned."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from xiaodian import media

LOGO_FOLDER = "shops"
LICENSE_FOLDER = "licences"


def store(images: dict[str, tuple[bytes | None, str]]) -> dict[str, media.StoredImage]:
    """Save each given image (field -> (bytes, folder)); all or nothing."""
    stored: dict[str, media.StoredImage] = {}
    try:
        for field, (data, folder) in images.items():
            if data is not None:
                stored[field] = media.save_image(data, folder=folder)
    except Exception:
        discard(stored.values())
        raise
    return stored


def discard(stored: Iterable[media.StoredImage]) -> None:
    for image in stored:
        media.delete(image.path)
        media.delete(image.thumb_path)


@contextmanager
def all_or_nothing(db: Session, stored: dict[str, media.StoredImage]) -> Iterator[None]:
    """On any error inside: roll back and remove the files written for it (no orphans)."""
    try:
        yield
    except BaseException:
        db.rollback()
        discard(stored.values())
        raise

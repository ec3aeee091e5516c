"""A product's images: adding (all or nothing), removing and ordering them; the first is
the cover. Adding or removing one is a key-field edit (``states.key_fields_changed``);
reordering is not (every image shown was approved already).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.actor import Actor
from xiaodian.catalog import service, states
from xiaodian.catalog.models import Product, ProductImage
from xiaodian.errors import DomainError, InvalidInput, NotFound, _

MAX_IMAGES = 9


def _refresh_cover(product: Product) -> None:
    for pos, image in enumerate(product.images):
        image.position = pos
    product.cover_path = product.images[0].path if product.images else None


def add_images(
    db: Session, actor: Actor, shop_id: int, product_id: int, files: Sequence[bytes]
) -> Product:
    """Store uploaded images (in order, after the existing ones). All or nothing: if one
    is refused, none is kept."""
    product = service.shop_product(db, actor, shop_id, product_id)
    if not files:
        raise InvalidInput(_("Choose at least one image."), code="no_image")
    if len(product.images) + len(files) > MAX_IMAGES:
        raise InvalidInput(
            _("A product can have at most %(n)s images."), code="too_many_images", n=MAX_IMAGES
        )
    stored: list[media.StoredImage] = []
    try:
        for data in files:
            stored.append(media.save_image(data, folder="products"))
    except DomainError:
        _delete_files(stored)
        raise
    start = len(product.images)
    for offset, image in enumerate(stored):
        product.images.append(
            ProductImage(path=image.path, thumb_path=image.thumb_path, position=start + offset)
        )
    _refresh_cover(product)
    product.updated_at = clock.now()
    states.key_fields_changed(db, actor, product, "images")
    try:
        db.commit()
    except Exception:
        _delete_files(stored)
        raise
    return product


def _delete_files(stored: Iterable[media.StoredImage]) -> None:
    for image in stored:
        media.delete(image.path)
        media.delete(image.thumb_path)


def delete_image(
    db: Session, actor: Actor, shop_id: int, product_id: int, image_id: int
) -> Product:
    """Remove an image from the product. The file stays: orders keep the cover they showed."""
    product = service.shop_product(db, actor, shop_id, product_id)
    image = next((i for i in product.images if i.id == image_id), None)
    if image is None:
        raise NotFound(_("Image not found."), code="image_not_found")
    product.images.remove(image)
    _refresh_cover(product)
    product.updated_at = clock.now()
    states.key_fields_changed(db, actor, product, "images")
    db.commit()
    return product


def reorder_images(
    db: Session, actor: Actor, shop_id: int, product_id: int, image_ids: Sequence[int]
) -> Product:
    """Put the product's images in this order (every image id once); the first is the cover.

    Not reviewed: every image shown was approved already.
    """
    product = service.shop_product(db, actor, shop_id, product_id)
    by_id = {i.id: i for i in product.images}
    if sorted(image_ids) != sorted(by_id) or len(set(image_ids)) != len(image_ids):
        raise InvalidInput(
            _("Give every image of the product exactly once."), code="image_order_invalid"
        )
    product.images = [by_id[i] for i in image_ids]
    _refresh_cover(product)
    product.updated_at = clock.now()
    db.commit()
    return product

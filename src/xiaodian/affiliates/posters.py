"""Posters (海报): a PNG the server draws for a promoter and a product: the product's image,
its title and price, the promoter's name and a QR code of their tracked link, so a poster
shared in Moments and scanned later still credits them.

Chinese text is drawn with a CJK font the project installs (``scripts/bootstrap.sh``:
WenQuanYi Micro Hei, or Noto CJK); without one the poster is still drawn, with Pillow's
own font. Posters are cached on disk per (promoter, product, price): the same poster is
drawn once, a new price draws a new one.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates import links
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.errors import NotFound, _
from xiaodian.media import stored_file
from xiaodian.money import format_fen

WIDTH, HEIGHT = 750, 1180
FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
RED = (229, 62, 62)
INK = (34, 34, 34)
MUTED = (136, 136, 136)


@lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def poster(db: Session, actor: Actor, product_id: int) -> bytes:
    """The signed-in promoter's poster for a product on sale (drawn once per price).
    Raises NotFound for a product that is not on sale."""
    promoter_id = actor.require_user()
    product = None
    if isinstance(product_id, int) and 0 < product_id <= MAX_ID:
        try:
            product = catalog_service.get_product(db, product_id)
        except NotFound:
            product = None
    if product is None or product.status != catalog_service.ProductStatus.ON_SALE:
        raise NotFound(_("This product is not available."), code="product_not_found")
    link = links.ensure_link(
        db, promoter_id=promoter_id, shop_id=product.shop_id, product_id=product.id
    )
    name = accounts_service.users_by_ids(db, [promoter_id])[promoter_id].display_name
    title, price, cover, code = product.title, product.min_price_fen, product.cover_path, link.code
    db.commit()
    conf = settings_module.current()
    cache = conf.data_dir / "posters" / f"{promoter_id}-{product.id}-{price}.png"
    if cache.is_file():
        return cache.read_bytes()
    url = conf.public_base_url.rstrip("/") + f"/s/{code}"
    data = draw(title=title, price_fen=price, cover_path=cover, promoter=name, url=url)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".tmp")
    partial.write_bytes(data)
    partial.replace(cache)  # a reader never sees half a file
    return data


def _wrap(draw: ImageDraw.ImageDraw, text: str, size: int, width: int, lines: int) -> list[str]:
    """``text`` cut into at most ``lines`` lines of ``width`` pixels (Chinese has no spaces:
    cut by character), the last ending in … when cut short."""
    out: list[str] = []
    line = ""
    for ch in text:
        if draw.textlength(line + ch, font=font(size)) > width:
            out.append(line)
            line = ch
            if len(out) == lines:
                break
        else:
            line += ch
    else:
        out.append(line)
        return out[:lines]
    last = out[-1]
    while last and draw.textlength(last + "…", font=font(size)) > width:
        last = last[:-1]
    out[-1] = last + "…"
    return out


def draw(*, title: str, price_fen: int, cover_path: str | None, promoter: str, url: str) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    pen = ImageDraw.Draw(image)
    picture = None
    if cover_path:
        try:
            with Image.open(stored_file(cover_path)) as stored:
                picture = stored.convert("RGB")
        except (NotFound, OSError):
            picture = None
    if picture is not None:
        side = min(picture.size)
        left, top = (picture.width - side) // 2, (picture.height - side) // 2
        picture = picture.crop((left, top, left + side, top + side)).resize((WIDTH, WIDTH))
        image.paste(picture, (0, 0))
    else:
        pen.rectangle((0, 0, WIDTH, WIDTH), fill=(240, 240, 242))
    y = WIDTH + 28
    for line in _wrap(pen, title, 36, WIDTH - 60, 2):
        pen.text((30, y), line, fill=INK, font=font(36))
        y += 50
    pen.text((30, y + 10), format_fen(price_fen), fill=RED, font=font(56))
    pen.text((30, HEIGHT - 150), f"{promoter} 推荐", fill=INK, font=font(30))
    pen.text((30, HEIGHT - 100), "长按识别二维码，查看商品", fill=MUTED, font=font(26))
    qr = qrcode.QRCode(border=1, box_size=8)
    qr.add_data(url)
    qr.make(fit=True)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    code = code.resize((220, 220))
    image.paste(code, (WIDTH - 250, HEIGHT - 250))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()

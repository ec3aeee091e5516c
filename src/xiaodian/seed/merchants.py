"""Demo data for merchants: four open shops (each application approved by the operator,
with its history), one staff member, one application waiting in the queue and one
rejected with a reason. Logos are generated: a coloured square with the shop's first
character.

Puts the shops into ``ctx["shops"]`` (list, in the order below) and
``ctx["shops_by_name"]`` for the seed steps that run after this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.categories.models import Category
from xiaodian.merchants import applications, uploads, uscc
from xiaodian.merchants.models import EntityType, MemberRole, Shop, ShopMember
from xiaodian.settings import Settings

# Fonts that can draw Chinese, tried in order; without one the logo shows a Latin initial.
CJK_FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
]


@dataclass(frozen=True)
class DemoShop:
    name: str
    initial: str  # drawn when no Chinese font is installed
    category: str  # leaf category slug
    owner: int  # index into ctx["merchants"]
    entity: EntityType
    legal_name: str
    code17: str  # the unified social credit code without its check character
    contact: str
    colour: tuple[int, int, int]
    description: str
    days_ago: int


SHOPS = [
    DemoShop(
        "花间衣橱",
        "H",
        "dresses",
        0,
        EntityType.ENTERPRISE,
        "杭州花间服饰有限公司",
        "91330106MA2H7K3P3",
        "林晓花",
        (214, 72, 105),
        "原创设计女装，每周上新连衣裙与通勤款，支持7天无理由退换。",
        40,
    ),
    DemoShop(
        "山野茶铺",
        "S",
        "tea",
        1,
        EntityType.INDIVIDUAL_BUSINESS,
        "普洱市思茅区山野茶叶店",
        "92530802MA6N4TQ55",
        "岩应",
        (64, 132, 80),
        "云南高山茶园直供：普洱、滇红、白茶，茶农自己采、自己做。",
        35,
    ),
    DemoShop(
        "小熊母婴",
        "X",
        "baby-clothing",
        2,
        EntityType.ENTERPRISE,
        "苏州小熊母婴用品有限公司",
        "91320505MA1Y8RB27",
        "周宁",
        (240, 160, 60),
        "纯棉童装与婴儿用品，A类标准面料，宝宝穿着更安心。",
        28,
    ),
    DemoShop(
        "数码小站",
        "D",
        "phone-accessories",
        2,
        EntityType.INDIVIDUAL_BUSINESS,
        "深圳市南山区数码小站电子产品店",
        "92440305MA5G2LW81",
        "周宁",
        (52, 104, 196),
        "手机壳、快充、数据线与蓝牙耳机，正品保障，48小时内发货。",
        21,
    ),
]


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    now = clock.now()
    operator = ctx["operator"]
    merchants = ctx["merchants"]
    categories = {c.slug: c for c in db.scalars(select(Category))}

    shops: list[Shop] = []
    for demo in SHOPS:
        owner = merchants[demo.owner]
        submitted = now - timedelta(days=demo.days_ago)
        application = _apply(
            db,
            applicant_id=owner.id,
            demo=demo,
            category_id=categories[demo.category].id,
            phone=owner.phone or "13800000000",
            at=submitted,
        )
        shop = applications.approve_into_shop(
            db, application, operator.id, at=submitted + timedelta(hours=20)
        )
        shop.description = demo.description
        shops.append(shop)

    # One staff member: a buyer account helps out at the first shop.
    helper = ctx["buyers"][0]
    db.add(
        ShopMember(
            shop_id=shops[0].id,
            user_id=helper.id,
            role=MemberRole.STAFF,
            added_at=now - timedelta(days=30),
            added_by_id=merchants[0].id,
        )
    )

    # Waiting in the queue: the new merchant wants to open a stationery shop.
    newcomer = merchants[3]
    _apply(
        db,
        applicant_id=newcomer.id,
        demo=DemoShop(
            "拾光文创",
            "G",
            "stationery",
            3,
            EntityType.INDIVIDUAL_BUSINESS,
            "厦门市思明区拾光文创工作室",
            "92350203MA8U5D1K9",
            "陈拾光",
            (120, 92, 160),
            "",
            0,
        ),
        category_id=categories["stationery"].id,
        phone=newcomer.phone or "13800000004",
        at=now - timedelta(hours=5),
    )

    # Rejected with a reason: a buyer tried to open a snack shop with a blurry licence.
    hopeful = ctx["buyers"][-1]
    rejected = _apply(
        db,
        applicant_id=hopeful.id,
        demo=DemoShop(
            "杨帆零食铺",
            "Y",
            "snacks",
            0,
            EntityType.INDIVIDUAL_BUSINESS,
            "杨帆",
            "92110105MA7X3E9F4",
            "杨帆",
            (200, 120, 40),
            "",
            0,
        ),
        category_id=categories["snacks"].id,
        phone=hopeful.phone or "13900000006",
        at=now - timedelta(days=3),
    )
    applications.mark_rejected(
        db,
        rejected,
        operator.id,
        "营业执照照片模糊，无法核对统一社会信用代码；经营者名称请与执照上的名称完全一致"
        "（个体工商户请填写执照上的字号）。请重新上传清晰的执照照片后再提交。",
        at=now - timedelta(days=2),
    )
    db.flush()
    ctx["shops"] = shops
    ctx["shops_by_name"] = {shop.name: shop for shop in shops}


def _apply(
    db: Session,
    *,
    applicant_id: int,
    demo: DemoShop,
    category_id: int,
    phone: str,
    at: Any,
) -> Any:
    """Submit an application as the applicant would, with a generated logo and licence."""
    data = applications.ApplicationData(
        entity_type=str(demo.entity),
        legal_name=demo.legal_name,
        license_no=demo.code17 + uscc.check_char(demo.code17),
        contact_name=demo.contact,
        contact_phone=phone,
        main_category_id=category_id,
        shop_name=demo.name,
    )
    values = applications.clean_application(db, data)  # the demo data passes the real checks
    stored = {
        "logo": media.save_image(logo_png(demo), folder=uploads.LOGO_FOLDER),
        "license_image": media.save_image(licence_png(demo), folder=uploads.LICENSE_FOLDER),
    }
    return applications.add_application(
        db, applicant_id=applicant_id, values=values, stored=stored, at=at
    )


@cache
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A font and whether it can draw Chinese."""
    for path in CJK_FONTS:
        if Path(path).is_file():
            try:
                return ImageFont.truetype(path, size), True
            except OSError:
                continue
    return ImageFont.load_default(size=size), False


def logo_png(demo: DemoShop, size: int = 256) -> bytes:
    """A coloured rounded square with the shop's first character in white."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 6, fill=demo.colour)
    font, cjk = _font(int(size * 0.56))
    glyph = demo.name[0] if cjk else demo.initial
    draw.text((size / 2, size / 2), glyph, font=font, fill=(255, 255, 255), anchor="mm")
    return _png(image)


def licence_png(demo: DemoShop) -> bytes:
    """A stand-in for a photographed business licence: frame, text lines and a red seal."""
    w, h = 720, 500
    image = Image.new("RGB", (w, h), (250, 246, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((16, 16, w - 17, h - 17), outline=(176, 140, 80), width=6)
    font, cjk = _font(40)
    draw.text(
        (w / 2, 70),
        "营业执照" if cjk else "BUSINESS LICENCE",
        font=font,
        fill=(150, 40, 40),
        anchor="mm",
    )
    small, _cjk = _font(22)
    code = demo.code17 + uscc.check_char(demo.code17)
    lines = [code, demo.legal_name] if cjk else [code]
    for i, line in enumerate(lines):
        draw.text((70, 150 + i * 46), line, font=small, fill=(60, 60, 60))
    for i in range(4):
        y = 260 + i * 40
        draw.line((70, y, w - 220, y), fill=(200, 195, 185), width=8)
    draw.ellipse((w - 200, h - 200, w - 60, h - 60), outline=(200, 30, 30), width=6)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buf = BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()

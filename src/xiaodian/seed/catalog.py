"""Demo data for catalog: 48 products on sale across the demo shops, with generated images,
one or two spec axes (2-8 SKUs each), varied prices, stock, publish dates and sales; and one
product in each other state: under review (with a prohibited word), draft, off shelf, and
rejected with a reason.

Images are drawn with Pillow (a gradient, a motif and a big Latin label), a few designs per
category, stored once through ``media.save_image`` and shared by the products of that
category, so seeding stays fast.
"""

from __future__ import annotations

import random
from datetime import timedelta
from functools import cache
from io import BytesIO
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.catalog import screening
from xiaodian.catalog.models import (
    Product,
    ProductEvent,
    ProductImage,
    ProductSpec,
    ProductStatus,
    Sku,
    StockMovement,
)
from xiaodian.catalog.products import SpecAxis, combinations, spec_key
from xiaodian.catalog.stock import INITIAL_STOCK
from xiaodian.categories.models import Category
from xiaodian.settings import Settings

Spec = tuple[str, list[str]]

# (shop index, leaf category, title, description, specs, price in yuan, list price factor)
# Shop order follows seed/merchants.py: 花间衣橱, 山野茶铺, 小熊母婴, 数码小站.
PRODUCTS: list[tuple[int, str, str, str, list[Spec], float, float]] = [
    (
        0,
        "dresses",
        "夏季碎花连衣裙 女 法式收腰显瘦长裙",
        "雪纺面料，轻盈透气；收腰设计显瘦，V领修饰脸型。",
        [("颜色", ["蓝色碎花", "粉色碎花"]), ("尺码", ["S", "M", "L"])],
        159,
        1.6,
    ),
    (
        0,
        "dresses",
        "复古方领泡泡袖连衣裙 法式茶歇裙",
        "方领露出锁骨，泡泡袖俏皮减龄，后背松紧更贴合。",
        [("颜色", ["黑色", "杏色"]), ("尺码", ["S", "M", "L", "XL"])],
        189,
        1.5,
    ),
    (
        0,
        "dresses",
        "纯棉白色衬衫裙 宽松中长款",
        "100支纯棉，亲肤不闷；配腰带可收腰。",
        [("尺码", ["S", "M", "L"])],
        139,
        1.4,
    ),
    (
        0,
        "dresses",
        "针织吊带连衣裙 内搭打底长裙",
        "弹力针织，单穿或内搭都合适。",
        [("颜色", ["燕麦", "黑色", "焦糖"])],
        99,
        1.5,
    ),
    (
        0,
        "womens-tops",
        "冰丝短袖T恤 女 宽松圆领上衣",
        "冰丝面料凉感明显，夏天不粘身。",
        [("颜色", ["白色", "黑色", "雾霾蓝"]), ("尺码", ["M", "L"])],
        59,
        1.7,
    ),
    (
        0,
        "womens-tops",
        "法式V领针织开衫 薄款外搭",
        "细腻针织，空调房必备，可单穿可外搭。",
        [("颜色", ["米白", "浅粉"]), ("尺码", ["S", "M", "L"])],
        129,
        1.5,
    ),
    (
        0,
        "womens-tops",
        "真丝缎面衬衫 通勤百搭",
        "22姆米真丝，垂坠有光泽，通勤约会都能穿。",
        [("颜色", ["香槟", "墨绿"]), ("尺码", ["S", "M", "L"])],
        329,
        1.4,
    ),
    (
        0,
        "skirts",
        "高腰A字半身裙 中长款百褶裙",
        "高腰设计拉长比例，百褶随步伐摆动。",
        [("颜色", ["卡其", "黑色"]), ("尺码", ["S", "M", "L"])],
        119,
        1.5,
    ),
    (
        0,
        "skirts",
        "牛仔半身裙 女 开叉直筒裙",
        "微弹牛仔，后开叉方便行走。",
        [("尺码", ["S", "M", "L", "XL"])],
        109,
        1.5,
    ),
    (
        0,
        "womens-coats",
        "轻薄防晒外套 女 UPF50+ 连帽",
        "UPF50+防晒面料，轻薄可收纳，出游必备。",
        [("颜色", ["白色", "浅紫", "薄荷绿"]), ("尺码", ["M", "L"])],
        89,
        1.8,
    ),
    (
        0,
        "womens-coats",
        "双面羊毛大衣 女 中长款",
        "双面呢工艺，70%羊毛，廓形不挑身材。",
        [("颜色", ["驼色", "燕麦"]), ("尺码", ["S", "M", "L"])],
        899,
        1.6,
    ),
    (
        0,
        "mens-tshirts",
        "重磅纯棉短袖T恤 男 净色打底",
        "260g重磅棉，版型挺括不易变形。",
        [("颜色", ["白色", "黑色", "灰色"]), ("尺码", ["L", "XL"])],
        79,
        1.5,
    ),
    (
        0,
        "mens-shirts",
        "男士牛津纺长袖衬衫 商务休闲",
        "牛津纺面料，免烫处理，通勤不起皱。",
        [("颜色", ["浅蓝", "白色"]), ("尺码", ["M", "L", "XL"])],
        149,
        1.5,
    ),
    (
        1,
        "tea",
        "明前西湖龙井 250g 罐装",
        "狮峰山产区明前采摘，豆香浓郁，汤色嫩绿。",
        [("规格", ["250g 罐装", "125g 尝鲜装"])],
        268,
        1.3,
    ),
    (
        1,
        "tea",
        "云南普洱熟茶饼 357g 七子饼",
        "勐海原料，渥堆发酵，汤色红浓，越陈越香。",
        [("年份", ["2019年", "2021年"])],
        168,
        1.4,
    ),
    (
        1,
        "tea",
        "正山小种红茶 桐木关 200g",
        "松烟香与桂圆香，冲泡七八次依然有味。",
        [("规格", ["200g", "100g"])],
        128,
        1.4,
    ),
    (
        1,
        "tea",
        "福鼎白茶 白牡丹 饼茶 300g",
        "一年茶三年药七年宝，枣香明显。",
        [("规格", ["300g 饼", "100g 散茶"])],
        198,
        1.3,
    ),
    (
        1,
        "tea",
        "滇红金芽 古树红茶 罐装",
        "单芽制作，金毫显露，蜜香甜润。",
        [("规格", ["150g 罐装", "50g 尝鲜"])],
        238,
        1.3,
    ),
    (
        1,
        "tea",
        "茉莉花茶 飘雪 广西横县 250g",
        "七窨一提，花香鲜灵，冷泡热泡都好喝。",
        [("规格", ["250g", "500g"])],
        69,
        1.5,
    ),
    (
        1,
        "snacks",
        "云南鲜花饼 玫瑰饼 10枚礼盒",
        "现烤现发，重瓣玫瑰花酱，酥皮掉渣。",
        [("口味", ["玫瑰", "紫罗兰", "混合"])],
        49,
        1.4,
    ),
    (
        1,
        "snacks",
        "手工牛肉干 风干 内蒙古 250g",
        "草原黄牛肉，手撕风干，越嚼越香。",
        [("口味", ["原味", "香辣"]), ("规格", ["250g", "500g"])],
        89,
        1.3,
    ),
    (
        1,
        "snacks",
        "每日坚果 混合果仁 30包",
        "六种坚果果干科学配比，独立小包装。",
        [("规格", ["30包", "15包"])],
        99,
        1.4,
    ),
    (
        1,
        "fruit",
        "云南高山蓝莓 鲜果 4盒装",
        "高原种植，果粉完整，每盒125g。",
        [("规格", ["4盒", "8盒"])],
        79,
        1.3,
    ),
    (
        1,
        "fruit",
        "海南贵妃芒 新鲜现摘 5斤装",
        "树上熟才摘，香甜多汁，坏果包赔。",
        [("规格", ["5斤 中果", "5斤 大果"])],
        59,
        1.4,
    ),
    (
        1,
        "grain-oil",
        "东北五常稻花香大米 10斤",
        "当季新米，粒粒饱满，蒸出来有米香。",
        [("规格", ["10斤", "20斤"])],
        69,
        1.3,
    ),
    (
        1,
        "grain-oil",
        "古法压榨菜籽油 5L",
        "物理压榨，浓香型，炒菜香。",
        [("规格", ["5L", "2.5L"])],
        89,
        1.3,
    ),
    (
        2,
        "baby-clothing",
        "婴儿纯棉连体衣 新生儿哈衣 春秋款",
        "A类纯棉，无骨缝制，按扣开档换尿布方便。",
        [("颜色", ["白色", "浅粉"]), ("尺码", ["59", "66", "73"])],
        69,
        1.5,
    ),
    (
        2,
        "baby-clothing",
        "儿童防晒衣 UPF50+ 男女童外套",
        "轻薄透气，帽檐加大，户外遮阳。",
        [("颜色", ["黄色", "粉色"]), ("尺码", ["100", "110", "120", "130"])],
        79,
        1.6,
    ),
    (
        2,
        "baby-clothing",
        "宝宝纯棉短袖套装 夏季两件套",
        "精梳棉，柔软吸汗，卡通印花。",
        [("图案", ["小熊", "恐龙"]), ("尺码", ["80", "90", "100"])],
        59,
        1.5,
    ),
    (
        2,
        "baby-clothing",
        "婴儿纱布睡袋 防踢被 四季通用",
        "六层纱布，越洗越软，可拆袖。",
        [("尺码", ["S", "M", "L"])],
        119,
        1.4,
    ),
    (
        2,
        "toys",
        "木质磁力积木 儿童益智 100片",
        "榉木材质，水性漆，圆角打磨。",
        [("规格", ["100片", "60片"])],
        129,
        1.5,
    ),
    (
        2,
        "toys",
        "宝宝洗澡玩具 戏水小鸭套装",
        "食品级硅胶，无孔设计不藏水垢。",
        [("规格", ["6只装", "3只装"])],
        39,
        1.6,
    ),
    (
        2,
        "toys",
        "儿童拼图 地图认知 200片",
        "中国地图与世界地图，认识省份和国家。",
        [("款式", ["中国地图", "世界地图"])],
        49,
        1.5,
    ),
    (
        2,
        "bedding",
        "A类纯棉四件套 全棉斜纹 1.8m床",
        "新疆长绒棉，活性印染，亲肤不起球。",
        [("颜色", ["燕麦", "雾蓝", "奶白"]), ("尺寸", ["1.5m", "1.8m"])],
        299,
        1.6,
    ),
    (
        2,
        "bedding",
        "大豆纤维夏凉被 可水洗",
        "轻薄透气，空调房盖刚好。",
        [("尺寸", ["150x200", "200x230"])],
        159,
        1.5,
    ),
    (
        2,
        "kitchenware",
        "宝宝辅食锅 不粘小奶锅 16cm",
        "麦饭石涂层，少油不粘，燃气电磁炉通用。",
        [("颜色", ["奶白", "抹茶绿"])],
        89,
        1.5,
    ),
    (
        3,
        "phone-accessories",
        "iPhone 15 透明磁吸手机壳 防摔",
        "军规防摔，磁吸无线充电，不发黄。",
        [("型号", ["15", "15 Pro", "15 Pro Max"]), ("颜色", ["透明", "磨砂黑"])],
        39,
        2.0,
    ),
    (
        3,
        "phone-accessories",
        "65W 氮化镓快充充电器 三口",
        "两个C口一个A口，笔记本手机一起充。",
        [("颜色", ["白色", "黑色"])],
        129,
        1.5,
    ),
    (
        3,
        "phone-accessories",
        "编织快充数据线 C to C 240W",
        "尼龙编织耐弯折，支持240W快充。",
        [("长度", ["1m", "2m"]), ("颜色", ["灰色", "白色"])],
        29,
        1.7,
    ),
    (
        3,
        "phone-accessories",
        "磁吸充电宝 10000mAh 超薄",
        "磁吸无线充，自带支架，可上飞机。",
        [("颜色", ["白色", "紫色", "黑色"])],
        149,
        1.4,
    ),
    (
        3,
        "phone-accessories",
        "手机支架 桌面懒人支架 铝合金",
        "铝合金机身，多角度调节，稳固不晃。",
        [("颜色", ["银色", "深空灰"])],
        49,
        1.6,
    ),
    (
        3,
        "audio",
        "主动降噪蓝牙耳机 入耳式 长续航",
        "-45dB主动降噪，单次续航8小时。",
        [("颜色", ["白色", "黑色"])],
        299,
        1.5,
    ),
    (
        3,
        "audio",
        "便携蓝牙音箱 户外防水 小钢炮",
        "IPX7防水，重低音，续航20小时。",
        [("颜色", ["军绿", "黑色", "蓝色"])],
        199,
        1.5,
    ),
    (
        3,
        "audio",
        "开放式运动耳机 挂耳式 不入耳",
        "不入耳不闷耳，跑步不掉。",
        [("颜色", ["黑色", "白色"])],
        249,
        1.4,
    ),
    (
        3,
        "small-appliances",
        "便携榨汁杯 无线充电 小型果汁机",
        "300ml容量，磁吸充电，一次充电榨15杯。",
        [("颜色", ["白色", "粉色", "绿色"])],
        99,
        1.6,
    ),
    (
        3,
        "small-appliances",
        "家用电热水壶 1.7L 不锈钢",
        "304不锈钢内胆，自动断电防干烧。",
        [("颜色", ["白色", "灰色"])],
        79,
        1.5,
    ),
    (
        3,
        "small-appliances",
        "桌面小风扇 USB 静音 可充电",
        "三档风速，低噪音，可摇头。",
        [("颜色", ["白色", "绿色"])],
        59,
        1.6,
    ),
    (
        3,
        "small-appliances",
        "迷你空气炸锅 2L 家用小型",
        "无油少油，可视窗口，一人食刚好。",
        [("颜色", ["奶白", "黑色"])],
        199,
        1.5,
    ),
]

# The products in the other states: (shop index, category, title, description, status, extra)
OTHERS: list[tuple[int, str, str, str, ProductStatus, str]] = [
    (
        1,
        "tea",
        "特级安吉白茶 2024新茶 最好喝的绿茶",
        "安吉溪龙乡核心产区，全网最低价，喝过都说好。",
        ProductStatus.UNDER_REVIEW,
        "",
    ),
    (0, "skirts", "缎面鱼尾半身裙（草稿）", "还在拍图，先存草稿。", ProductStatus.DRAFT, ""),
    (
        3,
        "audio",
        "有线耳机 3.5mm 入耳式",
        "经典有线耳机，已停产，暂时下架。",
        ProductStatus.OFF_SHELF,
        "",
    ),
    (
        2,
        "toys",
        "儿童电动遥控车 特效药般让孩子安静",
        "玩一下午不哭不闹。",
        ProductStatus.REJECTED,
        "标题含“特效药”等医疗用语，普通商品不得使用；请修改标题后重新提交。",
    ),
]

PALETTES = [
    ((244, 143, 177), (255, 224, 178)),
    ((129, 199, 132), (220, 237, 200)),
    ((100, 181, 246), (225, 245, 254)),
    ((255, 183, 77), (255, 245, 157)),
    ((149, 117, 205), (237, 231, 246)),
    ((77, 182, 172), (224, 242, 241)),
    ((240, 98, 146), (248, 187, 208)),
    ((161, 136, 127), (239, 235, 233)),
]

LABELS = {
    "dresses": "DRESS",
    "womens-tops": "TOPS",
    "skirts": "SKIRT",
    "womens-coats": "COAT",
    "mens-tshirts": "TEE",
    "mens-shirts": "SHIRT",
    "tea": "TEA",
    "snacks": "SNACK",
    "fruit": "FRUIT",
    "grain-oil": "RICE",
    "baby-clothing": "BABY",
    "toys": "TOYS",
    "bedding": "HOME",
    "kitchenware": "COOK",
    "phone-accessories": "PHONE",
    "audio": "AUDIO",
    "small-appliances": "HOME+",
}

DESIGNS_PER_CATEGORY = 3
SIZE = 800


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    ):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def product_png(label: str, palette_index: int, motif: int) -> bytes:
    """An 800x800 product picture: diagonal gradient, a soft motif and a big label."""
    top, bottom = PALETTES[palette_index % len(PALETTES)]
    small = Image.new("RGB", (2, 2))
    small.putdata([top, _mix(top, bottom), _mix(top, bottom), bottom])
    image = small.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    overlay = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    white = (255, 255, 255, 90)
    if motif == 0:  # concentric rings
        for r in range(360, 40, -60):
            draw.ellipse((400 - r, 400 - r, 400 + r, 400 + r), outline=white, width=14)
    elif motif == 1:  # diagonal stripes
        for x in range(-SIZE, SIZE, 90):
            draw.polygon([(x, 0), (x + 45, 0), (x + 45 + SIZE, SIZE), (x + SIZE, SIZE)], fill=white)
    else:  # dots
        for y in range(60, SIZE, 120):
            for x in range(60 + (y // 120 % 2) * 60, SIZE, 120):
                draw.ellipse((x - 22, y - 22, x + 22, y + 22), fill=white)
    draw.rounded_rectangle((150, 290, 650, 510), radius=40, fill=(255, 255, 255, 215))
    font = _font(118 if len(label) <= 4 else 96)
    ink = tuple(max(0, c - 90) for c in top)
    draw.text((400, 400), label, font=font, fill=(*ink, 255), anchor="mm")
    image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _mix(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (
        (a[0] + b[0]) // 2,
        (a[1] + b[1]) // 2,
        (a[2] + b[2]) // 2,
    )


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    shops = ctx.get("shops") or []
    if not shops:
        return
    rng = random.Random(20260618)
    now = clock.now()
    operator = ctx.get("operator")
    operator_id = operator.id if operator is not None else None
    categories = {c.slug: c for c in db.scalars(select(Category))}
    images: dict[str, list[media.StoredImage]] = {}

    def pictures(slug: str) -> list[media.StoredImage]:
        if slug not in images:
            base = list(LABELS).index(slug) if slug in LABELS else 0
            images[slug] = [
                media.save_image(
                    product_png(LABELS.get(slug, "SHOP"), base + i, (base + i) % 3),
                    folder="products",
                )
                for i in range(DESIGNS_PER_CATEGORY)
            ]
        return images[slug]

    products: list[Product] = []
    for n, (shop_index, slug, title, description, specs, yuan, list_factor) in enumerate(PRODUCTS):
        days = rng.randint(1, 90)
        product = _product(
            db,
            rng,
            shop=shops[shop_index % len(shops)],
            category=categories[slug],
            title=title,
            description=description,
            specs=specs,
            price_fen=int(yuan * 100),
            list_factor=list_factor,
            pictures=pictures(slug),
            image_count=2 + n % 2,
            created=now - timedelta(days=days + 2, hours=rng.randint(0, 23)),
        )
        product.status = ProductStatus.ON_SALE
        product.published_at = now - timedelta(days=days, hours=rng.randint(0, 23))
        product.submitted_at = product.published_at - timedelta(hours=3)
        product.sales_count = int(rng.paretovariate(1.3) * 40) % 5000
        products.append(product)
    for shop_index, slug, title, description, status, reason in OTHERS:
        product = _product(
            db,
            rng,
            shop=shops[shop_index % len(shops)],
            category=categories[slug],
            title=title,
            description=description,
            specs=[("规格", ["标准款"])],
            price_fen=rng.choice([4900, 8900, 12900]),
            list_factor=1.5,
            pictures=pictures(slug),
            image_count=0 if status == ProductStatus.DRAFT else 2,
            created=now - timedelta(days=rng.randint(1, 5)),
        )
        product.status = status
        if status in (ProductStatus.UNDER_REVIEW, ProductStatus.REJECTED):
            product.submitted_at = now - timedelta(hours=rng.randint(2, 30))
            product.screening_hits = screening.find_hits(title, description)
        if status == ProductStatus.REJECTED:
            product.reject_reason = reason
        if status == ProductStatus.OFF_SHELF:
            product.published_at = now - timedelta(days=60)
            product.sales_count = 312
        products.append(product)
    db.flush()
    for product in products:
        _history(db, product, operator_id)
    db.flush()
    ctx["products"] = [p for p in products if p.status == ProductStatus.ON_SALE]
    ctx["all_products"] = products


def _product(
    db: Session,
    rng: random.Random,
    *,
    shop: Any,
    category: Category,
    title: str,
    description: str,
    specs: list[Spec],
    price_fen: int,
    list_factor: float,
    pictures: list[media.StoredImage],
    image_count: int,
    created: Any,
) -> Product:
    axes = [SpecAxis(name, values) for name, values in specs]
    product = Product(
        shop_id=shop.id,
        category_id=category.id,
        title=title,
        description=description,
        status=ProductStatus.DRAFT,
        screening_hits=[],
        purchase_limit=rng.choice([None, None, None, 5]),
        return_days=0 if category.slug in ("fruit",) else 7,
        sales_count=0,
        created_at=created,
        updated_at=created,
    )
    product.specs = [
        ProductSpec(name=a.name, values=list(a.values), position=i) for i, a in enumerate(axes)
    ]
    start = rng.randrange(len(pictures))
    chosen = [pictures[(start + i) % len(pictures)] for i in range(image_count)]
    product.images = [
        ProductImage(path=p.path, thumb_path=p.thumb_path, position=i) for i, p in enumerate(chosen)
    ]
    product.cover_path = chosen[0].path if chosen else None
    skus = []
    for i, combo in enumerate(combinations(axes)):
        # later values of the first axis (bigger sizes, larger packs) cost a little more
        price = price_fen + (i % len(axes[0].values)) * (price_fen // 20 // 100 * 100)
        stock = rng.choice([0, 3, 8, 20, 50, 120, 300]) if i else rng.choice([20, 60, 200])
        skus.append(
            Sku(
                spec_values=combo,
                spec_key=spec_key(combo, axes),
                code=f"S{shop.id}-{rng.randrange(10**6):06d}-{i}",
                price_fen=price,
                list_price_fen=int(price * list_factor) // 100 * 100,
                weight_g=rng.choice([150, 250, 500, 800, 1200]),
                stock_on_hand=stock,
                stock_received=stock,
                stock_reserved=0,
                stock_sold=0,
                is_active=True,
            )
        )
    product.skus = skus
    product.min_price_fen = min(s.price_fen for s in skus)
    db.add(product)
    return product


def _history(db: Session, product: Product, operator_id: int | None) -> None:
    """Events and stock log matching the product's state."""
    created = product.created_at
    db.add(ProductEvent(product_id=product.id, from_status=None, to_status="draft", at=created))
    for sku in product.skus:
        if sku.stock_received:
            db.add(
                StockMovement(
                    sku_id=sku.id,
                    kind="manual",
                    delta=sku.stock_received,
                    reason=INITIAL_STOCK,
                    at=created,
                )
            )
    if product.status == ProductStatus.DRAFT or product.submitted_at is None:
        if product.status == ProductStatus.OFF_SHELF and product.published_at:
            _events(db, product, operator_id, created, ["under_review", "on_sale", "off_shelf"])
        return
    steps = {
        ProductStatus.UNDER_REVIEW: ["under_review"],
        ProductStatus.ON_SALE: ["under_review", "on_sale"],
        ProductStatus.REJECTED: ["under_review", "rejected"],
    }[product.status]
    _events(db, product, operator_id, product.submitted_at, steps)


def _events(
    db: Session, product: Product, operator_id: int | None, start: Any, steps: list[str]
) -> None:
    previous = "draft"
    at = start
    for step in steps:
        db.add(
            ProductEvent(
                product_id=product.id,
                actor_id=None if step == "under_review" else operator_id,
                from_status=previous,
                to_status=step,
                note=product.reject_reason if step == "rejected" else None,
                at=at,
            )
        )
        previous = step
        at = at + timedelta(hours=3)

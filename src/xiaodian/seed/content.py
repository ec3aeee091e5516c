"""Demo data for short videos: 8 videos by the demo shops and creators, with products
attached, topics, likes from the demo buyers, and some views and product-card clicks.

The clips are tiny generated samples shipped in ``seed/assets/`` (made once with ffmpeg's
gradient source; no decoder is needed at run time). Covers are drawn with Pillow.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.content import metrics, video_files, videos
from xiaodian.content.models import (
    Video,
    VideoDailyStat,
    VideoEvent,
    VideoLike,
    VideoStatus,
)
from xiaodian.merchants import service as merchants_service
from xiaodian.settings import Settings

ASSETS = Path(__file__).resolve().parent / "assets"
CLIPS = ["sample1.mp4", "sample2.webm", "sample3.mp4"]

# (shop index or None for a creator, creator index, caption, topics, how many products)
VIDEOS: list[tuple[int | None, int, str, str, int]] = [
    (0, 0, "夏天的碎花裙真的太好穿了，通勤约会都能穿🌸", "#穿搭 #夏日好物 #连衣裙", 2),
    (1, 0, "今年的明前龙井到了，开汤看看叶底，清香扑鼻🍵", "#春茶 #龙井 #喝茶", 2),
    (2, 0, "新手爸妈必备清单，这几样真的省心", "#母婴好物 #育儿", 2),
    (3, 0, "桌面改造｜一个下午把工位变清爽", "#数码 #桌面改造", 2),
    (None, 0, "小个子158穿搭｜一周通勤不重样", "#穿搭 #小个子 #通勤", 3),
    (None, 1, "办公室喝茶指南：三款口粮茶横评", "#喝茶 #测评 #春茶", 3),
    (None, 2, "周末在家做早餐，顺手安利几件厨房小物", "#生活 #好物分享", 2),
    (None, 0, "夏日香氛与配饰，出门前的最后一步✨", "#穿搭 #夏日好物", 2),
]


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    products = list(ctx.get("products") or [])
    shops = list(ctx.get("shops") or [])
    creators = list(ctx.get("creators") or [])
    buyers = list(ctx.get("buyers") or [])
    if not products or not creators:
        return
    db.flush()
    rng = random.Random(20260618)
    owners = _shop_owners(db, ctx)
    by_shop: dict[int, list[Any]] = {}
    for product in products:
        by_shop.setdefault(product.shop_id, []).append(product)
    now = clock.now()
    published: list[Video] = []
    for index, (shop_index, creator_index, caption, tags, n_products) in enumerate(VIDEOS):
        shop = shops[shop_index] if shop_index is not None and shop_index < len(shops) else None
        if shop is not None and shop.id in owners:
            author_id, shop_id = owners[shop.id], shop.id
            pool = by_shop.get(shop.id, [])
        else:
            author_id, shop_id = creators[creator_index % len(creators)].id, None
            pool = products
        attached = rng.sample(pool, min(n_products, len(pool))) if pool else []
        at = now - timedelta(days=index * 0.7, minutes=rng.randint(0, 300))
        published.append(
            _publish(db, author_id, shop_id, caption, tags, [p.id for p in attached], at, index)
        )
    for video in published:
        _engage(db, rng, video, buyers)
    ctx["videos"] = published


def _shop_owners(db: Session, ctx: dict[str, Any]) -> dict[int, int]:
    owners: dict[int, int] = {}
    for user in ctx.get("merchants") or []:
        for shop_id, role in merchants_service.roles_of(db, user_id=user.id).items():
            if role == "owner":
                owners.setdefault(shop_id, user.id)
    return owners


def _publish(
    db: Session,
    author_id: int,
    shop_id: int | None,
    caption: str,
    tags: str,
    product_ids: list[int],
    at: Any,
    index: int,
) -> Video:
    clip = (ASSETS / CLIPS[index % len(CLIPS)]).read_bytes()
    staged = video_files.stage_bytes(clip)
    cover = media.save_image(video_files.placeholder_cover(f"demo-{index}"), folder="covers")
    tag_list = videos.parse_tags(tags)
    video = Video(
        author_id=author_id,
        shop_id=shop_id,
        caption=caption,
        tags=tag_list,
        status=VideoStatus.PUBLISHED,
        file_path=staged.store(),
        content_type=staged.content_type,
        size_bytes=staged.size,
        cover_path=cover.path,
        cover_thumb_path=cover.thumb_path,
        rank_base=int(at.timestamp()),
        rank_score=int(at.timestamp()),
        created_at=at,
        updated_at=at,
    )
    db.add(video)
    db.flush()
    videos.set_video_tags(db, video, tag_list)
    videos.set_video_products(db, video, product_ids)
    db.add(
        VideoEvent(
            video_id=video.id, actor_id=author_id, action="published", to_status="published", at=at
        )
    )
    return video


def _engage(db: Session, rng: random.Random, video: Video, buyers: list[Any]) -> None:
    """Likes from some demo buyers, and a few days of views, impressions and clicks."""
    fans = rng.sample(buyers, rng.randint(0, len(buyers))) if buyers else []
    db.add_all(VideoLike(video_id=video.id, user_id=fan.id, created_at=clock.now()) for fan in fans)
    views = rng.randint(40, 900)
    product_ids = [p.id for p in videos.video_products(db, video.id)]
    today = clock.today()
    impressions = clicks = 0
    for pid in product_ids:
        shown = int(views * rng.uniform(0.5, 0.9))
        tapped = int(shown * rng.uniform(0.03, 0.15))
        impressions += shown
        clicks += tapped
        db.add(
            VideoDailyStat(
                video_id=video.id,
                day=today,
                product_id=pid,
                impressions=shown,
                clicks=tapped,
                views=0,
            )
        )
    db.add(
        VideoDailyStat(
            video_id=video.id, day=today, product_id=0, views=views, impressions=0, clicks=0
        )
    )
    video.like_count = len(fans)
    video.view_count = views
    video.impression_count = impressions
    video.click_count = clicks
    video.rank_score = video.rank_base + metrics.boost_value(len(fans), views)

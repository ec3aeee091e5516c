"""Short videos through the service: posting rules, states, feed, metrics, likes."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.content.conftest import Scene, media_files, webm_bytes
from tests.factories import make_product
from xiaodian.catalog.models import ProductStatus
from xiaodian.content import feed, metrics, service, video_files, videos
from xiaodian.content.models import Video, VideoDailyStat, VideoEvent, VideoStatus
from xiaodian.errors import (
    IllegalTransition,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from xiaodian.orders import lifecycle as orders_lifecycle


def _count(db: Any, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- posting ------------------------------------------------------------------------------


def test_creator_posts_with_any_shops_products(scene: Scene, settings: Any) -> None:
    video = scene.post(
        scene.creator,
        caption="夏天的碎花裙子",
        tags="#穿搭 #夏日好物 #穿搭",
        product_ids=[scene.products[0].id, scene.other_product.id],
    )
    assert video.status == VideoStatus.PUBLISHED and video.shop_id is None
    assert video.tags == ["穿搭", "夏日好物"]
    assert (settings.media_dir / video.file_path).is_file()
    assert video.cover_path and (settings.media_dir / video.cover_path).is_file()
    got = feed.get_video(scene.db, scene.actor(scene.buyer), video.id)
    assert [p.id for p in got.products] == [scene.products[0].id, scene.other_product.id]
    assert got.author_name == "穿搭阿May" and got.shop_name is None
    events = scene.db.scalars(select(VideoEvent).where(VideoEvent.video_id == video.id)).all()
    assert [e.action for e in events] == ["published"]


def test_product_cards_show_only_what_the_sellability_policy_shows(scene: Scene) -> None:
    video = scene.post(scene.creator, product_ids=[scene.products[0].id, scene.other_product.id])
    scene.other_shop.is_active = False  # suspended: its product is not for sale
    scene.db.commit()
    got = feed.get_video(scene.db, scene.actor(scene.buyer), video.id)
    assert [p.id for p in got.products] == [scene.products[0].id]
    scene.other_shop.is_active = True
    scene.products[0].status = ProductStatus.OFF_SHELF
    scene.db.commit()
    got = feed.get_video(scene.db, scene.actor(scene.buyer), video.id)
    assert [p.id for p in got.products] == [scene.other_product.id]


def test_merchant_posts_for_own_shop_and_staff_too(scene: Scene) -> None:
    video = scene.post(scene.merchant, shop_id=scene.shop.id, product_ids=[scene.products[1].id])
    assert video.shop_id == scene.shop.id
    assert feed.get_video(scene.db, scene.actor(scene.buyer), video.id).by_line == "花间衣橱"
    by_staff = scene.post(scene.staff, shop_id=scene.shop.id)
    assert by_staff.shop_id == scene.shop.id


def test_merchant_cannot_attach_another_shops_product(scene: Scene, settings: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        scene.post(scene.merchant, shop_id=scene.shop.id, product_ids=[scene.other_product.id])
    assert caught.value.code == "product_not_in_shop"
    assert _count(scene.db, Video) == 0 and media_files(settings) == []


def test_stranger_cannot_post_for_a_shop(scene: Scene, settings: Any) -> None:
    with pytest.raises(NotFound):
        scene.post(scene.other_merchant, shop_id=scene.shop.id)
    assert media_files(settings) == []


def test_buyer_who_is_not_a_creator_cannot_post(scene: Scene, settings: Any) -> None:
    with pytest.raises(PermissionDenied):
        scene.post(scene.buyer)
    with pytest.raises(PermissionDenied):  # a merchant posting as themself, not their shop
        scene.post(scene.merchant)
    assert _count(scene.db, Video) == 0 and media_files(settings) == []


def test_anonymous_cannot_post(scene: Scene) -> None:
    from xiaodian.actor import ANONYMOUS

    with pytest.raises(NotAuthenticated):
        videos.create_video(scene.db, ANONYMOUS, video=video_files.stage_bytes(webm_bytes()))


@pytest.mark.parametrize("status", [ProductStatus.OFF_SHELF, ProductStatus.DRAFT])
def test_products_not_on_sale_cannot_be_attached(
    scene: Scene, settings: Any, status: ProductStatus
) -> None:
    hidden = make_product(scene.db, scene.shop, status=status)
    with pytest.raises(InvalidInput) as caught:
        scene.post(scene.creator, product_ids=[hidden.id])
    assert caught.value.code == "product_not_on_sale"
    with pytest.raises(InvalidInput):
        scene.post(scene.creator, product_ids=[999_999])
    assert _count(scene.db, Video) == 0 and media_files(settings) == []


def test_at_most_ten_products(scene: Scene) -> None:
    many = [make_product(scene.db, scene.shop) for _ in range(11)]
    with pytest.raises(InvalidInput) as caught:
        scene.post(scene.creator, product_ids=[p.id for p in many])
    assert caught.value.code == "too_many_products"
    video = scene.post(scene.creator, product_ids=[p.id for p in many[:10]])
    assert len(videos.video_products(scene.db, video.id)) == 10


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"caption": "好" * 201}, "caption_too_long"),
        ({"tags": "#a #b #c #d #e #f"}, "too_many_tags"),
        ({"tags": "#" + "长" * 21}, "tag_too_long"),
    ],
)
def test_caption_and_tags_are_checked(
    scene: Scene, settings: Any, kwargs: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        scene.post(scene.creator, **kwargs)
    assert caught.value.code == code
    assert _count(scene.db, Video) == 0 and media_files(settings) == []


def test_a_bad_cover_stores_nothing(scene: Scene, settings: Any) -> None:
    with pytest.raises(InvalidInput):
        scene.post(scene.creator, cover=b"not an image")
    assert _count(scene.db, Video) == 0 and media_files(settings) == []


def test_tags_are_normalised() -> None:
    assert videos.parse_tags("#Summer  #夏日！,好物、#ＡＢＣ") == ["summer", "夏日", "好物", "abc"]
    assert videos.parse_tags(["#穿搭", "穿搭", " "]) == ["穿搭"]
    assert videos.normalize_tag("#Hello World!") == "helloworld"


def test_product_refs_accept_ids_and_links() -> None:
    assert videos.parse_product_refs("12, /p/15 https://shop.example/p/7?x=1 12") == [12, 15, 7]
    with pytest.raises(InvalidInput):
        videos.parse_product_refs("twelve")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_first_frame_cover_when_ffmpeg_is_there(scene: Scene, monkeypatch: Any) -> None:
    monkeypatch.undo()  # the real first_frame
    frame = video_files.first_frame(video_files.stage_bytes(webm_bytes()).path)
    assert frame is not None and frame.startswith(b"\xff\xd8")


def test_placeholder_cover_without_ffmpeg(scene: Scene, monkeypatch: Any, settings: Any) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(video_files.shutil, "which", lambda name: None)
    video = scene.post(scene.creator)
    assert video.cover_path and (settings.media_dir / video.cover_path).is_file()


# --- editing, states, removal ---------------------------------------------------------------


def test_author_edits_hides_and_shows(scene: Scene) -> None:
    video = scene.post(scene.creator, caption="旧", product_ids=[scene.products[0].id])
    author = scene.actor(scene.creator)
    videos.update_video(
        scene.db,
        author,
        video.id,
        caption="新文案",
        tags=["测评"],
        product_ids=[scene.products[2].id],
    )
    got = feed.get_video(scene.db, author, video.id)
    assert got.caption == "新文案" and got.tags == ["测评"]
    assert [p.id for p in got.products] == [scene.products[2].id]
    videos.update_video(scene.db, author, video.id, hidden=True)
    assert feed.feed(scene.db, author).items == []
    with pytest.raises(NotFound):
        feed.get_video(scene.db, scene.actor(scene.buyer), video.id)
    assert feed.get_video(scene.db, author, video.id).status == VideoStatus.HIDDEN
    videos.update_video(scene.db, author, video.id, hidden=False)
    assert [v.id for v in feed.feed(scene.db, author).items] == [video.id]


def test_others_cannot_edit_or_delete(scene: Scene) -> None:
    video = scene.post(scene.creator)
    for user in (scene.buyer, scene.merchant, scene.operator):
        actor = scene.actor(user)
        with pytest.raises(NotFound):
            videos.update_video(scene.db, actor, video.id, caption="改掉")
        with pytest.raises(NotFound):
            videos.delete_video(scene.db, actor, video.id)
        with pytest.raises(NotFound):
            metrics.video_stats(scene.db, actor, video.id)
    with pytest.raises(NotFound):
        videos.update_video(scene.db, scene.actor(scene.creator), 999_999, caption="x")
    assert feed.get_video(scene.db, scene.actor(scene.buyer), video.id).caption == ""


def test_shop_staff_manage_the_shops_videos_but_other_shops_do_not(scene: Scene) -> None:
    video = scene.post(scene.merchant, shop_id=scene.shop.id)
    videos.update_video(scene.db, scene.actor(scene.staff), video.id, caption="店员改的")
    with pytest.raises(NotFound):
        videos.update_video(scene.db, scene.actor(scene.other_merchant), video.id, caption="x")


def test_delete_removes_row_and_files(scene: Scene, settings: Any) -> None:
    video = scene.post(scene.creator)
    assert media_files(settings)
    videos.delete_video(scene.db, scene.actor(scene.creator), video.id)
    assert _count(scene.db, Video) == 0
    assert media_files(settings) == []


def test_operator_removal(scene: Scene) -> None:
    video = scene.post(scene.creator, product_ids=[scene.products[0].id])
    other = scene.post(scene.creator)
    with pytest.raises(PermissionDenied):
        videos.remove_video(scene.db, scene.actor(scene.creator), video.id, reason="自删")
    with pytest.raises(InvalidInput):
        videos.remove_video(scene.db, scene.actor(scene.operator), video.id, reason="  ")
    with pytest.raises(NotFound):
        videos.remove_video(scene.db, scene.actor(scene.operator), 999_999, reason="违规")
    videos.remove_video(scene.db, scene.actor(scene.operator), video.id, reason="虚假宣传")
    buyer = scene.actor(scene.buyer)
    assert [v.id for v in feed.feed(scene.db, buyer).items] == [other.id]
    assert feed.videos_for_product(scene.db, scene.products[0].id) == []
    with pytest.raises(NotFound):
        feed.get_video(scene.db, buyer, video.id)
    author = scene.actor(scene.creator)
    row = feed.get_video(scene.db, author, video.id)
    assert row.status == VideoStatus.REMOVED
    with pytest.raises(IllegalTransition):
        videos.update_video(scene.db, author, video.id, hidden=False)
    with pytest.raises(IllegalTransition):
        videos.delete_video(scene.db, author, video.id)
    with pytest.raises(IllegalTransition):
        videos.remove_video(scene.db, scene.actor(scene.operator), video.id, reason="再删")
    history = videos.video_history(scene.db, author, video.id)
    assert [(e.action, e.note) for e in history] == [("published", None), ("remove", "虚假宣传")]
    assert history[-1].actor_id == scene.operator.id


# --- feed -------------------------------------------------------------------------------------


def test_feed_is_newest_first_and_pages_by_cursor(scene: Scene, clock: Any) -> None:
    posted = []
    for i in range(7):
        posted.append(scene.post(scene.creator, caption=f"第{i}条").id)
        clock.advance(minutes=5)
    buyer = scene.actor(scene.buyer)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = feed.feed(scene.db, buyer, cursor=cursor, limit=3)
        seen += [v.id for v in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(posted))
    # a video posted while paging does not shift later pages
    first = feed.feed(scene.db, buyer, limit=3)
    scene.post(scene.creator, caption="新来的")
    second = feed.feed(scene.db, buyer, cursor=first.next_cursor, limit=3)
    assert [v.id for v in second.items] == list(reversed(posted))[3:6]
    with pytest.raises(InvalidInput):
        feed.feed(scene.db, buyer, cursor="garbage")
    with pytest.raises(InvalidInput):
        feed.feed(scene.db, buyer, limit=0)


def test_engagement_boosts_a_little(scene: Scene, clock: Any, make_user: Any) -> None:
    fans = [make_user() for _ in range(4)]  # 4 likes = 40 minutes of boost
    older = scene.post(scene.creator, caption="老视频")
    clock.advance(minutes=30)
    newer = scene.post(scene.creator, caption="新视频")
    buyer = scene.actor(scene.buyer)
    assert [v.id for v in feed.feed(scene.db, buyer).items] == [newer.id, older.id]
    for fan in fans:
        metrics.set_like(scene.db, scene.actor(fan), older.id, liked=True)
    assert [v.id for v in feed.feed(scene.db, buyer).items] == [older.id, newer.id]
    # the boost is capped: a day-old video does not beat a fresh one on likes alone
    clock.advance(days=1)
    fresh = scene.post(scene.creator, caption="今天的")
    assert feed.feed(scene.db, buyer).items[0].id == fresh.id


def test_tag_and_author_filters(scene: Scene) -> None:
    tea = scene.post(scene.merchant, shop_id=scene.shop.id, tags="#春茶")
    dress = scene.post(scene.creator, tags="#穿搭 #春茶")
    buyer = scene.actor(scene.buyer)
    assert {v.id for v in feed.feed(scene.db, buyer, tag="#春茶").items} == {tea.id, dress.id}
    assert [v.id for v in feed.feed(scene.db, buyer, tag="穿搭").items] == [dress.id]
    assert feed.feed(scene.db, buyer, tag="没有").items == []
    assert [v.id for v in feed.feed(scene.db, buyer, shop_id=scene.shop.id).items] == [tea.id]
    assert [v.id for v in feed.feed(scene.db, buyer, author_id=scene.creator.id).items] == [
        dress.id
    ]


def test_off_shelf_products_leave_the_cards(scene: Scene) -> None:
    product = scene.products[0]
    video = scene.post(scene.creator, product_ids=[product.id, scene.products[1].id])
    product.status = ProductStatus.OFF_SHELF
    scene.db.commit()
    got = feed.get_video(scene.db, scene.actor(scene.buyer), video.id)
    assert [p.id for p in got.products] == [scene.products[1].id]


def test_videos_for_product(scene: Scene, clock: Any) -> None:
    target = scene.products[0]
    a = scene.post(scene.creator, product_ids=[target.id])
    clock.advance(minutes=1)
    b = scene.post(scene.merchant, shop_id=scene.shop.id, product_ids=[target.id])
    scene.post(scene.creator, product_ids=[scene.products[1].id])
    assert [v.id for v in feed.videos_for_product(scene.db, target.id)] == [b.id, a.id]
    assert [v.id for v in feed.videos_for_product(scene.db, target.id, limit=1)] == [b.id]
    assert feed.videos_for_product(scene.db, 999_999) == []


# --- likes and metrics -------------------------------------------------------------------------


def test_likes_toggle_once_per_person(scene: Scene) -> None:
    video = scene.post(scene.creator)
    buyer = scene.actor(scene.buyer)
    assert metrics.set_like(scene.db, buyer, video.id, liked=True) == (True, 1)
    assert metrics.set_like(scene.db, buyer, video.id, liked=True) == (True, 1)
    assert feed.get_video(scene.db, buyer, video.id).liked is True
    assert metrics.set_like(scene.db, scene.actor(scene.merchant), video.id, liked=True) == (
        True,
        2,
    )
    assert metrics.set_like(scene.db, buyer, video.id, liked=False) == (False, 1)
    assert metrics.set_like(scene.db, buyer, video.id, liked=False) == (False, 1)
    assert feed.get_video(scene.db, buyer, video.id).liked is False
    with pytest.raises(NotFound):
        metrics.set_like(scene.db, buyer, 999_999, liked=True)


def test_views_count_once_per_viewer_per_30_minutes(scene: Scene, clock: Any) -> None:
    video = scene.post(scene.creator)

    def view(viewer: str) -> bool:
        return metrics.record_event(scene.db, video_id=video.id, kind="view", viewer=viewer)

    assert view("u:1") is True
    assert view("u:1") is False
    clock.advance(minutes=29)
    assert view("u:1") is False
    assert view("c:other") is True
    clock.advance(minutes=2)  # 31 minutes after the first counted view
    assert view("u:1") is True
    scene.db.expire_all()
    assert scene.db.get(Video, video.id).view_count == 3
    rows = scene.db.scalars(select(VideoDailyStat)).all()
    assert sum(r.views for r in rows) == 3 and {r.product_id for r in rows} == {0}


def test_impressions_and_clicks_per_product(scene: Scene, clock: Any) -> None:
    p1, p2 = scene.products[0], scene.products[1]
    video = scene.post(scene.creator, product_ids=[p1.id, p2.id])

    def event(kind: str, product_id: int | None, viewer: str = "u:9") -> bool:
        return metrics.record_event(
            scene.db, video_id=video.id, kind=kind, viewer=viewer, product_id=product_id
        )

    assert event("impression", p1.id) and event("impression", p2.id)
    assert not event("impression", p1.id)  # an abusive repeat inside the short window
    assert event("click", p1.id) and not event("click", p1.id)
    assert event("impression", p1.id, viewer="u:10")
    clock.advance(minutes=2)
    assert event("click", p1.id)
    with pytest.raises(NotFound):
        event("click", scene.other_product.id)  # not on this video
    with pytest.raises(InvalidInput):
        event("click", None)
    with pytest.raises(InvalidInput):
        event("share", None)
    stats = metrics.video_stats(scene.db, scene.actor(scene.creator), video.id)
    by_product = {s.product_id: (s.impressions, s.clicks) for s in stats.products}
    assert by_product == {p1.id: (2, 2), p2.id: (1, 0)}
    assert stats.video.impression_count == 3 and stats.video.click_count == 2
    assert [(d.impressions, d.clicks) for d in stats.days] == [(3, 2)]


def test_daily_stats_use_the_shanghai_business_day(scene: Scene, clock: Any) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2026, 6, 18, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    video = scene.post(scene.creator)
    metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="a")
    clock.advance(hours=1)  # 00:30 the next day in Shanghai, still the 18th in UTC
    metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="b")
    days = metrics.video_stats(scene.db, scene.actor(scene.creator), video.id).days
    assert [(str(d.day), d.views) for d in days] == [("2026-06-19", 1), ("2026-06-18", 1)]


def test_events_on_hidden_or_unknown_videos_are_not_found(scene: Scene) -> None:
    video = scene.post(scene.creator)
    videos.update_video(scene.db, scene.actor(scene.creator), video.id, hidden=True)
    with pytest.raises(NotFound):
        metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="u:1")
    with pytest.raises(NotFound):
        metrics.record_event(scene.db, video_id=999_999, kind="view", viewer="u:1")


def test_purge_forgets_old_marks_only(scene: Scene, clock: Any) -> None:
    video = scene.post(scene.creator)
    metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="old")
    clock.advance(minutes=31)
    metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="new")
    assert metrics.purge_event_marks(scene.db) == 1
    assert metrics.purge_event_marks(scene.db) == 0
    assert not metrics.record_event(scene.db, video_id=video.id, kind="view", viewer="new")


# --- attribution -------------------------------------------------------------------------------


def test_attribute_video_only_when_it_features_the_product(scene: Scene) -> None:
    video = scene.post(scene.creator, product_ids=[scene.products[0].id])
    db = scene.db
    featured, other = [scene.products[0].id], [scene.products[1].id]
    assert service.attribute_video(db, video_id=video.id, product_ids=featured) == video.id
    assert service.attribute_video(db, video_id=video.id, product_ids=other) is None
    assert service.attribute_video(db, video_id=999_999, product_ids=featured) is None
    # checkout asks through the order lifecycle's channel checks
    assert orders_lifecycle.prove_channel(db, "video", video.id, [scene.products[1].id]) is None
    assert (
        orders_lifecycle.prove_channel(db, "video", video.id, [scene.products[0].id, 5]) == video.id
    )
    videos.update_video(db, scene.actor(scene.creator), video.id, hidden=True)
    assert service.attribute_video(db, video_id=video.id, product_ids=featured) is None

"""Captions with prohibited words publish and wait for operators: the moderation queue,
clearing a flag, removal and restore, through the service, the pages and the JSON API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.content.conftest import Scene
from xiaodian.actor import Actor
from xiaodian.content import feed, moderation, videos
from xiaodian.content.models import Video, VideoEvent, VideoStatus
from xiaodian.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)


def _fresh(db: Any, video_id: int) -> Video:
    video = db.scalar(
        select(Video).where(Video.id == video_id).execution_options(populate_existing=True)
    )
    db.commit()
    return video


def _events(db: Any, video_id: int) -> list[tuple[str, int | None, str | None]]:
    rows = db.execute(
        select(VideoEvent.action, VideoEvent.actor_id, VideoEvent.note)
        .where(VideoEvent.video_id == video_id)
        .order_by(VideoEvent.id)
    ).all()
    db.commit()
    return [tuple(r) for r in rows]


# --- service ------------------------------------------------------------------------------


def test_a_caption_with_prohibited_words_is_published_and_flagged(scene: Scene) -> None:
    flagged = scene.post(scene.creator, caption="我的第一个视频")
    clean = scene.post(scene.creator, caption="今日穿搭")
    assert flagged.status == VideoStatus.PUBLISHED
    assert flagged.screening_hits == ["第一"] and flagged.flagged is True
    assert clean.screening_hits == [] and clean.flagged is False
    page = feed.feed(scene.db, Actor(), limit=10)
    assert {v.id for v in page.items} == {flagged.id, clean.id}  # both are up
    assert moderation.count_flagged(scene.db, scene.actor(scene.operator)) == 1


def test_only_an_otherwise_invalid_caption_is_refused(scene: Scene) -> None:
    with pytest.raises(InvalidInput) as caught:
        scene.post(scene.creator, caption="第一" * 101)
    assert caught.value.code == "caption_too_long"
    assert scene.db.scalar(select(func.count()).select_from(Video)) == 0


def test_queue_filters_newest_first_with_hits_marked(scene: Scene, clock: Any) -> None:
    old = scene.post(scene.creator, caption="最好的裙子")
    clock.advance(seconds=5)
    scene.post(scene.creator, caption="普通的裙子")
    clock.advance(seconds=5)
    new = scene.post(scene.merchant, shop_id=scene.shop.id, caption="全网第一 好物")
    ops = scene.actor(scene.operator)
    queue = moderation.moderation_queue(scene.db, ops)
    assert queue.filter == "flagged" and [i.video.id for i in queue.items] == [new.id, old.id]
    assert queue.counts == {"flagged": 2, "all": 3, "removed": 0}
    top = queue.items[0]
    assert top.shop_name == "花间衣橱" and top.author_name == "花间店主"
    assert top.caption_parts == [("全网第一", True), (" 好物", False)]
    everything = moderation.moderation_queue(scene.db, ops, filter="all")
    assert len(everything.items) == 3 and everything.items[-1].video.id == old.id
    assert moderation.moderation_queue(scene.db, ops, filter="removed").items == []
    for bad in ("bogus", "FLAGGED"):
        with pytest.raises(InvalidInput):
            moderation.moderation_queue(scene.db, ops, filter=bad)
    with pytest.raises(InvalidInput):
        moderation.moderation_queue(scene.db, ops, page=0)
    # a page past the end shows the last one
    assert moderation.moderation_queue(scene.db, ops, page=99).page == 1


def test_clear_flag_marks_reviewed_once(scene: Scene) -> None:
    video = scene.post(scene.creator, caption="第一个视频")
    ops = scene.actor(scene.operator)
    moderation.clear_flag(scene.db, ops, video.id)
    fresh = _fresh(scene.db, video.id)
    assert fresh.flagged is False and fresh.status == VideoStatus.PUBLISHED
    assert fresh.screening_hits == ["第一"]  # kept for the record
    assert _events(scene.db, video.id)[-1] == ("reviewed", scene.operator.id, "第一")
    with pytest.raises(Conflict):
        moderation.clear_flag(scene.db, ops, video.id)
    with pytest.raises(NotFound):
        moderation.clear_flag(scene.db, ops, 999_999)
    assert moderation.moderation_queue(scene.db, ops).items == []


def test_remove_settles_the_flag_and_restore_undoes_it(scene: Scene) -> None:
    video = scene.post(scene.creator, caption="最佳单品")
    ops = scene.actor(scene.operator)
    videos.remove_video(scene.db, ops, video.id, reason="夸大宣传")
    removed = _fresh(scene.db, video.id)
    assert removed.status == VideoStatus.REMOVED and removed.flagged is False
    queue = moderation.moderation_queue(scene.db, ops, filter="removed")
    assert [i.video.id for i in queue.items] == [video.id]
    with pytest.raises(InvalidInput):
        moderation.restore_video(scene.db, ops, video.id, note="长" * 201)
    moderation.restore_video(scene.db, ops, video.id, note="申诉通过")
    restored = _fresh(scene.db, video.id)
    assert restored.status == VideoStatus.PUBLISHED
    assert (restored.removed_reason, restored.removed_at, restored.removed_by_id) == (None,) * 3
    actions = _events(scene.db, video.id)
    assert actions[-2] == ("remove", scene.operator.id, "夸大宣传")
    assert actions[-1] == ("restore", scene.operator.id, "申诉通过")
    assert video.id in {v.id for v in feed.feed(scene.db, Actor(), limit=10).items}
    with pytest.raises(IllegalTransition):
        moderation.restore_video(scene.db, ops, video.id)  # not removed
    with pytest.raises(NotFound):
        moderation.restore_video(scene.db, ops, 999_999)


def test_a_changed_caption_is_screened_again(scene: Scene) -> None:
    video = scene.post(scene.creator, caption="第一个视频")
    author = scene.actor(scene.creator)
    ops = scene.actor(scene.operator)
    moderation.clear_flag(scene.db, ops, video.id)
    videos.update_video(scene.db, author, video.id, caption="第一个视频", tags="#日常")
    assert _fresh(scene.db, video.id).flagged is False  # same caption: stays reviewed
    videos.update_video(scene.db, author, video.id, caption="唯一的好裙子")
    changed = _fresh(scene.db, video.id)
    assert changed.flagged is True and changed.screening_hits == ["唯一"]
    videos.update_video(scene.db, author, video.id, caption="好裙子")
    clean = _fresh(scene.db, video.id)
    assert clean.flagged is False and clean.screening_hits == []


@pytest.mark.parametrize("who", ["anonymous", "buyer", "creator", "merchant"])
def test_moderation_is_for_operators_only(scene: Scene, who: str) -> None:
    video = scene.post(scene.creator, caption="第一个视频")
    actor = Actor() if who == "anonymous" else scene.actor(getattr(scene, who))
    error = NotAuthenticated if who == "anonymous" else PermissionDenied
    calls = [
        lambda: moderation.moderation_queue(scene.db, actor),
        lambda: moderation.count_flagged(scene.db, actor),
        lambda: moderation.clear_flag(scene.db, actor, video.id),
        lambda: moderation.restore_video(scene.db, actor, video.id),
    ]
    for call in calls:
        with pytest.raises(error):
            call()
    assert _fresh(scene.db, video.id).flagged is True


# --- pages ----------------------------------------------------------------------------------


def test_operator_pages(scene: Scene, login_client: Any, client: Any) -> None:
    video = scene.post(scene.creator, caption="全网第一的裙子")
    r = client.get("/ops/videos", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    buyer = login_client(scene.buyer)
    assert buyer.get("/ops/videos").status_code == 403
    token = buyer.cookies.get("xd_csrf")
    r = buyer.post(f"/ops/videos/{video.id}/clear-flag", data={"csrf_token": token})
    assert r.status_code == 403
    ops = login_client(scene.operator)
    page = ops.get("/ops/videos", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "<mark>全网第一</mark>的裙子" in page.text
    assert f'src="/media/{video.file_path}"' in page.text and "<video" in page.text
    assert 'href="/ops/videos"' in page.text  # the console's nav
    assert ops.get("/ops/videos?filter=bogus").status_code == 422
    assert ops.get("/ops/videos?page=0").status_code == 422
    token = ops.cookies.get("xd_csrf")
    form = {"csrf_token": token, "filter": "flagged", "page": "1"}
    r = ops.post(
        f"/ops/videos/{video.id}/remove",
        data={**form, "reason": "  "},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422 and "Please give a reason." in r.text
    r = ops.post("/ops/videos/999999/clear-flag", data=form)
    assert r.status_code == 404
    r = ops.post(f"/ops/videos/{video.id}/clear-flag", data=form, follow_redirects=False)
    assert (
        r.status_code == 303
        and r.headers["location"] == "/ops/videos?filter=flagged&page=1&done=reviewed"
    )
    r = ops.post(f"/ops/videos/{video.id}/clear-flag", data=form)
    assert r.status_code == 409
    r = ops.post(
        f"/ops/videos/{video.id}/remove",
        data={**form, "filter": "all", "reason": "虚假宣传"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    removed = ops.get("/ops/videos?filter=removed")
    assert "虚假宣传" in removed.text and f"/ops/videos/{video.id}/restore" in removed.text
    assert client.get(f"/videos/{video.id}").status_code == 404
    r = ops.post(
        f"/ops/videos/{video.id}/restore",
        data={**form, "filter": "removed"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get(f"/videos/{video.id}").status_code == 200


# --- JSON API -------------------------------------------------------------------------------


def test_api_queue_restore_and_clear_flag(scene: Scene, api_client: Any, client: Any) -> None:
    video = scene.post(scene.creator, caption="第一个视频")
    scene.post(scene.creator, caption="日常")
    assert client.get("/api/v1/ops/videos").status_code == 401
    assert api_client(scene.creator).get("/api/v1/ops/videos").status_code == 403
    ops = api_client(scene.operator)
    body = ops.get("/api/v1/ops/videos").json()
    assert body["counts"] == {"flagged": 1, "all": 2, "removed": 0}
    [item] = body["items"]
    assert item["id"] == video.id and item["screening_hits"] == ["第一"] and item["flagged"]
    assert item["author"]["name"] == "穿搭阿May" and item["video_url"].startswith("/media/")
    assert len(ops.get("/api/v1/ops/videos", params={"filter": "all"}).json()["items"]) == 2
    for params in ({"filter": "bogus"}, {"page": 0}, {"page": "x"}):
        assert ops.get("/api/v1/ops/videos", params=params).status_code == 422
    base = f"/api/v1/ops/videos/{video.id}"
    assert api_client(scene.creator).post(f"{base}/clear-flag").status_code == 403
    assert ops.post("/api/v1/ops/videos/999999/clear-flag").status_code == 404
    r = ops.post(f"{base}/clear-flag")
    assert r.status_code == 200 and r.json()["flagged"] is False
    assert ops.post(f"{base}/clear-flag").status_code == 409
    assert ops.post(f"{base}/restore").status_code == 409  # not removed
    assert ops.post(f"{base}/remove", json={"reason": "违规"}).status_code == 200
    assert api_client(scene.creator).post(f"{base}/restore").status_code == 403
    assert ops.post(f"{base}/restore", json={"note": 5}).status_code == 422
    r = ops.post(f"{base}/restore", json={"note": "复核通过"})
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert r.json()["removed_reason"] is None
    assert client.get(f"/api/v1/videos/{video.id}").status_code == 200


def test_api_queue_queries_do_not_grow_with_the_page(
    scene: Scene, api_client: Any, count_queries: Any
) -> None:
    ops = api_client(scene.operator)

    def post(n: int) -> None:
        for i in range(n):
            scene.post(
                scene.creator if i % 2 else scene.merchant,
                shop_id=None if i % 2 else scene.shop.id,
                caption=f"第一名 {i}",
            )

    def selects(statement: str) -> bool:
        return statement.startswith("SELECT")

    post(2)
    with count_queries(only=selects) as few:
        assert len(ops.get("/api/v1/ops/videos").json()["items"]) == 2
    post(8)
    with count_queries(only=selects) as many:
        assert len(ops.get("/api/v1/ops/videos").json()["items"]) == 10
    assert many.count == few.count, many.statements

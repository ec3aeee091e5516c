"""Short videos over HTTP: the JSON API, the feed pages, the studio and the shop console."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.content.conftest import Scene, media_files, mp4_bytes, webm_bytes
from tests.factories import make_product
from xiaodian.catalog.models import ProductStatus
from xiaodian.content.models import Video


def _rows(db: Any) -> int:
    """Videos in the database. Ends the read with a commit (which, unlike a rollback, keeps
    the test's objects loaded), so the app's writers are not kept waiting."""
    db.commit()
    count = db.scalar(select(func.count()).select_from(Video)) or 0
    db.commit()
    return count


def _read(db: Any, query: Any) -> Any:
    db.commit()
    value = db.scalar(query)
    db.commit()
    return value


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 64), (200, 80, 80)).save(out, "PNG")
    return out.getvalue()


def _upload(
    client: Any, data: bytes, name: str = "clip.mp4", ctype: str = "video/mp4", **fields: Any
) -> Any:
    return client.post("/api/v1/videos", files={"file": (name, data, ctype)}, data=fields)


# --- upload ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "ctype", "expected"),
    [
        (mp4_bytes(), "clip.mp4", "video/mp4", "video/mp4"),
        (webm_bytes(), "clip.webm", "video/webm", "video/webm"),
        # the name and the client's type do not matter, the content does
        (webm_bytes(), "clip.mp4", "application/octet-stream", "video/webm"),
    ],
)
def test_upload_real_clips(
    scene: Scene,
    api_client: Any,
    settings: Any,
    data: bytes,
    name: str,
    ctype: str,
    expected: str,
) -> None:
    client = api_client(scene.creator)
    r = _upload(
        client,
        data,
        name,
        ctype,
        caption="新品开箱",
        tags="#开箱 #好物",
        product_ids=f"{scene.products[0].id}, /p/{scene.other_product.id}",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == expected and body["status"] == "published"
    assert body["tags"] == ["开箱", "好物"]
    assert [p["id"] for p in body["products"]] == [scene.products[0].id, scene.other_product.id]
    assert body["video_url"].endswith(".webm" if expected == "video/webm" else ".mp4")
    assert body["author"] == {"id": scene.creator.id, "name": "穿搭阿May"}
    stored = settings.media_dir / body["video_url"].removeprefix("/media/")
    assert stored.read_bytes() == data
    assert not any(p.suffix == ".part" for p in media_files(settings))


def test_upload_with_a_cover_image(scene: Scene, api_client: Any) -> None:
    client = api_client(scene.creator)
    r = client.post(
        "/api/v1/videos",
        files={
            "file": ("a.webm", webm_bytes(), "video/webm"),
            "cover": ("c.png", _png(), "image/png"),
        },
    )
    assert r.status_code == 201, r.text
    assert client.get(r.json()["cover_url"]).status_code == 200


@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (b"this is a text file renamed\n" * 50, "clip.mp4", "video/mp4"),
        (_png(), "clip.webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x" + b"\x00" * 64, "clip.webm", "video/webm"),
    ],
    ids=["renamed-text", "image", "bad-ebml"],
)
def test_fake_videos_are_refused_and_nothing_is_written(
    scene: Scene, api_client: Any, settings: Any, db: Any, data: bytes, name: str, ctype: str
) -> None:
    r = _upload(api_client(scene.creator), data, name, ctype, caption="假的")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "not_a_video"
    assert _rows(db) == 0 and media_files(settings) == []


def test_an_mp4_carrying_an_executable_is_refused(
    scene: Scene, api_client: Any, settings: Any, db: Any
) -> None:
    """Its first bytes are a real clip's: the rest must be the container too."""
    executable = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 64
    client = api_client(scene.creator)
    r = client.post(
        "/api/v1/videos",
        files={"file": ("clip.mp4", mp4_bytes() + executable, "video/mp4")},
        data={"caption": "新品"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "not_a_video",
        "message": "视频文件已损坏，或不是完整的 MP4 或 WebM 文件。",
    }
    assert _rows(db) == 0 and media_files(settings) == []


def test_media_is_served_as_what_it_is_and_never_sniffed(
    scene: Scene, api_client: Any, client: Any
) -> None:
    r = api_client(scene.creator).post(
        "/api/v1/videos",
        files={
            "file": ("a.mp4", mp4_bytes(), "video/mp4"),
            "cover": ("c.png", _png(), "image/png"),
        },
    )
    assert r.status_code == 201, r.text
    for url, kind in ((r.json()["video_url"], "video/mp4"), (r.json()["cover_url"], "image/")):
        served = client.get(url)
        assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
        assert served.headers["x-content-type-options"] == "nosniff"
    ranged = client.get(r.json()["video_url"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.headers["x-content-type-options"] == "nosniff"
    missing = client.get("/media/videos/2026/06/none.mp4")
    assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"


def test_oversized_upload_is_413_and_nothing_is_written(
    scene: Scene, api_client: Any, settings: Any, db: Any
) -> None:
    big = mp4_bytes() + b"\x00" * settings.max_video_bytes
    r = _upload(api_client(scene.creator), big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert _rows(db) == 0 and media_files(settings) == []


def test_bad_fields_after_a_good_file_leave_no_file(
    scene: Scene, api_client: Any, settings: Any, db: Any
) -> None:
    client = api_client(scene.creator)
    off = make_product(db, scene.shop, status=ProductStatus.OFF_SHELF)
    r = _upload(client, mp4_bytes(), product_ids=str(off.id))
    assert r.status_code == 422 and r.json()["error"]["code"] == "product_not_on_sale"
    r = _upload(client, mp4_bytes(), product_ids="not-a-product")
    assert r.status_code == 422
    r = client.post(
        "/api/v1/videos",
        files={"file": ("a.mp4", mp4_bytes(), "video/mp4"), "cover": ("c.png", b"xx", "image/png")},
    )
    assert r.status_code == 422
    assert _rows(db) == 0 and media_files(settings) == []


def test_upload_permissions(
    scene: Scene, api_client: Any, client: Any, settings: Any, db: Any
) -> None:
    client.get("/videos")
    anonymous = _upload(client, mp4_bytes(), csrf_token=client.cookies.get("xd_csrf"))
    assert anonymous.status_code == 401
    assert _upload(api_client(scene.buyer), mp4_bytes()).status_code == 403
    r = _upload(api_client(scene.other_merchant), mp4_bytes(), shop_id=str(scene.shop.id))
    assert r.status_code == 404
    r = _upload(
        api_client(scene.merchant),
        mp4_bytes(),
        shop_id=str(scene.shop.id),
        product_ids=str(scene.other_product.id),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "product_not_in_shop"
    assert _rows(db) == 0 and media_files(settings) == []
    r = _upload(
        api_client(scene.staff),
        mp4_bytes(),
        shop_id=str(scene.shop.id),
        product_ids=str(scene.products[0].id),
    )
    assert r.status_code == 201 and r.json()["shop"] == {"id": scene.shop.id, "name": "花间衣橱"}


def test_cookie_upload_needs_the_csrf_token(scene: Scene, login_client: Any, db: Any) -> None:
    browser = login_client(scene.creator)
    assert _upload(browser, mp4_bytes()).status_code == 403
    ok = _upload(browser, mp4_bytes(), csrf_token=browser.cookies.get("xd_csrf"))
    assert ok.status_code == 201


# --- changes by others, removal ------------------------------------------------------------


def test_others_get_404_on_changes(scene: Scene, api_client: Any) -> None:
    video = scene.post(scene.creator, caption="我的")
    stranger = api_client(scene.merchant)
    url = f"/api/v1/videos/{video.id}"
    assert stranger.patch(url, json={"caption": "改"}).status_code == 404
    assert stranger.delete(url).status_code == 404
    assert stranger.get(url + "/stats").status_code == 404
    author = api_client(scene.creator)
    r = author.patch(url, json={"caption": "改好了", "tags": ["测评"], "hidden": True})
    assert r.status_code == 200 and r.json()["status"] == "hidden"
    assert stranger.get(url).status_code == 404
    assert author.patch(url, json={"product_ids": [999_999]}).status_code == 422
    assert author.patch("/api/v1/videos/999999", json={"caption": "x"}).status_code == 404
    assert author.delete(url).status_code == 204
    assert author.get(url).status_code == 404


def test_operator_removes_with_a_reason(scene: Scene, api_client: Any, client: Any) -> None:
    video = scene.post(scene.creator, caption="违规视频")
    url = f"/api/v1/ops/videos/{video.id}/remove"
    assert api_client(scene.creator).post(url, json={"reason": "x"}).status_code == 403
    assert client.post(url, json={"reason": "x"}).status_code == 401
    ops = api_client(scene.operator)
    assert ops.post(url, json={"reason": ""}).status_code == 422
    assert ops.post("/api/v1/ops/videos/999999/remove", json={"reason": "x"}).status_code == 404
    r = ops.post(url, json={"reason": "含有虚假宣传"})
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert ops.post(url, json={"reason": "again"}).status_code == 409
    assert client.get("/api/v1/videos").json()["items"] == []
    assert client.get(f"/api/v1/videos/{video.id}").status_code == 404
    mine = api_client(scene.creator).get("/api/v1/me/videos").json()
    assert mine[0]["status"] == "removed" and mine[0]["removed_reason"] == "含有虚假宣传"
    assert (
        api_client(scene.creator)
        .patch(f"/api/v1/videos/{video.id}", json={"hidden": False})
        .status_code
        == 409
    )


# --- feed, likes, events, stats -------------------------------------------------------------


def test_feed_api_pages_and_filters(scene: Scene, client: Any, clock: Any) -> None:
    ids = []
    for i in range(5):
        ids.append(scene.post(scene.creator, caption=f"第{i}条", tags="#日常").id)
        clock.advance(minutes=1)
    first = client.get("/api/v1/videos", params={"limit": 2}).json()
    assert [v["id"] for v in first["items"]] == ids[::-1][:2]
    second = client.get(
        "/api/v1/videos", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [v["id"] for v in second["items"]] == ids[::-1][2:4]
    assert second["items"][0]["cursor"] and second["next_cursor"]
    assert len(client.get("/api/v1/videos", params={"tag": "日常"}).json()["items"]) == 5
    assert client.get("/api/v1/videos", params={"tag": "别的"}).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert client.get("/api/v1/videos", params={"cursor": "nope"}).status_code == 422
    assert client.get("/api/v1/videos", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/videos", params={"limit": "many"}).status_code == 422


def test_likes_over_the_api(scene: Scene, api_client: Any, client: Any) -> None:
    video = scene.post(scene.creator)
    url = f"/api/v1/videos/{video.id}/like"
    assert client.post(url, json={}).status_code == 401
    buyer = api_client(scene.buyer)
    assert buyer.post(url).json() == {"liked": True, "like_count": 1}
    assert buyer.post(url).json() == {"liked": True, "like_count": 1}
    assert buyer.get(f"/api/v1/videos/{video.id}").json()["liked"] is True
    assert buyer.delete(url).json() == {"liked": False, "like_count": 0}
    assert buyer.post("/api/v1/videos/999999/like").status_code == 404


def test_event_beacons_are_json_only_and_deduplicated(
    scene: Scene, client: Any, api_client: Any, clock: Any
) -> None:
    p = scene.products[0]
    video = scene.post(scene.creator, product_ids=[p.id])
    url = f"/api/v1/videos/{video.id}/events"
    client.get("/videos")  # the page hands out the anonymous viewer cookie
    assert client.cookies.get("xd_vid")
    assert client.post(url, json={"type": "view"}).json() == {"counted": True}
    assert client.post(url, json={"type": "view"}).json() == {"counted": False}
    assert client.post(url, json={"type": "impression", "product_id": p.id}).json()["counted"]
    assert client.post(url, json={"type": "click", "product_id": p.id}).json()["counted"]
    # a form post with cookies is a cross-site risk: refused by CSRF, nothing counted
    r = client.post(url, data={"type": "view"})
    assert r.status_code == 403
    r = client.post(url, content=b'{"type": "view"}', headers={"content-type": "text/plain"})
    assert r.status_code in (403, 422)
    assert client.post(url, json={"type": "share"}).status_code == 422
    assert client.post(url, json={"type": "click"}).status_code == 422
    assert (
        client.post(url, json={"type": "click", "product_id": scene.other_product.id}).status_code
        == 404
    )
    assert client.post("/api/v1/videos/999999/events", json={"type": "view"}).status_code == 404
    # a signed-in viewer is another viewer
    assert api_client(scene.buyer).post(url, json={"type": "view"}).json()["counted"]
    clock.advance(minutes=31)
    assert client.post(url, json={"type": "view"}).json()["counted"]
    stats = api_client(scene.creator).get(f"/api/v1/videos/{video.id}/stats").json()
    assert stats["video"]["view_count"] == 3
    assert stats["products"] == [
        {"product_id": p.id, "title": p.title, "impressions": 1, "clicks": 1, "click_rate": 1.0}
    ]
    assert sum(d["views"] for d in stats["days"]) == 3


def test_product_videos_api(scene: Scene, client: Any) -> None:
    target = scene.products[1]
    video = scene.post(scene.creator, product_ids=[target.id], caption="上身效果")
    scene.post(scene.creator, product_ids=[scene.products[0].id])
    r = client.get(f"/api/v1/products/{target.id}/videos")
    assert [v["id"] for v in r.json()] == [video.id]
    assert client.get("/api/v1/products/999999/videos").json() == []
    assert client.get(f"/api/v1/products/{target.id}/videos?limit=99").status_code == 422


def test_feed_api_query_count_is_constant(
    scene: Scene, api_client: Any, count_queries: Any, clock: Any
) -> None:
    buyer = api_client(scene.buyer)

    def post(n: int) -> None:
        for i in range(n):
            scene.post(
                scene.creator if i % 2 else scene.merchant,
                shop_id=None if i % 2 else scene.shop.id,
                product_ids=[scene.products[i % 3].id, scene.products[(i + 1) % 3].id],
                tags="#日常",
            )
            clock.advance(seconds=1)
        scene.db.commit()

    post(5)
    with count_queries() as few:
        r = buyer.get("/api/v1/videos", params={"limit": 30})
    assert len(r.json()["items"]) == 5
    post(15)
    with count_queries() as many:
        r = buyer.get("/api/v1/videos", params={"limit": 30})
    assert len(r.json()["items"]) == 20
    assert many.count == few.count, many.statements


# --- pages ----------------------------------------------------------------------------------


def test_feed_pages(scene: Scene, client: Any, clock: Any) -> None:
    first = scene.post(
        scene.creator, caption="开箱视频来了", tags="#开箱", product_ids=[scene.products[0].id]
    )
    clock.advance(minutes=1)
    second = scene.post(scene.merchant, shop_id=scene.shop.id, caption="店铺上新")
    page = client.get("/videos")
    assert page.status_code == 200
    html = page.text
    assert "开箱视频来了" in html and "店铺上新" in html and "碎花连衣裙0" in html
    assert html.index("店铺上新") < html.index("开箱视频来了")
    assert f'data-id="{first.id}"' in html and "/api/v1/videos/" in html
    # a shared link opens the feed at that video and goes on with the ones after it
    shared = client.get(f"/videos/{first.id}").text
    assert f'data-id="{first.id}"' in shared and f'data-id="{second.id}"' not in shared
    assert 'property="og:title"' in shared
    tag = client.get("/videos/tag/开箱")
    assert tag.status_code == 200 and "开箱视频来了" in tag.text and "店铺上新" not in tag.text
    assert client.get("/videos/999999").status_code == 404
    assert "No videos here yet" in client.get("/videos/tag/nothing").text or (
        "还没有视频" in client.get("/videos/tag/nothing").text
    )


def test_studio_pages_and_html_upload(
    scene: Scene, login_client: Any, client: Any, settings: Any, db: Any
) -> None:
    assert client.get("/studio/videos", follow_redirects=False).status_code == 303
    browser = login_client(scene.creator)
    assert browser.get("/studio/videos/new").status_code == 200
    token = browser.cookies.get("xd_csrf")
    bad = browser.post(
        "/studio/videos/new",
        data={"csrf_token": token, "caption": "全网" + "好" * 200},
        files={"file": ("a.mp4", mp4_bytes(), "video/mp4")},
    )
    assert bad.status_code == 422 and "全网好好" in bad.text  # the form keeps the caption
    assert _rows(db) == 0 and media_files(settings) == []
    r = browser.post(
        "/studio/videos/new",
        data={
            "csrf_token": token,
            "caption": "今日穿搭",
            "tags": "#穿搭",
            "product_refs": f"/p/{scene.other_product.id}",
        },
        files={"file": ("a.webm", webm_bytes(), "video/webm")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    listing = browser.get("/studio/videos")
    assert "今日穿搭" in listing.text
    video_id = _read(db, select(Video.id))
    edit = browser.get(f"/studio/videos/{video_id}")
    assert edit.status_code == 200 and "明前龙井" in edit.text
    r = browser.post(
        f"/studio/videos/{video_id}",
        data={
            "csrf_token": token,
            "caption": "改过的文案",
            "tags": "#穿搭 #夏天",
            "product_refs": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = browser.post(
        f"/studio/videos/{video_id}/visibility",
        data={"csrf_token": token, "hidden": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    video = _read(db, select(Video).where(Video.id == video_id))
    assert video.caption == "改过的文案" and video.status.value == "hidden"
    assert login_client(scene.buyer).get(f"/studio/videos/{video_id}").status_code == 404
    r = browser.post(
        f"/studio/videos/{video_id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and _rows(db) == 0


def test_buyer_sees_that_only_creators_may_post(scene: Scene, login_client: Any) -> None:
    r = login_client(scene.buyer).get("/studio/videos/new")
    assert r.status_code == 403


def test_merchant_console_content_page(scene: Scene, login_client: Any, db: Any) -> None:
    browser = login_client(scene.merchant)
    page = browser.get(f"/merchant/shops/{scene.shop.id}/content")
    assert page.status_code == 200 and "/content/videos/new" in page.text
    form = browser.get(f"/merchant/shops/{scene.shop.id}/content/videos/new")
    assert form.status_code == 200 and "碎花连衣裙1" in form.text and "明前龙井" not in form.text
    r = browser.post(
        f"/merchant/shops/{scene.shop.id}/content/videos/new",
        data={
            "csrf_token": browser.cookies.get("xd_csrf"),
            "caption": "店铺新品",
            "products": [str(scene.products[1].id)],
        },
        files={"file": ("a.mp4", mp4_bytes(), "video/mp4")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "店铺新品" in browser.get(f"/merchant/shops/{scene.shop.id}/content").text
    assert _read(db, select(Video.shop_id)) == scene.shop.id
    stranger = login_client(scene.other_merchant)
    assert stranger.get(f"/merchant/shops/{scene.shop.id}/content").status_code == 404
    assert stranger.get(f"/merchant/shops/{scene.shop.id}/content/videos/new").status_code == 404

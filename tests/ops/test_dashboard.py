"""The /ops dashboard: a card per queue, each count from its domain's service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.catalog import review as catalog_review
from xiaodian.catalog.models import ProductStatus
from xiaodian.content import video_files
from xiaodian.content import videos as content_videos
from xiaodian.errors import NotAuthenticated, PermissionDenied

CLIP = Path(__file__).resolve().parents[2] / "src" / "xiaodian" / "seed" / "assets" / "sample1.mp4"
CARDS = ("review", "arbitration", "flagged-videos", "refused-notifications", "failed-refunds")


@pytest.fixture(autouse=True)
def _no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_files, "first_frame", lambda path: None)


def _card(html: str, name: str) -> int:
    start = html.index(f'data-count="{name}"')
    bold = html.index("<b>", start) + 3
    return int(html[bold : html.index("</b>", bold)])


def _post_video(db: Any, user: Any, caption: str) -> None:
    actor = accounts_service.actor_for_user(db, accounts_service.get(db, user.id))
    staged = video_files.stage_bytes(CLIP.read_bytes())
    content_videos.create_video(db, actor, video=staged, caption=caption)


def test_cards_count_what_waits(
    db: Any, make_user: Any, login_client: Any, client: Any, settings: Any
) -> None:
    operator = make_user(operator=True)
    ops = login_client(operator)
    empty = ops.get("/ops", headers={"Accept-Language": "en"})
    assert empty.status_code == 200
    assert [_card(empty.text, c) for c in CARDS] == [0, 0, 0, 0, 0]
    for href in ("/ops/videos?filter=flagged", "/ops/payments/refunds", "/ops/arbitration"):
        assert f'href="{href}"' in empty.text

    shop = make_shop(db, make_user())
    for _ in range(2):
        make_product(db, shop, status=ProductStatus.UNDER_REVIEW)
    make_product(db, shop)  # on sale: not waiting
    creator = make_user(creator=True)
    _post_video(db, creator, "全网第一的好物")
    _post_video(db, creator, "日常穿搭")
    r = client.post(
        "/api/v1/payments/notify",
        content=b'{"id": "EV-forged"}',
        headers={"Content-Type": "application/json", "Wechatpay-Serial": "forged"},
    )
    assert r.status_code in (400, 401)
    db.commit()

    dash = ops.get("/ops")
    assert _card(dash.text, "review") == 2
    assert _card(dash.text, "flagged-videos") == 1
    assert _card(dash.text, "refused-notifications") == 1
    assert _card(dash.text, "arbitration") == 0 and _card(dash.text, "failed-refunds") == 0


def test_dashboard_is_for_operators_only(db: Any, make_user: Any, login_client: Any) -> None:
    buyer = login_client(make_user())
    assert buyer.get("/ops").status_code == 403
    for call in (catalog_review.count_review_queue,):
        with pytest.raises(NotAuthenticated):
            call(db, Actor())
        with pytest.raises(PermissionDenied):
            call(db, Actor(user_id=1))

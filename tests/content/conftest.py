"""Short-video fixtures: real sample clips, a creator, a shop with products, a stranger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_product, make_shop
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.content import video_files, videos

ASSETS = Path(__file__).resolve().parents[2] / "src" / "xiaodian" / "seed" / "assets"


def mp4_bytes() -> bytes:
    return (ASSETS / "sample1.mp4").read_bytes()


def webm_bytes() -> bytes:
    return (ASSETS / "sample2.webm").read_bytes()


@pytest.fixture(autouse=True)
def _no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Covers are placeholders unless a test asks for ffmpeg (fast, and the same everywhere)."""
    monkeypatch.setattr(video_files, "first_frame", lambda path: None)


@dataclass
class Scene:
    db: Any
    creator: Any
    merchant: Any
    staff: Any
    shop: Any
    products: list[Any]
    other_merchant: Any
    other_shop: Any
    other_product: Any
    buyer: Any
    operator: Any

    def actor(self, user: Any) -> Actor:
        fresh = accounts_service.get(self.db, user.id)
        actor = accounts_service.actor_for_user(self.db, fresh)
        self.db.commit()  # ends the read; unlike rollback it keeps objects loaded
        return actor

    def post(self, user: Any, *, data: bytes | None = None, **kwargs: Any) -> Any:
        """Publish a video through the service (placeholder cover)."""
        staged = video_files.stage_bytes(data if data is not None else mp4_bytes())
        return videos.create_video(self.db, self.actor(user), video=staged, **kwargs)


@pytest.fixture
def scene(db: Any, make_user: Any) -> Scene:
    creator = make_user(display_name="穿搭阿May", creator=True)
    merchant = make_user(display_name="花间店主")
    staff = make_user(display_name="花间店员")
    other_merchant = make_user(display_name="茶铺店主")
    buyer = make_user(display_name="小王")
    operator = make_user(display_name="运营", operator=True)
    shop = make_shop(db, merchant, name="花间衣橱", staff=staff)
    other_shop = make_shop(db, other_merchant, name="山野茶铺")
    products = [
        make_product(db, shop, title=f"碎花连衣裙{i}", skus=[("S", 12900, 10), ("M", 12900, 5)])
        for i in range(3)
    ]
    other_product = make_product(db, other_shop, title="明前龙井", skus=[("100g", 6800, 20)])
    return Scene(
        db=db,
        creator=creator,
        merchant=merchant,
        staff=staff,
        shop=shop,
        products=products,
        other_merchant=other_merchant,
        other_shop=other_shop,
        other_product=other_product,
        buyer=buyer,
        operator=operator,
    )


def media_files(settings: Any) -> list[Path]:
    """Every file under the media directory (staging included)."""
    return sorted(p for p in Path(settings.media_dir).rglob("*") if p.is_file())

"""The live room and the video feed fill a phone's screen as Channels and Douyin do: no site
header, and what a viewer acts on (the pinned product, its buy button, the flash sale's buy
button, the comment bar) inside the viewport at 360x640 and 390x844, signed in and signed
out. The demo's room on air plays its generated stream. Run with ``XIAODIAN_SCREENSHOTS=1``
to refresh the pictures in docs/screenshots/."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from xiaodian.accounts import service as accounts
from xiaodian.catalog.models import Product
from xiaodian.content.live import flash
from xiaodian.content.live.models import LiveRoom, RoomStatus
from xiaodian.seed import DEMO_PASSWORD, seed_demo

SIZES = [(360, 640), (390, 844)]
BUYER = "13900000001"


def _box(page: Any, selector: str) -> dict[str, float]:
    locator = page.locator(selector)
    assert locator.count() == 1, selector
    assert locator.is_visible(), f"{selector} is not visible"
    box = locator.bounding_box()
    assert box is not None, selector
    return dict(box)


def _inside(box: dict[str, float], width: int, height: int, what: str) -> None:
    assert box["x"] >= 0 and box["y"] >= 0, (what, box)
    assert box["x"] + box["width"] <= width + 0.5, (what, box, width)
    assert box["y"] + box["height"] <= height + 0.5, (what, box, height)


def _below(box: dict[str, float], top_bar: dict[str, float], what: str) -> None:
    assert box["y"] >= top_bar["y"] + top_bar["height"] - 0.5, (what, box, top_bar)


def _demo_room_on_air(server: LiveServer) -> int:
    """Seed the demo and start a flash sale in its room on air, as its host would."""
    assert seed_demo(server.settings)
    with server.database.session() as db:
        room = db.scalar(select(LiveRoom).where(LiveRoom.status == RoomStatus.LIVE))
        assert room is not None and room.pinned_product_id is not None
        product = db.get(Product, room.pinned_product_id)
        assert product is not None
        sku = product.skus[0]
        host = accounts.actor_for_user(db, accounts.get(db, room.host_id))
        sale = flash.open_sale(
            db,
            host,
            room.id,
            flash.SaleInput(
                product_id=product.id,
                sku_id=sku.id,
                price_fen=max(sku.price_fen - 1000, 1),
                quantity=3,
                duration_seconds=600,
            ),
        )
        flash.start_sale(db, host, room.id, sale.id)
        db.commit()
        return room.id


def test_live_room_and_feed_fill_the_phone_screen(live_server: LiveServer, browser: Any) -> None:
    room_id = _demo_room_on_air(live_server)
    for signed_in in (False, True):
        for width, height in SIZES:
            context = browser.new_context(
                viewport={"width": width, "height": height},
                locale="zh-CN",
                base_url=live_server.url,
                has_touch=True,
                is_mobile=True,
            )
            context.set_default_timeout(10_000)
            _check_screens(context.new_page(), room_id, width, height, signed_in=signed_in)
            context.close()


def _check_screens(page: Any, room_id: int, width: int, height: int, *, signed_in: bool) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if signed_in:
        sign_in(page, BUYER, DEMO_PASSWORD)
    who = "signed-in" if signed_in else "guest"

    page.goto(f"/live/{room_id}")
    page.wait_for_selector("#flash-card:not([hidden])")
    assert page.locator("header.topbar").count() == 0
    top = _box(page, ".live-top")
    assert top["y"] <= 0.5  # the room's own bar is the top of the screen
    _inside(_box(page, "[data-testid=back]"), width, height, "back")
    for selector in (
        "#pinned-product",
        "[data-testid=pin-buy]",
        "#comment-input",
        "#flash-buy",
        "#like-btn",
    ):
        box = _box(page, selector)
        _inside(box, width, height, selector)
        _below(box, top, selector)
    assert page.locator("#comment-input").is_enabled() is signed_in
    if shutil.which("ffmpeg"):
        # the demo's generated stream plays (hls.js over Media Source in Chromium)
        page.wait_for_function(
            "() => { const v = document.getElementById('live-video');"
            " return !v.hidden && v.readyState >= 2 && v.currentTime > 0.3 }",
            timeout=15_000,
        )
    shot(page, f"live-room-{width}x{height}-{who}")

    page.goto("/videos")
    page.wait_for_selector(".vcard video")
    assert page.locator("header.topbar").count() == 0
    card = _box(page, ".vcard >> nth=0")
    assert abs(card["height"] - height) <= 1 and card["y"] <= 0.5, card
    _inside(_box(page, "[data-testid=back]"), width, height, "feed back")
    first = page.locator(".vcard >> nth=0")
    for part in (".vlike", ".vsound", ".vcaption", ".vproduct >> nth=0"):
        box = first.locator(part).bounding_box()
        assert box is not None, part
        _inside(box, width, height, part)
    shot(page, f"videos-{width}x{height}-{who}")
    assert not errors, errors


@pytest.mark.parametrize("width,height", SIZES)
def test_sign_in_from_the_full_screen_room_comes_back(
    live_server: LiveServer, browser: Any, width: int, height: int
) -> None:
    """Without the site header the room itself offers the way to sign in and back."""
    assert seed_demo(live_server.settings)
    with live_server.database.session(write=False) as db:
        room_id = db.scalar(select(LiveRoom.id).where(LiveRoom.status == RoomStatus.LIVE))
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", base_url=live_server.url
    )
    page = context.new_page()
    page.goto(f"/live/{room_id}")
    page.click(".live-comment-form a[href^='/login']")
    page.fill("input[name=login]", BUYER)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**/live/{room_id}")
    assert page.locator("#comment-input").is_enabled()
    context.close()

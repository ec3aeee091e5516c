"""Demo live rooms: one live now in 花间衣橱 with products and one pinned, and a creator's
room scheduled for tomorrow evening, so /live and the host console have something to show.
Flash sales are left to the person trying the demo (they run against the clock).

The room on air plays a short looping HLS stream made here with ffmpeg when it is installed
(a moving gradient with the room's title, generated, nothing downloaded); without ffmpeg the
room shows its cover, animated by the page, so the demo still looks on air."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.content import video_files
from xiaodian.content.live.models import LiveRoom, LiveRoomEvent, LiveRoomProduct, RoomStatus
from xiaodian.settings import Settings


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    now = clock.now()
    shop = ctx["shops"][0]
    host = ctx["merchants"][0]
    creator = ctx["creators"][0]
    shop_products = [p for p in ctx["products"] if p.shop_id == shop.id][:4]
    picks = ctx["products"][-3:]
    rooms = [
        (host, shop.id, "夏日穿搭专场 · 连衣裙上新", now - timedelta(minutes=20), shop_products),
        (creator, None, "达人好物分享夜", now + timedelta(days=1, hours=2), picks),
    ]
    for index, (user, shop_id, title, at, products) in enumerate(rooms):
        cover = media.save_image(video_files.placeholder_cover(f"live-{index}"), folder="covers")
        is_live = at <= now
        stream = demo_stream(settings, title) if is_live else None
        room = LiveRoom(
            host_id=user.id,
            shop_id=shop_id,
            title=title,
            cover_path=cover.path,
            cover_thumb_path=cover.thumb_path,
            scheduled_at=at,
            status=RoomStatus.LIVE if is_live else RoomStatus.SCHEDULED,
            pinned_product_id=products[0].id if is_live and products else None,
            stream_url=stream,
            started_at=at if is_live else None,
        )
        db.add(room)
        db.flush()
        db.add_all(
            LiveRoomProduct(room_id=room.id, product_id=p.id, position=i + 1)
            for i, p in enumerate(products)
        )
        db.add(
            LiveRoomEvent(room_id=room.id, actor_id=user.id, kind="created", to_status="scheduled")
        )
        if is_live:
            db.add(
                LiveRoomEvent(
                    room_id=room.id,
                    actor_id=user.id,
                    kind="go_live",
                    from_status="scheduled",
                    to_status="live",
                )
            )


DEMO_STREAM_FOLDER = "live/demo"
DEMO_STREAM_SECONDS = 6


def demo_stream(settings: Settings, title: str) -> str | None:
    """Make the demo room's stream: a few seconds of HLS (H.264, 2 s segments) under the
    media directory; return its ``/media`` path, or None when ffmpeg is missing or fails
    (the demo then goes on without a stream)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None or settings.media_dir is None:
        return None
    out = settings.media_dir / DEMO_STREAM_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        caption = Path(scratch) / "title.txt"
        caption.write_text(title, encoding="utf-8")
        command = [
            ffmpeg,
            *("-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", _picture(caption)),
            *("-t", str(DEMO_STREAM_SECONDS), "-an", "-c:v", "libx264", "-preset", "veryfast"),
            *("-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "48", "-f", "hls"),
            *("-hls_time", "2", "-hls_playlist_type", "vod"),
            *("-hls_segment_filename", str(out / "seg%d.ts"), str(out / "index.m3u8")),
        ]
        try:
            subprocess.run(command, check=True, timeout=120, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            return None
    return f"/media/{DEMO_STREAM_FOLDER}/index.m3u8"


def _picture(caption: Path) -> str:
    """The lavfi graph: a slowly moving gradient, a LIVE mark, the title and a running clock."""
    font = _font()
    face = f"fontfile={_escape(font)}:" if font else ""
    center = "x=(w-tw)/2"
    return ",".join(
        [
            "gradients=s=360x640:r=24:speed=0.03:nb_colors=3:c0=0xe4393c:c1=0xff9a3c:c2=0x7b2ff7",
            f"drawtext={face}text=LIVE:fontsize=56:fontcolor=white:{center}:y=h/3",
            f"drawtext={face}textfile={_escape(str(caption))}:fontsize=24:fontcolor=white"
            f":{center}:y=h/3+80",
            f"drawtext={face}text='%{{pts\\:hms}}':fontsize=22:fontcolor=white@0.8"
            f":{center}:y=h/3+124",
        ]
    )


def _font() -> str | None:
    """A font that has Chinese glyphs, listed by fontconfig (None: ffmpeg's default)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run(
            [fc_list, ":lang=zh-cn", "file"],
            check=True,
            timeout=10,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.strip().rstrip(":") for line in found.splitlines() if line.strip())
    return files[0] if files else None


def _escape(value: str) -> str:
    """A path as one quoted lavfi option value (a quote in it would end the value)."""
    return "'" + value.replace("'", "") + "'"

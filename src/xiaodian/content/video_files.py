"""Uploaded video files: size and type checked by content, staged, then stored.

The type is decided from the file's content, never from its name or the client's
content type: MP4 is an ISO BMFF file whose first box is ``ftyp`` with an MP4 brand; WebM
is an EBML document (0x1A45DFA3) whose DocType is ``webm``. Then the whole file must be that
container (``containers``: its top-level boxes or elements tile the file, nothing unknown,
nothing after them) and, when ``ffprobe`` is on PATH, hold a video stream that ffprobe reads
with that container's demuxer. An upload is first copied in
chunks to a staging file (refused as soon as it passes the size limit), then moved into
``videos/YYYY/MM/<random>.<ext>`` under the media directory when the rest of the request
is valid; on any error the staging file is removed, so nothing is left behind.

Covers: the uploaded image, or the first frame when ``ffmpeg`` is on PATH (short timeout),
or a generated placeholder (Pillow).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageDraw

from xiaodian import clock, settings
from xiaodian.content import containers
from xiaodian.errors import InvalidInput, TooLarge, _

CHUNK = 1024 * 1024
HEAD_BYTES = 4096
FFMPEG_TIMEOUT_S = 10
# the only demuxer ffprobe may use for each type ("mov" reads MP4)
FFPROBE_FORMATS = {"video/mp4": "mov", "video/webm": "matroska"}
STAGING = ".staging"

# ISO BMFF brands of MP4 video (not QuickTime "qt  ", not HEIF/AVIF images, not audio).
MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"avc1",
        b"mmp4",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"f4v ",
        b"MSNV",
        b"NDAS",
        b"XAVC",
    }
)
NOT_VIDEO_MAJOR = frozenset(
    {b"M4A ", b"M4B ", b"M4P ", b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}
)
EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm"}


def sniff(head: bytes) -> str | None:
    """``video/mp4``, ``video/webm`` or None, from the first bytes of a file."""
    if _is_mp4(head):
        return "video/mp4"
    if _is_webm(head):
        return "video/webm"
    return None


def _is_mp4(head: bytes) -> bool:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    size = int.from_bytes(head[0:4], "big")
    if size < 16 or size > 4096 or (size - 16) % 4:
        return False
    major = head[8:12]
    if major in NOT_VIDEO_MAJOR:
        return False
    brands = {major} | {head[i : i + 4] for i in range(16, min(size, len(head)), 4)}
    return bool(brands & MP4_BRANDS)


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``pos``: (value, next position), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        return None
    value = first if keep_marker else first & (mask - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _is_webm(head: bytes) -> bool:
    if head[:4] != b"\x1a\x45\xdf\xa3":
        return False
    header = _vint(head, 4, keep_marker=False)
    if header is None:
        return False
    size, pos = header
    end = min(len(head), pos + size)
    while pos < end:
        element = _vint(head, pos, keep_marker=True)
        if element is None:
            return False
        element_id, pos = element
        length = _vint(head, pos, keep_marker=False)
        if length is None:
            return False
        value_size, pos = length
        if element_id == 0x4282:  # DocType
            return head[pos : pos + value_size].rstrip(b"\x00") == b"webm"
        pos += value_size
    return False


def _refuse_size(limit: int) -> TooLarge:
    return TooLarge(_("The video is too large (at most %(mb)s MB)."), mb=round(limit / 1048576, 1))


def _not_a_video() -> InvalidInput:
    return InvalidInput(_("Only MP4 or WebM videos are accepted."), code="not_a_video")


@dataclass
class StagedVideo:
    """A checked upload waiting in the staging folder until the request succeeds."""

    path: Path
    content_type: str
    size: int

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.content_type]

    def store(self, folder: str = "videos") -> str:
        """Move into the media directory; returns the relative path."""
        media_dir = _media_dir()
        now = clock.now()
        rel_dir = Path(folder) / f"{now:%Y}" / f"{now:%m}"
        (media_dir / rel_dir).mkdir(parents=True, exist_ok=True)
        rel = rel_dir / f"{secrets.token_hex(12)}.{self.ext}"
        os.replace(self.path, media_dir / rel)
        return str(rel)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _media_dir() -> Path:
    media_dir = settings.current().media_dir
    assert media_dir is not None
    return media_dir


def _staging_path() -> Path:
    folder = _media_dir() / STAGING
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{secrets.token_hex(12)}.part"


def stage_stream(stream: BinaryIO, *, limit: int | None = None) -> StagedVideo:
    """Copy an uploaded file to staging in chunks, checking its size and type.

    Raises TooLarge (413) past ``limit`` (default ``settings.max_video_bytes``) and
    InvalidInput (422) for an empty file or anything but MP4/WebM; nothing is kept then.
    """
    limit = limit or settings.current().max_video_bytes
    path = _staging_path()
    size = 0
    head = b""
    try:
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _refuse_size(limit)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                out.write(chunk)
        if size == 0:
            raise InvalidInput(_("The file is empty."), code="empty_file")
        content_type = sniff(head)
        if content_type is None:
            raise _not_a_video()
        check_container(path, content_type, size)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return StagedVideo(path=path, content_type=content_type, size=size)


def check_container(path: Path, content_type: str, size: int) -> None:
    """Refuse (422) a file that is not, as a whole, the container its first bytes claim."""
    with path.open("rb") as stream:
        if content_type == "video/mp4":
            whole = containers.mp4_well_formed(stream, size)
        else:
            whole = containers.webm_well_formed(stream, size)
    if not whole or probe(path, content_type) is False:
        raise InvalidInput(
            _("The video is damaged or not a complete MP4 or WebM file."), code="not_a_video"
        )


def ffprobe_path() -> str | None:
    return shutil.which("ffprobe")


def probe(path: Path, content_type: str) -> bool | None:
    """Whether ffprobe, reading the file with the type's demuxer only, finds a video
    stream; None when ffprobe is not installed (or cannot be started)."""
    ffprobe = ffprobe_path()
    if ffprobe is None:
        return None
    command = [
        ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        FFPROBE_FORMATS[content_type],
        "-show_entries",
        "stream=codec_type",
        "-of",
        "json",
        f"file:{path}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return False
    try:
        streams = json.loads(done.stdout).get("streams") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(s, dict) and s.get("codec_type") == "video" for s in streams)


def stage_bytes(data: bytes, *, limit: int | None = None) -> StagedVideo:
    """``stage_stream`` for bytes already in memory (services, seed, tests)."""
    return stage_stream(BytesIO(data), limit=limit)


def first_frame(path: Path) -> bytes | None:
    """A JPEG of the first frame, when ffmpeg is installed; None otherwise or on failure."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    command = [
        ffmpeg,
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-vf",
        "scale='min(720,iw)':-2",
        "-f",
        "image2pipe",
        "-vcodec",
        "mjpeg",
        "-q:v",
        "4",
        "-",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout.startswith(b"\xff\xd8"):
        return None
    return done.stdout


PALETTES = [
    ((255, 122, 138), (255, 210, 111)),
    ((58, 157, 93), (217, 242, 196)),
    ((74, 108, 247), (247, 162, 74)),
    ((140, 82, 255), (255, 143, 177)),
    ((26, 155, 160), (180, 236, 223)),
]


def placeholder_cover(seed: str = "") -> bytes:
    """A generated 9:16 cover (a soft gradient with a play mark), as JPEG bytes."""
    digest = hashlib.sha256(seed.encode()).digest()
    top, bottom = PALETTES[digest[0] % len(PALETTES)]
    width, height = 360, 640
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=color)
    cx, cy, r = width // 2, height // 2, 46
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 255, 255))
    draw.polygon([(cx - 14, cy - 22), (cx - 14, cy + 22), (cx + 24, cy)], fill=top)
    out = BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()

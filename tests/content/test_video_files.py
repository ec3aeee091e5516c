"""Video type and size checks: by content, never by name; nothing kept on refusal."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from tests.content.conftest import media_files, mp4_bytes, webm_bytes
from xiaodian.content import video_files
from xiaodian.errors import InvalidInput, TooLarge


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


def _ebml(doctype: bytes) -> bytes:
    # EBMLVersion 1, DocType <doctype>, inside an EBML header of the right size.
    children = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(children)]) + children + b"\x18\x53\x80\x67"


def test_real_sample_clips_are_recognised() -> None:
    assert video_files.sniff(mp4_bytes()[:4096]) == "video/mp4"
    assert video_files.sniff(webm_bytes()[:4096]) == "video/webm"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom", b"isom", b"avc1"), "video/mp4"),
        (_ftyp(b"mp42", b"mp41"), "video/mp4"),
        (_ftyp(b"XXXX", b"mp42"), "video/mp4"),  # an unknown major brand, compatible mp42
        (_ftyp(b"qt  ", b"qt  "), None),  # QuickTime .mov
        (_ftyp(b"heic", b"mif1", b"heic"), None),  # a HEIF photo
        (_ftyp(b"M4A ", b"isom", b"mp42"), None),  # audio only
        (_ftyp(b"avif", b"avif", b"mif1"), None),
        (_ebml(b"webm"), "video/webm"),
        (_ebml(b"matroska"), None),  # .mkv
        (b"\x1a\x45\xdf\xa3\xff", None),  # a truncated EBML header
        (b"hello, this is not a video at all....", None),
        (b"", None),
        (b"\x00\x00\x00\x18ftyp", None),  # box cut short
    ],
)
def test_sniff(head: bytes, expected: str | None) -> None:
    assert video_files.sniff(head) == expected


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [b"just some text renamed to clip.mp4\n" * 20, _png(), b"GIF89a" + b"\x00" * 100],
    ids=["text", "png", "gif"],
)
def test_staging_refuses_non_videos_and_keeps_nothing(settings: Any, data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        video_files.stage_bytes(data)
    assert caught.value.code == "not_a_video"
    assert media_files(settings) == []


def test_staging_refuses_empty_files(settings: Any) -> None:
    with pytest.raises(InvalidInput):
        video_files.stage_bytes(b"")
    assert media_files(settings) == []


def test_staging_refuses_oversize_while_copying(settings: Any) -> None:
    big = mp4_bytes() + b"\x00" * settings.max_video_bytes
    with pytest.raises(TooLarge):
        video_files.stage_bytes(big)
    assert media_files(settings) == []


def test_staged_video_moves_into_the_media_dir_with_a_random_name(settings: Any) -> None:
    staged = video_files.stage_bytes(webm_bytes())
    assert staged.content_type == "video/webm" and staged.size == len(webm_bytes())
    first = staged.store()
    again = video_files.stage_bytes(webm_bytes()).store()
    assert first.startswith("videos/") and first.endswith(".webm") and first != again
    assert (settings.media_dir / first).read_bytes() == webm_bytes()
    assert not any(p.suffix == ".part" for p in media_files(settings))


def test_placeholder_cover_is_a_valid_image() -> None:
    image = Image.open(BytesIO(video_files.placeholder_cover("x")))
    assert image.format == "JPEG" and image.size == (360, 640)

"""Video type and size checks: by content, never by name; nothing kept on refusal."""

from __future__ import annotations

import shutil
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


# --- the whole container, not only its first bytes ---------------------------------------

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 200


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _mp4_parts() -> tuple[bytes, bytes, bytes]:
    """(ftyp, moov, mdat) boxes of the real sample clip (it also holds a free box)."""
    data = mp4_bytes()
    boxes: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes[data[pos + 4 : pos + 8]] = data[pos : pos + size]
        pos += size
    return boxes[b"ftyp"], boxes[b"moov"], boxes[b"mdat"]


def _ebml_element(element_id: bytes, payload: bytes, *, unknown: bool = False) -> bytes:
    size = (
        b"\x01\xff\xff\xff\xff\xff\xff\xff"
        if unknown
        else b"\x01" + len(payload).to_bytes(7, "big")
    )
    return element_id + size + payload


def _webm(
    *, segment_unknown: bool = False, cluster_unknown: bool = False, tail: bytes = b""
) -> bytes:
    """A minimal WebM: EBML header, then a Segment holding Tracks and one Cluster."""
    header = _ebml(b"webm")[:-4]  # the EBML header only (the helper adds a Segment id)
    tracks = _ebml_element(b"\x16\x54\xae\x6b", b"\xae\x83\xd7\x81\x01")
    block = _ebml_element(b"\xa3", b"\x81\x00\x00\x80" + b"\x9d\x01\x2a" * 4)
    cluster = _ebml_element(b"\x1f\x43\xb6\x75", b"\xe7\x81\x00" + block, unknown=cluster_unknown)
    segment = _ebml_element(b"\x18\x53\x80\x67", tracks + cluster + tail, unknown=segment_unknown)
    return header + segment


@pytest.fixture
def no_ffprobe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The structure alone decides (ffmpeg may be absent where xiaodian is installed)."""
    monkeypatch.setattr(video_files, "ffprobe_path", lambda: None)


def _refused(data: bytes) -> bool:
    try:
        video_files.stage_bytes(data).discard()
    except InvalidInput as exc:
        assert exc.code == "not_a_video"
        return True
    return False


def test_well_formed_containers_are_accepted(no_ffprobe: None, settings: Any) -> None:
    ftyp, moov, mdat = _mp4_parts()
    large = (1).to_bytes(4, "big") + b"mdat" + (16 + len(mdat) - 8).to_bytes(8, "big") + mdat[8:]
    to_the_end = (0).to_bytes(4, "big") + mdat[4:]
    fragmented = ftyp + moov + _box(b"moof", b"\x00" * 16) + mdat + _box(b"mfra", b"\x00" * 8)
    for data in (
        mp4_bytes(),
        ftyp + moov + mdat,
        ftyp + moov + large,  # a 64-bit size
        ftyp + moov + to_the_end,  # size 0: the last box runs to the end of the file
        ftyp + _box(b"free") + mdat + moov,  # moov last, as cameras write it
        fragmented,
        webm_bytes(),
        _webm(),
        _webm(segment_unknown=True, cluster_unknown=True),  # as browsers record
    ):
        assert not _refused(data)
    assert media_files(settings) == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(mp4_bytes() + ELF, id="mp4-then-executable"),
        pytest.param(_ftyp(b"isom", b"isom", b"avc1") + ELF, id="ftyp-then-executable"),
        pytest.param(mp4_bytes()[:-1], id="mp4-cut-short"),
        pytest.param(_mp4_parts()[0] + _mp4_parts()[2], id="no-moov"),
        pytest.param(_mp4_parts()[0] + _mp4_parts()[1], id="no-mdat"),
        pytest.param(_mp4_parts()[0] + _mp4_parts()[1] * 2 + _mp4_parts()[2], id="two-moov"),
        pytest.param(_mp4_parts()[0] * 2 + _mp4_parts()[1] + _mp4_parts()[2], id="two-ftyp"),
        pytest.param(mp4_bytes() + _box(b"EXEC", ELF), id="unknown-box"),
        pytest.param(mp4_bytes() + b"\x00\x00\x00\x04", id="box-smaller-than-its-header"),
        pytest.param(webm_bytes() + ELF, id="webm-then-executable"),
        pytest.param(_webm(tail=_ebml_element(b"\x7f\x45\x4c\x46", ELF)), id="unknown-element"),
        pytest.param(_webm() + ELF, id="segment-then-executable"),
        pytest.param(_webm()[:-1], id="webm-cut-short"),
        pytest.param(_webm(segment_unknown=True) + ELF, id="open-segment-then-executable"),
        pytest.param(
            _webm(segment_unknown=True, cluster_unknown=True) + ELF, id="open-cluster-then-junk"
        ),
        pytest.param(_ebml(b"webm") + b"\x88" + b"\x00" * 8, id="empty-segment"),
    ],
)
def test_containers_that_do_not_add_up_are_refused(
    no_ffprobe: None, settings: Any, data: bytes
) -> None:
    assert video_files.sniff(data[:4096]) is not None  # the first bytes alone would pass
    assert _refused(data)
    assert media_files(settings) == []


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_ffprobe_refuses_a_well_built_box_of_junk(settings: Any) -> None:
    ftyp, _moov, mdat = _mp4_parts()
    junk_moov = _box(b"moov", bytes(range(256)) * 4)
    assert not _refused(mp4_bytes()) and not _refused(webm_bytes())
    assert _refused(ftyp + junk_moov + mdat)
    assert media_files(settings) == []

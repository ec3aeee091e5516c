"""Is the whole file the container its first bytes claim? Pure Python, no ffmpeg needed.

A file that starts like an MP4 or a WebM can carry anything after its header (an
executable, an HTML page). These walkers read the container's top level over the whole
file and refuse anything that does not add up:

- MP4 (ISO BMFF): the top-level boxes tile the file exactly (sizes, 64-bit sizes and the
  last box's "to the end" size), ``ftyp`` first and only once, one ``moov``, at least one
  ``mdat``, and no box type outside ``MP4_TOP_LEVEL``.
- WebM (EBML): an EBML header, then one Segment reaching exactly the end of the file, whose
  children are Segment elements (``WEBM_SEGMENT``) with Tracks and at least one Cluster. A
  Segment or a Cluster of unknown size (as browsers' MediaRecorder writes them) is walked
  element by element: a Cluster ends where the next Segment element starts.

Both read only element headers (seeking over their bodies), so a large file costs a few
reads per box or block.
"""

from __future__ import annotations

from typing import BinaryIO

MAX_ELEMENTS = 2_000_000  # boxes or EBML elements walked in one file

# Top-level boxes of ISO/IEC 14496-12 (and the ones encoders commonly write there).
MP4_TOP_LEVEL = frozenset(
    {
        b"ftyp",
        b"moov",
        b"mdat",
        b"free",
        b"skip",
        b"wide",
        b"uuid",
        b"pdin",
        b"moof",
        b"mfra",
        b"meta",
        b"styp",
        b"sidx",
        b"ssix",
        b"prft",
        b"emsg",
        b"udta",
    }
)


def mp4_boxes(stream: BinaryIO, size: int) -> list[bytes] | None:
    """The types of the top-level boxes, or None unless they tile the file exactly."""
    kinds: list[bytes] = []
    pos = 0
    while pos < size:
        if len(kinds) >= MAX_ELEMENTS:
            return None
        stream.seek(pos)
        header = stream.read(16)
        if len(header) < 8:
            return None
        box_size, kind, head = int.from_bytes(header[:4], "big"), header[4:8], 8
        if box_size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return None
            box_size, head = int.from_bytes(header[8:16], "big"), 16
        elif box_size == 0:  # the last box, to the end of the file
            box_size = size - pos
        if box_size < head or pos + box_size > size:
            return None
        kinds.append(kind)
        pos += box_size
    return kinds


def mp4_well_formed(stream: BinaryIO, size: int) -> bool:
    kinds = mp4_boxes(stream, size)
    if not kinds or kinds[0] != b"ftyp" or kinds.count(b"ftyp") != 1:
        return False
    if kinds.count(b"moov") != 1 or b"mdat" not in kinds:
        return False
    return set(kinds) <= MP4_TOP_LEVEL


# --------------------------------------------------------------------------- WebM

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
CLUSTER = 0x1F43B675
TRACKS = 0x1654AE6B
VOID = 0xEC
CRC32 = 0xBF
WEBM_SEGMENT = frozenset(
    {
        0x114D9B74,  # SeekHead
        0x1549A966,  # Info
        TRACKS,
        CLUSTER,
        0x1C53BB6B,  # Cues
        0x1941A469,  # Attachments
        0x1043A770,  # Chapters
        0x1254C367,  # Tags
        VOID,
        CRC32,
    }
)
WEBM_CLUSTER = frozenset(
    {
        0xE7,  # Timestamp
        0x5854,  # SilentTracks
        0xA7,  # Position
        0xAB,  # PrevSize
        0xA3,  # SimpleBlock
        0xA0,  # BlockGroup
        0xAF,  # EncryptedBlock
        VOID,
        CRC32,
    }
)


class _Malformed(Exception):
    pass


class _Reader:
    """EBML element headers read at positions of a file of known size."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.count = 0

    def header(self, pos: int) -> tuple[int, int, int | None]:
        """(element id, where its data starts, data size or None when unknown)."""
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise _Malformed
        self.stream.seek(pos)
        raw = self.stream.read(12)
        element_id, at = _vint(raw, 0, keep_marker=True)
        length, end = _vint(raw, at, keep_marker=False)
        width = end - at
        data_size = None if length == (1 << (7 * width)) - 1 else length
        start = pos + end
        if start > self.size or (data_size is not None and start + data_size > self.size):
            raise _Malformed
        return element_id, start, data_size


def _vint(raw: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, next position)."""
    if pos >= len(raw) or raw[pos] == 0:
        raise _Malformed
    first = raw[pos]
    width = 8 - first.bit_length() + 1
    if pos + width > len(raw):
        raise _Malformed
    value = first if keep_marker else first & ((1 << (8 - width)) - 1)
    for byte in raw[pos + 1 : pos + width]:
        value = (value << 8) | byte
    return value, pos + width


def webm_well_formed(stream: BinaryIO, size: int) -> bool:
    reader = _Reader(stream, size)
    try:
        element_id, start, length = reader.header(0)
        if element_id != EBML or length is None:
            return False
        element_id, start, length = reader.header(start + length)
        if element_id != SEGMENT:
            return False
        end = size if length is None else start + length
        return end == size and _segment_ok(reader, start, end)
    except _Malformed:
        return False


def _segment_ok(reader: _Reader, pos: int, end: int) -> bool:
    seen: set[int] = set()
    while pos < end:
        element_id, start, length = reader.header(pos)
        if element_id not in WEBM_SEGMENT:
            return False
        seen.add(element_id)
        if length is not None:
            pos = start + length
        elif element_id == CLUSTER:
            pos = _cluster_end(reader, start, end)
        else:
            return False
    return pos == end and {TRACKS, CLUSTER} <= seen


def _cluster_end(reader: _Reader, pos: int, end: int) -> int:
    """Where a Cluster of unknown size ends: the next Segment element, or ``end``."""
    while pos < end:
        element_id, start, length = reader.header(pos)
        if element_id in WEBM_SEGMENT and element_id not in (VOID, CRC32):
            return pos
        if element_id not in WEBM_CLUSTER or length is None:
            raise _Malformed
        pos = start + length
    return pos

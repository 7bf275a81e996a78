"""Decode a JPEG only down to the last row that its crops need.

A JPEG stores its blocks top to bottom, in a baseline file's one scan and in each scan of a
progressive one. Lowering the frame height in the SOF header therefore makes libjpeg decode the
rows kept and skip, undecoded, the rest of every scan (it looks for the next marker). Pillow's own
libjpeg-turbo decodes that copy: no other library. The rows a caller asks for come out bit for bit
as in a full decode, because one extra MCU row is decoded below them (the chroma upsampling of the
last rows asked for reads the chroma row under them). tests/test_jpeg_rows.py compares against full
decodes: 4:2:0, 4:2:2, 4:4:4, grayscale, CMYK, progressive, every EXIF orientation.

Rows above the crops are still decoded: a JPEG cannot be entered in the middle without restart
markers. Files this module does not recognise (lossless, arithmetic-coded, hierarchical, height
given by a DNL marker) are decoded in full by the caller, and so are files without an end marker
(cut short: only a full decode reaches the missing rows and says "truncated").
"""
from __future__ import annotations

import struct

from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom

# SOF markers of baseline, extended sequential and progressive Huffman-coded frames.
_CUTTABLE_FRAMES = {0xC0, 0xC1, 0xC2}
# Every other SOF: lossless, hierarchical, arithmetic-coded (C4 is DHT, C8 is reserved, CC is DAC).
_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01} | set(range(0xD0, 0xD8))  # markers without a length field
_SOS, _EOI = 0xDA, 0xD9

# What ImageOps.exif_transpose does for each EXIF orientation.
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def stored_box(box: Box, orientation: int, stored_size: tuple[int, int]) -> Box:
    """Where ``box`` of the image as shown (after the EXIF rotation) lies in the file's own grid."""
    left, top, right, bottom = box
    width, height = stored_size
    return {
        2: (width - right, top, width - left, bottom),
        3: (width - right, height - bottom, width - left, height - top),
        4: (left, height - bottom, right, height - top),
        5: (top, left, bottom, right),
        6: (top, height - right, bottom, height - left),
        7: (width - bottom, height - right, width - top, height - left),
        8: (width - bottom, left, width - top, right),
    }.get(orientation, box)


def top_rows(data: bytes, rows: int) -> bytes | None:
    """``data`` with its frame height lowered so that a decoder stops soon after ``rows`` rows (exact up to
    there); None when that would not be shorter or the file's frame is not one this can cut."""
    frame = _frame(data)
    if frame is None:
        return None
    offset, height, mcu_height = frame
    if data.rfind(b"\xff\xd9") < offset:
        return None  # no end marker: cut short, and a full decode says so (a cut one would stop before)
    kept = (-(-rows // mcu_height) + 1) * mcu_height  # whole MCU rows, and one more below them
    if kept >= height:
        return None
    return data[:offset] + struct.pack(">H", kept) + data[offset + 2:]


def _frame(data: bytes) -> tuple[int, int, int] | None:
    """(offset of the height field, height, MCU height) of the first frame, walking the markers by their
    lengths (so an embedded EXIF thumbnail is skipped whole); None for anything unexpected."""
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (_SOS, _EOI) or marker in _OTHER_FRAMES:
            return None
        (length,) = struct.unpack_from(">H", data, position + 2)
        if marker in _CUTTABLE_FRAMES:
            return _frame_fields(data, position + 4, length)
        position += 2 + length
    return None


def _frame_fields(data: bytes, start: int, length: int) -> tuple[int, int, int] | None:
    """Parse an SOF segment's body (precision, height, width, components with sampling factors)."""
    if length < 8 or start + length - 2 > len(data):
        return None
    height, _width, components = struct.unpack_from(">HHB", data, start + 1)
    if height == 0 or components == 0 or length != 8 + 3 * components:
        return None
    vertical = [data[start + 6 + 3 * index + 1] & 0x0F for index in range(components)]
    if not all(1 <= v <= 4 for v in vertical):
        return None
    return start + 1, height, 8 * max(vertical)

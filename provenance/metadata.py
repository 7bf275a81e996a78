"""Bounded, offline readers for unsigned metadata: PNG text, XMP, EXIF, comments.

Nothing here decodes pixels.  Container walkers seek past image data and read
only metadata records, each capped in size; anything over a cap or malformed
is recorded in ``Metadata.problems`` instead of raising.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree

MAX_RECORD_BYTES = 1 << 20          # one text chunk / XMP packet / EXIF block
MAX_TOTAL_BYTES = 8 << 20           # all metadata read from one file
MAX_CHUNKS = 200_000                # PNG / RIFF chunks or JPEG segments walked
GENERIC_SCAN_BYTES = 4 << 20        # head of unknown formats scanned for XMP
MAX_TEXT_VALUE = 64 << 10           # text kept per field after decoding

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Metadata:
    """What the unsigned metadata of one file says."""

    format: str | None = None           # 'png', 'jpeg', 'webp', 'gif', 'tiff', 'heif', ...
    mime: str | None = None
    text: dict[str, str] = field(default_factory=dict)   # PNG text / comments / UserComment
    exif: dict[str, str] = field(default_factory=dict)   # Make, Model, Software, ...
    xmp_source_types: list[str] = field(default_factory=list)
    xmp_creator_tool: str | None = None
    xmp_provenance_url: str | None = None
    c2pa_marker: bool = False           # the container holds a C2PA/JUMBF record
    problems: list[str] = field(default_factory=list)


_FORMATS = (
    (PNG_MAGIC, "png", "image/png"),
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
    (b"II*\x00", "tiff", "image/tiff"),
    (b"MM\x00*", "tiff", "image/tiff"),
    (b"BM", "bmp", None),
    (b"\xff\x0a", "jxl", "image/jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jxl", "image/jxl"),
)


def detect_format(head: bytes) -> tuple[str | None, str | None]:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "avif", "image/avif"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"hevc", b"hevx"):
            return "heif", "image/heif"
        return "bmff", None
    for magic, name, mime in _FORMATS:
        if head.startswith(magic):
            return name, mime
    return None, None


class _Budget:
    def __init__(self, meta: Metadata):
        self.left = MAX_TOTAL_BYTES
        self.meta = meta

    def take(self, n: int, what: str) -> bool:
        if n > MAX_RECORD_BYTES:
            self.meta.problems.append(f"{what} too large ({n:,} bytes), not read")
            return False
        if n > self.left:
            self.meta.problems.append(f"too much metadata; {what} not read")
            return False
        self.left -= n
        return True


def _clean(text: str) -> str:
    text = text[:MAX_TEXT_VALUE]
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def _inflate(data: bytes, what: str, meta: Metadata) -> bytes | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_RECORD_BYTES + 1)
    except zlib.error:
        meta.problems.append(f"{what}: corrupt compressed text")
        return None
    if len(out) > MAX_RECORD_BYTES or d.unconsumed_tail:
        meta.problems.append(f"{what}: decompressed text too large, not read")
        return None
    return out


def scan(path: str | os.PathLike) -> Metadata:
    """Read the unsigned metadata of ``path``; never raises for bad content."""
    meta = Metadata()
    with open(path, "rb") as fh:
        head = fh.read(64)
        meta.format, meta.mime = detect_format(head)
        fh.seek(0)
        budget = _Budget(meta)
        try:
            if meta.format == "png":
                _scan_png(fh, meta, budget)
            elif meta.format == "jpeg":
                _scan_jpeg(fh, meta, budget)
            elif meta.format == "webp":
                _scan_webp(fh, meta, budget)
            else:
                _scan_generic(fh, meta, budget)
        except (struct.error, EOFError) as exc:
            meta.problems.append(f"{(meta.format or 'file').upper()} structure damaged ({exc})")
    return meta


# --------------------------------------------------------------------- PNG

def _scan_png(fh, meta: Metadata, budget: _Budget) -> None:
    fh.seek(8)
    for _ in range(MAX_CHUNKS):
        header = fh.read(8)
        if len(header) == 0:
            meta.problems.append("PNG ends without IEND chunk")
            return
        if len(header) < 8:
            raise EOFError("truncated chunk header")
        length, ctype = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            raise EOFError("chunk length out of range")
        name = ctype.decode("latin-1")
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if budget.take(length, f"PNG {name} chunk"):
                data = fh.read(length)
                if len(data) < length:
                    raise EOFError("truncated text chunk")
                _png_text(ctype, data, meta)
                fh.seek(4, io.SEEK_CUR)
            else:
                fh.seek(length + 4, io.SEEK_CUR)
        elif ctype == b"eXIf":
            if budget.take(length, "PNG eXIf chunk"):
                _exif(fh.read(length), meta)
                fh.seek(4, io.SEEK_CUR)
            else:
                fh.seek(length + 4, io.SEEK_CUR)
        else:
            if ctype == b"caBX":
                meta.c2pa_marker = True
            if ctype == b"IEND":
                return
            fh.seek(length + 4, io.SEEK_CUR)
    meta.problems.append("PNG has too many chunks; rest not read")


def _png_text(ctype: bytes, data: bytes, meta: Metadata) -> None:
    what = f"PNG {ctype.decode()} chunk"
    key, sep, rest = data.partition(b"\x00")
    if not sep or not 1 <= len(key) <= 79:
        meta.problems.append(f"{what}: malformed keyword")
        return
    keyword = key.decode("latin-1")
    if ctype == b"tEXt":
        value = rest.decode("latin-1")
    elif ctype == b"zTXt":
        raw = _inflate(rest[1:], f"{what} '{keyword}'", meta)
        if raw is None:
            return
        value = raw.decode("latin-1")
    else:  # iTXt: flag, method, language\0, translated keyword\0, text
        if len(rest) < 2:
            meta.problems.append(f"{what}: malformed")
            return
        compressed, body = rest[0], rest[2:]
        parts = body.split(b"\x00", 2)
        if len(parts) < 3:
            meta.problems.append(f"{what}: malformed")
            return
        raw = parts[2]
        if compressed:
            raw = _inflate(raw, f"{what} '{keyword}'", meta)
            if raw is None:
                return
        value = raw.decode("utf-8", "replace")
    if keyword == "XML:com.adobe.xmp":
        _xmp(value.encode("utf-8", "replace"), meta)
    else:
        meta.text[keyword] = _clean(value)


# -------------------------------------------------------------------- JPEG

_XMP_SIG = b"http://ns.adobe.com/xap/1.0/\x00"


def _scan_jpeg(fh, meta: Metadata, budget: _Budget) -> None:
    fh.seek(2)
    for _ in range(MAX_CHUNKS):
        byte = fh.read(1)
        if not byte:
            return
        if byte != b"\xff":
            raise EOFError("segment marker expected")
        marker = fh.read(1)
        while marker == b"\xff":
            marker = fh.read(1)
        if not marker:
            return
        m = marker[0]
        if m in (0xD9, 0xDA):        # end of image / start of scan: no more metadata
            return
        if 0xD0 <= m <= 0xD7 or m == 0x01:
            continue
        raw_len = fh.read(2)
        if len(raw_len) < 2:
            raise EOFError("truncated segment")
        length = struct.unpack(">H", raw_len)[0] - 2
        if length < 0:
            raise EOFError("bad segment length")
        if m in (0xE1, 0xEB, 0xFE):  # APP1 (EXIF/XMP), APP11 (JUMBF/C2PA), COM
            if not budget.take(length, "JPEG segment"):
                fh.seek(length, io.SEEK_CUR)
                continue
            data = fh.read(length)
            if len(data) < length:
                raise EOFError("truncated segment")
            if m == 0xE1 and data.startswith(b"Exif\x00"):
                _exif(data, meta)
            elif m == 0xE1 and data.startswith(_XMP_SIG):
                _xmp(data[len(_XMP_SIG):], meta)
            elif m == 0xEB and b"jumb" in data[:64]:
                meta.c2pa_marker = True
            elif m == 0xFE:
                text = data.decode("utf-8", "replace")
                if text.strip():
                    meta.text.setdefault("Comment", _clean(text))
        else:
            fh.seek(length, io.SEEK_CUR)
    meta.problems.append("JPEG has too many segments; rest not read")


# -------------------------------------------------------------------- WebP

def _scan_webp(fh, meta: Metadata, budget: _Budget) -> None:
    riff = fh.read(12)
    total = struct.unpack("<I", riff[4:8])[0] + 8
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > total:
            return
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            return
        fourcc, length = struct.unpack("<4sI", header)
        if fourcc in (b"EXIF", b"XMP "):
            if budget.take(length, f"WebP {fourcc.decode().strip()} chunk"):
                data = fh.read(length)
                if fourcc == b"EXIF":
                    _exif(data, meta)
                else:
                    _xmp(data, meta)
        elif fourcc == b"C2PA":
            meta.c2pa_marker = True
        pos += 8 + length + (length & 1)
    meta.problems.append("WebP has too many chunks; rest not read")


# ----------------------------------------------------------------- generic

_XMP_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.S)


def _scan_generic(fh, meta: Metadata, budget: _Budget) -> None:
    head = fh.read(GENERIC_SCAN_BYTES)
    if b"jumb" in head and b"c2pa" in head:
        meta.c2pa_marker = True
    found = _XMP_PACKET.search(head)
    if found and budget.take(len(found.group(0)), "XMP packet"):
        _xmp(found.group(0), meta)
    if meta.format == "tiff":
        _exif(head, meta, quiet=True)  # IFDs past the scanned head are simply missed


# -------------------------------------------------------------------- EXIF

_EXIF_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x010E: "ImageDescription",
              0x013B: "Artist"}


def _decode_user_comment(value) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, (bytes, bytearray)):
        return str(value)
    prefix, body = bytes(value[:8]), bytes(value[8:])
    if prefix.startswith(b"UNICODE"):
        if len(body) >= 2 and body[0] == 0 and body[1] != 0:
            return body.decode("utf-16-be", "replace")
        if len(body) >= 2 and body[1] == 0 and body[0] != 0:
            return body.decode("utf-16-le", "replace")
        return body.decode("utf-16-be", "replace")
    if prefix.startswith(b"ASCII") or prefix == b"\x00" * 8:
        return body.decode("latin-1")
    return bytes(value).decode("utf-8", "replace")


def _exif(data: bytes, meta: Metadata, quiet: bool = False) -> None:
    try:
        from PIL import Image

        exif = Image.Exif()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exif.load(data)
            sub = exif.get_ifd(0x8769)
        if caught and not quiet:
            meta.problems.append("EXIF damaged (" + str(caught[0].message)[:60] + ")")
        for tag, name in _EXIF_TAGS.items():
            value = exif.get(tag)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and value.strip("\x00 ").strip():
                meta.exif[name] = _clean(value.strip("\x00 "))
        comment = sub.get(0x9286) if sub else None
        if comment:
            text = _clean(_decode_user_comment(comment).strip("\x00 "))
            if text:
                meta.text.setdefault("UserComment", text)
    except Exception as exc:  # Pillow raises many kinds on junk
        if not quiet:
            meta.problems.append(f"EXIF unreadable ({type(exc).__name__})")


# --------------------------------------------------------------------- XMP

_RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.I)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _xmp(data: bytes, meta: Metadata) -> None:
    if len(data) > MAX_RECORD_BYTES:
        meta.problems.append("XMP packet too large, not read")
        return
    if _DTD.search(data):
        meta.problems.append("XMP is invalid (contains a DTD)")
        return
    found = _XMP_PACKET.search(data)
    if found:
        data = found.group(0)
    else:
        start = data.find(b"<")
        data = data[start:] if start >= 0 else data
    try:
        root = ElementTree.fromstring(data.strip(b"\x00 \r\n\t"))
    except ElementTree.ParseError as exc:
        meta.problems.append(f"XMP is invalid XML ({str(exc)[:60]})")
        return
    for elem in root.iter():
        items = [(_local(elem.tag), (elem.text or "").strip() or elem.get(_RDF_RESOURCE, ""))]
        items += [(_local(k), v) for k, v in elem.attrib.items() if k != _RDF_RESOURCE]
        for name, value in items:
            if not value:
                continue
            if name == "DigitalSourceType":
                meta.xmp_source_types.append(_clean(value))
            elif name == "CreatorTool" and meta.xmp_creator_tool is None:
                meta.xmp_creator_tool = _clean(value)
            elif name == "provenance" and meta.xmp_provenance_url is None:
                meta.xmp_provenance_url = _clean(value)

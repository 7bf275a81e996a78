"""A folder of good and hostile files, drawn by the tests themselves (no data set is committed)."""
from __future__ import annotations

import os
import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

import model.imageio  # noqa: F401  (registers the HEIC opener and encoder)
from conftest import noise_image, save_image


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims a huge size: the decompression-bomb case."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def heic_claiming_size(path: Path, width: int, height: int) -> Path:
    """A small HEIC whose image-size box (ispe) claims ``width`` x ``height``: the bomb case for libheif."""
    noise_image(64, 64).save(path, "HEIF", quality=80)  # no clean-aperture crop to shrink the claim
    data = bytearray(path.read_bytes())
    box = data.index(b"ispe")  # box type, then version/flags (4 bytes), then width and height
    data[box + 8:box + 16] = struct.pack(">II", width, height)
    path.write_bytes(bytes(data))
    return path


def rotated_image(path: Path) -> Path:
    """60x40 stored, left half red and right half blue, EXIF orientation 6 (shown rotated 90 degrees
    clockwise). The format follows the suffix: .jpg, .heic (pillow-heif turns the tag into HEIF's own
    rotation), .avif (Pillow's own plugin does the same)."""
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :30] = (255, 0, 0)
    pixels[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    return path


def truncated(path: Path, fmt: str) -> Path:
    """The first half of a good file: a download cut short."""
    buffer = BytesIO()
    noise_image(200, 150).save(buffer, fmt, quality=90)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def make_mixed_folder(root: Path) -> dict[str, bool]:
    """Create the corpus under ``root``; return {relative path: should it score (True) or be an error row}."""
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, bool] = {}

    def good(name, **kw):
        save_image(root / name, seed=len(expected), **kw)
        expected[name] = True

    def bad(name, data: bytes):
        (root / name).write_bytes(data)
        expected[name] = False

    good("photo.jpg", width=120, height=90, quality=90)
    good("render.png", width=80, height=80)
    good("cmyk.jpg", mode="CMYK", quality=90)
    good("palette.png", mode="P", transparency=0)
    good("unicode ünï 画像 space.jpg", quality=85)
    good("nested/deeper/small.webp", width=40, height=30)
    good("x.jpg/inside.png")  # a folder whose name looks like an image

    sixteen = (np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "sixteen_bit.png")  # mode I;16, a 16-bit greyscale PNG
    expected["sixteen_bit.png"] = True

    frames = [noise_image(48, 48, seed=s) for s in range(3)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    expected["animated.gif"] = True

    good("phone.heic", width=120, height=90, quality=80)  # iPhones save HEIC by default
    good("web.avif", width=100, height=70, quality=80)  # much of the web serves AVIF
    for name in ("rotated.jpg", "rotated.heic"):
        rotated_image(root / name)
        expected[name] = True

    for name, fmt in (("truncated.jpg", "JPEG"), ("truncated.png", "PNG"), ("truncated.heic", "HEIF")):
        truncated(root / name, fmt)
        expected[name] = False
    bad("empty.jpg", b"")
    bad("notes.jpg", b"this is a text file, not a JPEG\n")
    png_header_only(root / "bomb.png", 30000, 30000)
    heic_claiming_size(root / "bomb.heic", 20000, 20000)
    expected["bomb.png"] = expected["bomb.heic"] = False

    os.symlink(root, root / "nested" / "loop")  # a folder symlink loop must not hang the walk
    os.symlink("link_b.png", root / "link_a.png")  # a file symlink loop: each link is one error row
    os.symlink("link_a.png", root / "link_b.png")
    expected["link_a.png"] = expected["link_b.png"] = False
    return expected

"""`make fuzz`: mutated files of every format the loader accepts, scanned headless through the engine.

Valid seed images of every suffix in model.files.IMAGE_SUFFIXES that Pillow (with pillow-heif) can
write are mutated with a fixed seed: bit flips, truncations, integer edits in the header,
chunk/segment/box length edits (PNG, JPEG, RIFF, ISO-BMFF), splices of two formats, and size bombs
(dimensions rewritten to huge values, and real images just under Pillow's bomb limit). The scan
then runs as `convitx scan` does (provenance on) and prints: files, rows, decoder crashes and hangs
(each an error row), the slowest files and peak memory. The scan itself must not die.

    python tests/fuzz.py --files 10000 --out fuzz-out      # what `make fuzz` runs
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import struct
import sys
import time
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.files import IMAGE_SUFFIXES  # noqa: E402
import model.imageio  # noqa: E402,F401  (registers the HEIF opener and writer)

INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
HUGE_SIDES = (65535, 30000, 20000, 100000, 1 << 24)
MUTATIONS = ("flip", "truncate", "header_int", "length_field", "splice", "dimension_bomb")


@dataclass
class Seed:
    suffix: str
    data: bytes


def seed_images(rng: np.random.Generator) -> list[Seed]:
    """Small valid files, several per suffix: different sizes, modes and encoder options."""
    extensions = Image.registered_extensions()
    seeds = []
    for suffix in sorted(IMAGE_SUFFIXES):
        fmt = extensions.get(suffix)
        if fmt not in Image.SAVE:
            print(f"fuzz: no writer for {suffix}, skipped", file=sys.stderr)
            continue
        for width, height, mode, options in _variants(fmt):
            image = _texture(rng, width, height, mode)
            buffer = io.BytesIO()
            try:
                image.save(buffer, fmt, **options)
            except (OSError, ValueError, KeyError, TypeError):  # a mode this writer refuses
                continue
            seeds.append(Seed(suffix, buffer.getvalue()))
    return seeds


def _variants(fmt: str) -> list[tuple[int, int, str, dict]]:
    base = [(64, 48, "RGB", {}), (17, 13, "L", {}), (1, 1, "RGB", {}), (300, 200, "RGBA", {})]
    extra = {
        "JPEG": [(120, 90, "RGB", {"progressive": True, "quality": 70}), (64, 64, "CMYK", {})],
        "PNG": [(80, 60, "P", {"optimize": True}), (40, 30, "I;16", {}), (50, 50, "RGB", {"interlace": 1})],
        "WEBP": [(64, 48, "RGB", {"lossless": True}), (64, 48, "RGBA", {"quality": 30})],
        "TIFF": [(64, 48, "RGB", {"compression": "tiff_deflate"}), (64, 48, "RGB", {"compression": "jpeg"}),
                 (33, 21, "1", {"compression": "group4"})],
        "GIF": [(48, 48, "P", {})],
        "PPM": [(20, 10, "1", {})],
    }
    return base + extra.get(fmt, [])


def _texture(rng: np.random.Generator, width: int, height: int, mode: str) -> Image.Image:
    pixels = rng.integers(0, 256, (max(1, height // 4), max(1, width // 4), 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize((width, height)))
    return image if mode in ("RGB", "RGBA") else image.convert(mode)


def near_limit_images() -> list[Seed]:
    """Real images just under Pillow's decompression-bomb error (2x MAX_IMAGE_PIXELS): they decode,
    so they measure the time and memory a huge but legal file costs. Flat colour, so the files are small."""
    side = int((Image.MAX_IMAGE_PIXELS * 1.9) ** 0.5)
    seeds = []
    for fmt, suffix, options in (("PNG", ".png", {"compress_level": 9}), ("GIF", ".gif", {}),
                                 ("TIFF", ".tif", {"compression": "tiff_deflate"}), ("JPEG", ".jpg", {"quality": 50})):
        buffer = io.BytesIO()
        Image.new("L" if fmt != "JPEG" else "RGB", (side, side), 128).save(buffer, fmt, **options)
        seeds.append(Seed(suffix, buffer.getvalue()))
    return seeds


# --- mutations: each takes the bytes and the random generator, returns new bytes -----------------

def flip(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 17))):
        # half the flips land in the first 256 bytes, where the headers are
        limit = min(len(out), 256) if rng.random() < 0.5 else len(out)
        out[int(rng.integers(0, limit))] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(1, max(2, len(data))))]


def header_int(data: bytes, rng) -> bytes:
    offset = int(rng.integers(0, max(1, min(len(data) - 4, 64))))
    return _put_int(data, offset, int(rng.choice([2, 4])), rng.random() < 0.5, int(rng.choice(INTERESTING)))


def length_field(data: bytes, rng) -> bytes:
    fields = _length_fields(data)
    if not fields:
        return header_int(data, rng)
    offset, size, big = fields[int(rng.integers(0, len(fields)))]
    current = int.from_bytes(data[offset:offset + size], "big" if big else "little")
    value = int(rng.choice(INTERESTING + (current + 1, max(0, current - 1), current * 2)))
    return _put_int(data, offset, size, big, value)


def splice(data: bytes, rng, other: bytes) -> bytes:
    """The start of this file and the rest of another (often another format's)."""
    cut = int(rng.integers(1, max(2, len(data))))
    return data[:cut] + other[int(rng.integers(0, max(1, len(other)))):]


def dimension_bomb(data: bytes, rng) -> bytes:
    """Width and height rewritten to huge values where the format keeps them."""
    width, height = (int(rng.choice(HUGE_SIDES)) for _ in range(2))
    if data.startswith(b"\x89PNG") and len(data) > 33:
        ihdr = struct.pack(">II", width, height) + data[24:29]
        return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]
    if data.startswith(b"GIF") and len(data) > 10:
        return data[:6] + struct.pack("<HH", width & 0xFFFF, height & 0xFFFF) + data[10:]
    if data.startswith(b"BM") and len(data) > 26:
        return data[:18] + struct.pack("<ii", width, height) + data[26:]
    if data.startswith(b"\xff\xd8"):
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            at = data.find(marker)
            if at > 0 and len(data) > at + 9:
                return data[:at + 5] + struct.pack(">HH", height & 0xFFFF, width & 0xFFFF) + data[at + 9:]
    at = data.find(b"ispe")  # HEIF/AVIF image size box: version/flags, then width, height
    if at > 0 and len(data) > at + 16:
        return data[:at + 8] + struct.pack(">II", width, height) + data[at + 16:]
    return header_int(data, rng)


def _put_int(data: bytes, offset: int, size: int, big: bool, value: int) -> bytes:
    if offset + size > len(data):
        return data
    encoded = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big" if big else "little")
    return data[:offset] + encoded + data[offset + size:]


def _length_fields(data: bytes) -> list[tuple[int, int, bool]]:
    """(offset, size, big-endian) of chunk, segment or box lengths in PNG, JPEG, RIFF and ISO-BMFF files."""
    fields = []
    if data.startswith(b"\x89PNG"):
        at = 8
        while at + 8 <= len(data) and len(fields) < 64:
            fields.append((at, 4, True))
            at += 12 + int.from_bytes(data[at:at + 4], "big")
    elif data.startswith(b"\xff\xd8"):
        at = 2
        while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] not in (0xD9, 0xDA) and len(fields) < 64:
            fields.append((at + 2, 2, True))
            at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    elif data.startswith(b"RIFF"):
        fields.append((4, 4, False))
        at = 12
        while at + 8 <= len(data) and len(fields) < 64:
            fields.append((at + 4, 4, False))
            size = int.from_bytes(data[at + 4:at + 8], "little")
            at += 8 + size + (size & 1)
    elif data[4:8] in (b"ftyp", b"jP  ") or data[:4] == b"\x00\x00\x00\x0c":
        at = 0
        while at + 8 <= len(data) and len(fields) < 64:
            fields.append((at, 4, True))
            size = int.from_bytes(data[at:at + 4], "big")
            at += size if size >= 8 else len(data)
    return fields


def write_corpus(out: Path, count: int, seed: int = 14, near_limit: bool = True) -> list[Path]:
    """``count`` mutated files under ``out``, the same ones for the same ``seed``."""
    rng = np.random.default_rng(seed)
    seeds = seed_images(rng)
    bombs = near_limit_images() if near_limit else []
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, bomb in enumerate(bombs):
        paths.append(out / f"{index:05d}_near_limit{bomb.suffix}")
        paths[-1].write_bytes(bomb.data)
    for index in range(len(bombs), count):
        base = seeds[index % len(seeds)]
        mutation = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
        if mutation == "splice":
            data = splice(base.data, rng, seeds[int(rng.integers(0, len(seeds)))].data)
        else:
            data = globals()[mutation](base.data, rng)
        if rng.random() < 0.2:  # sometimes a second mutation on top
            data = flip(data, rng)
        paths.append(out / f"{index:05d}_{mutation}{base.suffix}")
        paths[-1].write_bytes(data)
    return paths


@dataclass
class FuzzReport:
    files: int
    rows: int
    scored: int
    crashes: int
    hangs: int
    slowest: list[tuple[float, str]]  # (seconds, file name), slowest first
    peak_rss_mb: float  # the scanning process
    peak_decoder_rss_mb: float  # the largest decoder process
    seconds: float
    reasons: Counter

    def lines(self) -> list[str]:
        top = ", ".join(f"{reason[:60]} ({n})" for reason, n in self.reasons.most_common(5))
        return [f"files: {self.files}", f"rows: {self.rows} ({self.scored} scored, {self.rows - self.scored} error rows)",
                f"crashes: {self.crashes} (decoder processes that died; each one error row)",
                f"hangs: {self.hangs} (decodes stopped at the time limit; each one error row)",
                "slowest files: " + ", ".join(f"{seconds:.2f} s ({name})" for seconds, name in self.slowest),
                f"peak RSS: {self.peak_rss_mb:.0f} MB scanning process, {self.peak_decoder_rss_mb:.0f} MB largest decoder process",
                f"time: {self.seconds:.0f} s", f"most common error rows: {top}"]


def scan(paths: list[Path], model: str | None = None, batch_size: int = 8, provenance: bool = True) -> FuzzReport:
    """Scan ``paths`` as `convitx scan` does and count what happened."""
    from model.columns import provenance_columns
    from model.decoding import CRASHED
    from model.engine import Detector

    started = time.monotonic()
    detector = Detector.from_file(model, device="cpu", batch_size=batch_size)
    results = list(detector.scan(paths, annotate=provenance_columns if provenance else None))
    stats = detector.decode_stats
    detector.close()  # joins the decoder processes, so their peak memory is counted below
    errors = [r.error for r in results if not r.ok]
    return FuzzReport(
        files=len(paths), rows=len(results), scored=len(results) - len(errors),
        crashes=sum(e == CRASHED for e in errors), hangs=sum(e.startswith("decoding timed out") for e in errors),
        slowest=[(seconds, Path(path).name) for seconds, path in stats.slowest],
        peak_rss_mb=_max_rss_mb(resource.RUSAGE_SELF), peak_decoder_rss_mb=_max_rss_mb(resource.RUSAGE_CHILDREN),
        seconds=time.monotonic() - started, reasons=Counter(errors))


def _max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--out", default=str(ROOT / "fuzz-out"), help="where the mutated files go")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--model", default=None, help="checkpoint (default: the built-in model)")
    args = parser.parse_args(argv)
    # Pillow warns about every damaged tag it skips; thousands of those would bury the report.
    warnings.simplefilter("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"  # the decoder processes inherit it
    out = Path(args.out)
    for old in out.glob("*") if out.is_dir() else ():
        old.unlink()
    paths = write_corpus(out, args.files, args.seed)
    print(f"fuzz: {len(paths)} files in {out} (seed {args.seed}); scanning", file=sys.stderr, flush=True)
    report = scan(paths, args.model)
    print("\n".join(report.lines()), flush=True)
    ok = report.rows == report.files and not report.crashes and not report.hangs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

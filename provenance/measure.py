"""Measure the copy history's JPEG checks; prints the Markdown tables of docs/copy-history.md.

    python -m provenance.measure                      # quality estimate only (generated images)
    python -m provenance.measure --photos DIR [DIR…]  # also double-save and blocking rates on photos

Quality: Pillow saves at every quality from 30 to 100 (libjpeg's standard tables), and "own" tables
made by moving each step of libjpeg's table by up to ±12% (as a camera's or a platform's differ);
the error is |estimate - quality saved at|. Photos: each is shrunk to 2/3 first (which erases any
earlier JPEG grid), then saved once or twice (Pillow) and read back as the scan's decoder does.
"""
from __future__ import annotations

import argparse
import io
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from .copy_history import read_copy_history
from .jpeg_tables import IJG_LUMA, estimate_quality, ijg_table

BANDS = ((30, 49), (50, 69), (70, 84), (85, 94), (95, 100))
SINGLE = (50, 70, 85, 90, 95)
DOUBLE = ((60, 50), (60, 70), (75, 70), (75, 85), (95, 85), (95, 90))  # (first, second) quality
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _encoded(image: Image.Image, fmt: str, **options) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return buffer


def _reopened(image: Image.Image, fmt: str, **options) -> Image.Image:
    return Image.open(_encoded(image, fmt, **options))


def _history(image: Image.Image, fmt: str, **options) -> dict:
    """The copy history of ``image`` saved as ``fmt``, from its full decode (as the scan's decoder)."""
    buffer = _encoded(image, fmt, **options)
    with Image.open(buffer) as decoded:
        pixels = decoded.convert("RGB")
    buffer.seek(0)
    return read_copy_history(buffer, pixels)


def quality_table() -> str:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    standard, own = defaultdict(list), defaultdict(list)
    for quality in range(30, 101):
        band = next(b for b in BANDS if b[0] <= quality <= b[1])
        standard[band].append(abs(_history(image, "JPEG", quality=quality)["jpeg_quality"] - quality))
        for seed in range(20):
            moved = ijg_table(IJG_LUMA, quality) * np.random.default_rng([quality, seed]).uniform(0.88, 1.12, 64)
            table = np.clip(np.round(moved), 1, 255).astype(int).tolist()
            own[band].append(abs(estimate_quality({0: table}).quality - quality))
    lines = ["| quality saved at | standard tables: mean / max error | own tables (±12%): mean / max error |",
             "|---|---|---|"]
    for band in BANDS:
        s, o = np.array(standard[band]), np.array(own[band])
        lines.append(f"| {band[0]}–{band[1]} | {s.mean():.2f} / {s.max()} ({len(s)} files) "
                     f"| {o.mean():.2f} / {o.max()} ({len(o)} tables) |")
    return "\n".join(lines)


def photo_tables(folders: list[Path], limit: int) -> str:
    files = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)[:limit]
    double = defaultdict(list)  # case -> double_jpeg answers
    blocking = defaultdict(list)  # 'PNG' or quality -> blocking found
    for path in files:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        image = image.resize((image.width * 2 // 3, image.height * 2 // 3), Image.Resampling.BICUBIC)
        if min(image.size) < 64:
            continue
        blocking["never JPEG"].append(_history(image, "PNG")["blocking"])
        for quality in SINGLE:
            double[f"once at {quality}"].append(_history(image, "JPEG", quality=quality)["double_jpeg"])
            blocking[f"JPEG q{quality}, then PNG"].append(
                _history(_reopened(image, "JPEG", quality=quality).convert("RGB"), "PNG")["blocking"])
        for first, second in DOUBLE:
            again = _reopened(image, "JPEG", quality=first).convert("RGB")
            double[f"at {first}, then {second}"].append(_history(again, "JPEG", quality=second)["double_jpeg"])
    lines = [f"{len(blocking['never JPEG'])} photos.", "",
             "| saved | 'signs' | 'none seen' | not checked |", "|---|---|---|---|"]
    for case, answers in double.items():
        lines.append(f"| {case} | {answers.count('signs')} | {answers.count('none seen')} | {answers.count('')} |")
    lines += ["", "| PNG made from | blocking found |", "|---|---|"]
    lines += [f"| {case} | {sum(found)} of {len(found)} |" for case, found in blocking.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provenance.measure", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="*", type=Path, default=[], metavar="DIR")
    parser.add_argument("--limit", type=int, default=60, help="photos used at most (default 60)")
    args = parser.parse_args(argv)
    print(quality_table())
    if args.photos:
        print()
        print(photo_tables(args.photos, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())

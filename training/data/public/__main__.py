"""``python -m training.data.public --out data/public``: gather the human images, the optional Real-ESRGAN
pairs and the backbones, then write MANIFEST.tsv and TRANSFORMS.tsv (the package's docstring says what)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional

from . import __doc__ as DESCRIPTION
from .backbones import LITE0, LITE1, animal_photos, convert_backbones
from .collect import TOTAL_REAL_CAP, collect_real
from .esrgan_pairs import make_esrgan_pairs
from .images import JPEG_QUALITY, MANIFEST_COLUMNS, MAX_LONG_SIDE, TRANSFORM_COLUMNS
from .packages import DataError


def write_tsv(path: Path, header: list, rows: list) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write("\t".join(header) + "\n")
        for r in rows:
            fh.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in r) + "\n")
    os.replace(tmp, path)


def _prune(out: Path, keep: set) -> int:
    removed = 0
    for top in ("real", "ai"):
        root = out / top
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.relative_to(out).as_posix() not in keep:
                p.unlink()
                removed += 1
        for d in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    return removed


def _du(path: Path, skip: str = ".cache") -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and skip not in p.relative_to(path).parts)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.public", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/public"), help="output folder (default data/public)")
    ap.add_argument("--esrgan-photos", type=int, default=32,
                    help="real photos to turn into Real-ESRGAN x4plus pairs (0: none)")
    ap.add_argument("--esrgan-art", type=int, default=24,
                    help="real artworks to turn into Real-ESRGAN animevideov3 pairs (0: none)")
    ap.add_argument("--esrgan-timeout", type=int, default=900, help="seconds for the Real-ESRGAN step")
    ap.add_argument("--no-esrgan", action="store_true", help="skip the optional Real-ESRGAN step")
    ap.add_argument("--no-backbones", action="store_true", help="skip the EfficientNet-Lite conversion")
    args = ap.parse_args(argv)

    t0 = time.time()
    out: Path = args.out
    cache = out / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        seen: set = set()
        real_rows, _ = collect_real(out, cache, seen, TOTAL_REAL_CAP)
        ai_rows: list = []
        if not args.no_esrgan:
            ai_rows = make_esrgan_pairs(out, cache, real_rows, args.esrgan_photos, args.esrgan_art,
                                        args.esrgan_timeout)
        if not args.no_backbones:
            convert_backbones(out, cache, ((LITE0, "tf_efficientnet_lite0"), (LITE1, "tf_efficientnet_lite1")),
                              animal_photos(out, real_rows))
    except DataError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2

    rows = real_rows + ai_rows
    write_tsv(out / "MANIFEST.tsv", MANIFEST_COLUMNS, [r.manifest() for r in rows])
    write_tsv(out / "TRANSFORMS.tsv", TRANSFORM_COLUMNS,
               [[r.relpath, r.transform, *r.orig] for r in rows])
    removed = _prune(out, {r.relpath for r in rows})

    table: dict = {}
    for r in rows:
        key = (r.source_slug, r.label, r.kind)
        table[key] = table.get(key, 0) + 1
    w = max(len(k[0]) for k in table) if table else 10
    print()
    print(f"{'source':<{w}}  label  kind       count")
    for (src, label, kind), n in table.items():
        print(f"{src:<{w}}  {label:<5}  {kind:<9}  {n:>5}")
    n_real = sum(r.label == "real" for r in rows)
    n_down = sum(r.transform != "copy" and r.label == "real" for r in rows)
    print(f"total: {len(rows)} images ({n_real} real, {len(rows) - n_real} ai; "
          f"{n_down} real ones downscaled to {MAX_LONG_SIDE}px JPEG q{JPEG_QUALITY}); "
          f"{_du(out) / 1e6:.1f} MB in {out} without .cache"
          + (f"; removed {removed} stale files" if removed else ""))
    print(f"manifest: {out / 'MANIFEST.tsv'}; runtime {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

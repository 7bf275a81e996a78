"""A tiny drawn data set for tests and smoke checks of the pipeline (no download).

'ai' images carry a periodic high-frequency pattern over smooth colour; 'real' images are smooth
colour only. Both classes come as PNG and JPEG in several sizes and from several "sources", so
neither format nor size gives the label away. ``python -m training.data.synthetic OUT`` writes one
with a MANIFEST.tsv; train on it with ``--preset convitx_test`` to check a setup in seconds.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MANIFEST_COLUMNS = ["label", "kind", "generator_or_source", "repo", "commit", "path_in_repo", "width", "height",
                    "bytes", "relpath"]


def smooth_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    coarse = rng.integers(30, 226, (height // 12 + 2, width // 12 + 2, 3), dtype=np.uint8)
    image = Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def patterned_image(rng: np.random.Generator, width: int, height: int, period: int) -> np.ndarray:
    base = smooth_image(rng, width, height)
    y, x = np.mgrid[0:height, 0:width]
    phase = rng.integers(0, period)
    pattern = np.where(((x + y + phase) // max(1, period // 2)) % 2 == 0, 1.0, -1.0)
    return base + 28.0 * pattern[..., None]


def make_synthetic_dataset(root: str | Path, per_source: int = 6, ai_sources: int = 3, real_sources: int = 3,
                           seed: int = 0, sizes: tuple[int, int] = (40, 88)) -> Path:
    """Write the images and ``root/MANIFEST.tsv``; returns the manifest's path."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    plan = [("ai", f"generator-{i}", i) for i in range(ai_sources)] + \
           [("real", f"camera-{i}", i) for i in range(real_sources)]
    for label, source, k in plan:
        folder = root / label / source
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_source):
            width, height = (int(v) for v in rng.integers(sizes[0], sizes[1] + 1, 2))
            if label == "ai":
                pixels = patterned_image(rng, width, height, period=2 + 2 * (k % 2))
            else:
                pixels = smooth_image(rng, width, height)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
            fmt = "png" if n % 2 == 0 else "jpg"
            relpath = f"{label}/{source}/{n:03d}.{fmt}"
            if fmt == "jpg":
                image.save(root / relpath, quality=95)
            else:
                image.save(root / relpath)
            rows.append({"label": label, "kind": "generated" if label == "ai" else ("art" if k == 0 else "photo"),
                         "generator_or_source": source, "repo": "synthetic", "commit": "", "path_in_repo": relpath,
                         "width": width, "height": height, "bytes": (root / relpath).stat().st_size,
                         "relpath": relpath})
    manifest = root / "MANIFEST.tsv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write")
    parser.add_argument("--per-source", type=int, default=6)
    parser.add_argument("--sources", type=int, default=3, help="sources per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = make_synthetic_dataset(args.out, args.per_source, args.sources, args.sources, args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

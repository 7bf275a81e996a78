"""The three tiers every image is judged in, both classes alike: what users bring, not only files as saved.

*clean* is the file. *web* is what a site or messaging app makes of it: the longer side brought to
768-1600 px by a random filter, then JPEG q60-90 or WebP q60-90. *hard* is a small, heavily
compressed copy: the longer side at most 512 px, then JPEG q35-60, or a PNG "screenshot" of the
resized copy. A detector that learned "pristine camera JPEG = human" calls every laundered human
image AI; folds that never show one cannot see it, so every evaluation scores all three.

A tier is a pure function of the file, its path and the seed: the same images every run.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model.imageio import load_image

TIERS = ("clean", "web", "hard")
FILTERS = (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS, Image.Resampling.BOX)
SUFFIX = {"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png"}


@dataclass(frozen=True)
class Laundering:
    """What one tier did to one image (for reports and the reliability figures)."""

    long_side: int
    filter: str
    format: str
    quality: int | None


def tier_rng(key: str, tier: str, seed: int) -> np.random.Generator:
    digest = int(hashlib.sha1(f"{key}\0{tier}".encode("utf-8")).hexdigest()[:12], 16)
    return np.random.default_rng([seed, digest])


def pair_keys(samples) -> dict[str, str]:
    """Laundering keys of aligned pairs: files of one manifest with the same name under both labels
    (training/data/aligned_pairs.py writes ai/NAME and real/NAME) share one key."""
    labels: dict[tuple[str, str], set[int]] = {}
    for s in samples:
        labels.setdefault((s.origin, os.path.basename(s.path)), set()).add(s.label)
    return {s.path: f"aligned pair {os.path.basename(s.path)}" for s in samples
            if len(labels[(s.origin, os.path.basename(s.path))]) == 2}


def _shrink(image: Image.Image, long_side: int, resample: Image.Resampling) -> Image.Image:
    """Longer side to ``long_side`` when larger (sites shrink, they do not enlarge)."""
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, resample, reducing_gap=3.0)


def launder_image(image: Image.Image, tier: str, rng: np.random.Generator) -> tuple[bytes, Laundering]:
    """The encoded file of ``image`` (RGB, EXIF orientation applied) in ``tier`` ('web' or 'hard')."""
    resample = FILTERS[int(rng.integers(len(FILTERS)))]
    if tier == "web":
        long_side = int(rng.integers(768, 1601))
        fmt = "WEBP" if rng.random() < 0.2 else "JPEG"
        quality = int(rng.integers(60, 91))
    elif tier == "hard":
        long_side = int(rng.integers(320, 513))
        fmt = "PNG" if rng.random() < 1 / 3 else "JPEG"
        quality = None if fmt == "PNG" else int(rng.integers(35, 61))
    else:
        raise ValueError(f"launder_image makes 'web' or 'hard', not {tier!r}")
    small = _shrink(image, long_side, resample)
    buffer = io.BytesIO()
    if fmt == "PNG":
        small.save(buffer, format="PNG", compress_level=1)
    elif fmt == "WEBP":
        small.save(buffer, format="WEBP", quality=quality, method=0)
    else:
        small.save(buffer, format="JPEG", quality=quality, subsampling=2)
    return buffer.getvalue(), Laundering(max(small.size), resample.name.lower(), fmt, quality)


def tier_files(path: str | os.PathLike, seed: int, folder: str | os.PathLike,
               key: str | None = None) -> dict[str, tuple[str, Laundering | None]]:
    """``path`` in every tier: the file itself for 'clean', laundered copies (one decode) written into
    ``folder`` for the others, so each is scored through the app's own decoding like a dropped file.
    The draws follow ``key`` (default: the path): an aligned pair's two files share one, so that the
    real and the generated image are resized and re-compressed alike."""
    path = str(path)
    image = load_image(path).image
    files: dict[str, tuple[str, Laundering | None]] = {"clean": (path, None)}
    for tier in TIERS[1:]:
        data, how = launder_image(image, tier, tier_rng(key or path, tier, seed))
        name = hashlib.sha1(f"{path}\0{tier}\0{seed}".encode("utf-8")).hexdigest()[:16] + SUFFIX[how.format]
        out = os.path.join(folder, name)
        with open(out, "wb") as handle:
            handle.write(data)
        files[tier] = (out, how)
    return files

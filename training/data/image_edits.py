"""What happens to an image on its way to a user: a rescale by a named filter and codec round trips.

The training views (recipes/augment.py) draw them at random; the evaluation's robustness rows
(evaluation/evaluate.py) apply one on purpose, so both change images the same way.
"""
from __future__ import annotations

import io

from PIL import Image

RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
              "lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX}


def resize_by(image: Image.Image, factor: float, resample: str = "bicubic") -> Image.Image:
    """Scale both sides by ``factor`` (anti-aliased ``resample`` filter), at least 1 px."""
    size = (max(1, round(image.size[0] * factor)), max(1, round(image.size[1] * factor)))
    if size == image.size:
        return image
    return image.resize(size, RESAMPLING[resample], reducing_gap=None if factor > 1 else 3.0)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def jpeg_roundtrip(image: Image.Image, quality: int, subsampling: int = 2) -> Image.Image:
    """Re-encode as JPEG (``subsampling`` 0 = 4:4:4, 2 = 4:2:0) and decode again."""
    return decode(encode(image, "JPEG", quality=int(quality), subsampling=subsampling))


def webp_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    return decode(encode(image, "WEBP", quality=int(quality), method=0))


def png_roundtrip(image: Image.Image) -> Image.Image:
    return decode(encode(image, "PNG", compress_level=1))

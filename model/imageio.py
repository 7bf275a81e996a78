"""Open any image file as RGB, or fail with one clear sentence. Shared by the CLI, the app and training."""
from __future__ import annotations

import errno
import math
import os
import re
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Callable

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from .jpeg_rows import TRANSPOSE, Box, stored_box, top_rows

# HEIC/HEIF (phone photos) through libheif, registered here so the CLI, the app, training and the bundle
# all read them. pillow-heif applies the file's rotation while decoding and resets its EXIF orientation
# to 1, so sizes and pixels come out as a viewer shows them. AVIF is Pillow's own plugin (Pillow >= 11.3
# wheels carry libavif; pillow-heif 1.x no longer reads AVIF).
pillow_heif.register_heif_opener()

# Transparent pixels are composited on this colour, so a cut-out scores the same everywhere.
BACKGROUND = (255, 255, 255)
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_EXIF_ORIENTATION = 0x0112


class ImageLoadError(Exception):
    """An image that cannot be scored; the message is shown to the user as the row's reason."""


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied, possibly decoded at reduced scale
    width: int  # full-resolution size after orientation, as a viewer shows it
    height: int
    format: str
    box: Box | None = None  # where ``image`` lies in the whole picture, when it is only a part of it


# The part of an image (as shown, after the EXIF rotation) a caller needs, from its full size; None: all of it.
Region = Callable[[tuple[int, int]], "Box | None"]


def load_image(path: str | os.PathLike, min_short_side: int | None = None, region: Region | None = None) -> DecodedImage:
    """Decode ``path`` to RGB. With ``min_short_side``, JPEGs may decode at 1/2..1/8 scale (DCT draft)
    as long as the shorter side stays at least that long: the preprocessing would shrink them anyway.
    With ``region``, a JPEG whose region ends above its last rows is decoded only down to it
    (model/jpeg_rows.py) and ``image`` is just that region, at ``box``; other files decode whole."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageLoadError("this is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageLoadError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                part = _decode_part(path, image, region) if region else None
                return part or _decode(image, min_short_side)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"image is too large to open safely ({_bomb_size(exc)}); "
                             f"the limit is {Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels") from None
    except UnidentifiedImageError:
        if _claims_a_format(path):  # e.g. a cut-short AVIF: its plugin refuses it while opening
            raise ImageLoadError("file is truncated or damaged") from None
        raise ImageLoadError("not an image, or a format this app cannot read") from None
    except FileNotFoundError:
        raise ImageLoadError("file not found (moved or deleted?)") from None
    except PermissionError:
        raise ImageLoadError("permission denied: the file cannot be read") from None
    except MemoryError:
        raise ImageLoadError("not enough memory to decode this image") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageLoadError("symbolic link loop") from None
        if _is_truncated(exc):
            raise ImageLoadError("file is truncated or damaged") from None
        raise ImageLoadError(f"could not read the file: {exc.strerror or exc}") from None
    except Exception as exc:  # Pillow's decoders raise many types on hostile input
        if _is_truncated(exc):
            raise ImageLoadError("file is truncated or damaged") from None
        raise ImageLoadError(f"damaged or unsupported image ({type(exc).__name__}: {exc})") from None


def _decode(image: Image.Image, min_short_side: int | None) -> DecodedImage:
    fmt = image.format or "unknown"
    image.seek(0)  # first frame of animations
    width, height = image.size
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    if orientation in _SWAPS_AXES:
        width, height = height, width
    if min_short_side and scales_on_decode(fmt):
        scale = min_short_side / min(width, height)
        if scale < 1:
            image.draft(image.mode, (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
    image.load()
    image = ImageOps.exif_transpose(image)
    return DecodedImage(image=to_rgb(image), width=width, height=height, format=fmt)


def scales_on_decode(fmt: str) -> bool:
    """Whether ``min_short_side`` may change how a file of format ``fmt`` decodes (only JPEG's DCT draft):
    other files decode the same whatever is asked, and one decode can serve two uses."""
    return fmt == "JPEG"


def _decode_part(path: Path, image: Image.Image, region: Region) -> DecodedImage | None:
    """Only the rows of a JPEG that ``region`` reaches, cut to it; None when the whole file must be decoded."""
    if image.format not in ("JPEG", "MPO"):
        return None
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)  # a JPEG's EXIF comes before its pixels
    swapped = orientation in _SWAPS_AXES
    width, height = (image.height, image.width) if swapped else image.size
    box = region((width, height))
    if box is None:
        return None
    cut = stored_box(box, orientation, image.size)
    data = top_rows(path.read_bytes(), cut[3])
    if data is None:
        return None
    with Image.open(BytesIO(data)) as rows:
        if rows.mode != image.mode or rows.width != image.width or rows.height < cut[3]:
            return None
        part = rows.crop(cut)
    method = TRANSPOSE.get(orientation)
    part = part.transpose(method) if method is not None else part
    return DecodedImage(image=to_rgb(part), width=width, height=height, format=image.format, box=box)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit and float scaled, alpha composited on BACKGROUND."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if values.max(initial=0) > 255 else 255.0
        gray = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "LA", "La", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _is_truncated(exc: Exception) -> bool:
    """Pillow says "truncated"/"broken data stream" (an OSError); libheif "Unexpected end of file" (a ValueError)."""
    return any(words in str(exc) for words in ("truncated", "broken data stream", "Unexpected end of file"))


def _claims_a_format(path: Path) -> bool:
    """Whether the file starts like an image format Pillow knows (its plugins' own signature checks)."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(16)  # as much as Image.open shows the checks
    except OSError:
        return False
    Image.init()
    return any(accept and accept(prefix) for _, accept in Image.OPEN.values())


def _bomb_size(exc: Exception) -> str:
    numbers = re.findall(r"\d+", str(exc))  # Pillow: "Image size (N pixels) exceeds limit of M pixels"
    return f"{int(numbers[0]) / 1e6:.0f} megapixels" if numbers else "too many pixels"
